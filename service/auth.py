"""The demo's login tokens: ``POST /api/login`` issues one, a later request sends it as
``Authorization: Bearer <token>`` and the handler puts the user on its lines with
``trackstack.set_user``. The token itself is never logged (``Authorization`` is redacted).

A token is ``<user, base64url>.<HMAC-SHA256 of the user under LOGIN_TOKEN_KEY, hex>``:
stateless, so every worker process accepts the tokens any other one issued, as long as they
share the key (gunicorn's master and uvicorn's manager set it for their workers).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MAX_TOKEN_CHARS = 512


def _signature(key: str, user: str) -> str:
    return hmac.new(key.encode(), user.encode(), hashlib.sha256).hexdigest()


def issue(key: str, user: str) -> str:
    """A token naming ``user``, signed with ``key``."""
    encoded = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(key, user)}"


def user_of(authorization: str | None, key: str) -> str | None:
    """The user an ``Authorization: Bearer <token>`` header names, or None when it is absent,
    not a bearer token, malformed or not signed with ``key``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    encoded, _, signature = token.partition(".")
    try:
        user = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(signature.encode(), _signature(key, user).encode()):
        return None
    return user
