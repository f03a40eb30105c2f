"""The load driver: a mixed workload and a kill -9 crash against a real gunicorn,
run by `make load` (`python -m testing.load`) and, briefly, by the test suite."""
