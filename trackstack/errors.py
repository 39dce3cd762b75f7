"""Which exceptions are the client's fault, whatever server raised them.

A body that ends early, malformed chunked encoding: the server raises these from inside the
application while it reads the body. They are answered 400 with a WARNING, not 500 with an
ERROR. Adapters register their server's classes (``trackstack.gunicorn`` adds gunicorn's);
the core imports no server.
"""

from __future__ import annotations


class IncompleteBody(EOFError):
    """The request body ended before the Content-Length the client announced."""


_client_errors: tuple[type[BaseException], ...] = (IncompleteBody,)


def register_client_errors(*classes: type[BaseException]) -> None:
    """Add exception classes that mean "the client sent a broken request body"."""
    global _client_errors
    _client_errors = tuple(dict.fromkeys((*_client_errors, *classes)))


def is_client_error(exc: BaseException) -> bool:
    """True if ``exc`` is one of the registered client-side body errors."""
    return bool(_client_errors) and isinstance(exc, _client_errors)
