"""The baseline: a bare Flask endpoint with a small JSON body.

Served by the same gunicorn.conf.py, worker count and class as authsvc
(`gunicorn -c gunicorn.conf.py bench.baseline:app`), so the ratio of authsvc's
throughput to this one's is the cost of authsvc itself.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/ping")
def ping():
    return {"status": "ok", "service": "baseline"}
