"""`make bench`: authsvc measured against a bare-Flask baseline in the same run."""
