"""The baseline for `make bench`: plain Flask, the same /api/health body, no middleware and
no app logging. Served with the same gunicorn settings as the service (bare_gunicorn.conf.py)."""

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get("/api/health")
    def health() -> tuple[dict[str, object], int]:
        data = {"status": "ok", "service": "trackstack-service"}
        return {"code": 200, "msg": "GET /api/health success", "data": data}, 200

    return app
