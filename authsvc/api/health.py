"""Blueprint `health`: liveness with a real database ping."""

from flask import current_app
from sqlalchemy import text

from ..extensions import db
from ..schemas.responses import HealthSchema
from . import Blueprint

blp = Blueprint("health", __name__, description="Service health")


@blp.route("/health", methods=["GET"])
@blp.response(200, HealthSchema, example={"status": "ok", "database": "ok"})
@blp.alt_response(
    503,
    schema=HealthSchema,
    description="The database is unreachable",
    example={"status": "error", "database": "unavailable"},
)
def health():
    """Report whether the service and its database answer"""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any driver error means the same thing: no database
        current_app.logger.warning("health check: database unavailable", exc_info=True)
        db.session.rollback()
        return {"status": "error", "database": "unavailable"}, 503
    return {"status": "ok", "database": "ok"}
