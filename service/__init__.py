"""trackstack's demo service. ``create_app()`` only wires; logging is configured before it
(``trackstack.configure_logging``, which gunicorn's logger class calls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from service.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    # Imported here, not at module level: gunicorn's master imports this package (through
    # gunicorn.conf.py) before the gevent worker monkey-patches, and requests pulls in ssl.
    from flask import Flask

    from service import api, faults
    from service.config import Settings
    from trackstack.flask import Tracking

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
    Tracking(app, settings.tracking())
    faults.init_app(app)
    api.init_app(app)
    return app
