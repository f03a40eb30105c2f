"""Load and crash tests against a real gunicorn: `make load`, or `python -m tests.load`."""
