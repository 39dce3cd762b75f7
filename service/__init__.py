"""trackstack's demo service. ``create_app()`` only wires; logging is configured before it
(``service.logs.configure_logging``, which gunicorn's logger class calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from service.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    # Imported here, not at module level: gunicorn's master imports service.server (and so
    # this package) before the gevent worker monkey-patches, and requests pulls in ssl.
    from flask import Flask

    from service import api, debugging, faults, responses
    from service.config import Settings
    from service.redact import Redactor
    from service.responses import ResponseClock
    from service.tracking import TrackingMiddleware

    class SyncFlask(Flask):
        """Flask that skips its is-this-a-coroutine check on every view and hook call: this
        app has no async views, and the check is on the path of every request."""

        def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
            return func

    settings = settings or Settings.from_env()
    app = SyncFlask(__name__)
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["trackstack.redactor"] = Redactor(settings.redact_keys)
    responses.init_app(app)
    debugging.init_app(app)
    faults.init_app(app)
    api.init_app(app)
    app.wsgi_app = ResponseClock(  # type: ignore[method-assign]
        TrackingMiddleware(app.wsgi_app, settings.tracking_id_policy)
    )
    return app
