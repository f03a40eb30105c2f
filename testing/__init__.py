"""The harness that the tests and the benchmark share: a real gunicorn (live_server),
headless Chromium over the DevTools protocol (browser), a TCP proxy a test can take
down (tcp_proxy), throwaway databases (databases), a real SMTP server (smtp_sink),
the load driver (load), and the pytest plugin that keeps the suite's markers true
(markers).

Nothing here imports from tests/ or bench/; both import from here.
"""
