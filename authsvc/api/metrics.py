"""Blueprint `metrics`: Prometheus text format, registered only when `METRICS_ENABLED`."""

from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import metrics
from ..extensions import limiter
from . import Blueprint

blp = Blueprint("metrics", __name__, description="Prometheus metrics (when METRICS_ENABLED)")


@blp.route("/metrics", methods=["GET"])
@limiter.exempt
@blp.doc(
    responses={
        "200": {
            "description": "Every worker's metrics in Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
)
def scrape():
    """Prometheus metrics of all workers"""
    return Response(metrics.render(), content_type=CONTENT_TYPE_LATEST)
