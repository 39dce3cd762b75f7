"""The baseline for `make bench`: plain Flask, the same /api/health and /api/names bodies, no
middleware and no app logging (gunicorn's text access line is its only line).
Served with the same gunicorn settings as the service (bare_gunicorn.conf.py)."""

from flask import Flask

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


def create_app() -> Flask:
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get("/api/health")
    def health() -> tuple[dict[str, object], int]:
        data = {"status": "ok", "service": "trackstack-service"}
        return {"code": 200, "msg": "GET /api/health success", "data": data}, 200

    @app.get("/api/names")
    def names() -> tuple[dict[str, object], int]:
        return {"code": 200, "msg": "GET /api/names success", "data": NAMES}, 200

    return app
