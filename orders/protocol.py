"""uvicorn's h11 protocol, with its own error answer in the envelope.

uvicorn answers a request it cannot parse (bad request line, control bytes in a header,
headers over ``h11_max_incomplete_event_size``) itself, before any ASGI app runs, with a
text/plain 400 and no tracking ID. Here that answer is the JSON envelope with
``X-Tracking-ID``, ``traceparent`` and ``X-DateTime``, and it has its access line, as the
Flask service's gunicorn worker does for gunicorn's own answers (trackstack/gunicorn.py).
uvicorn's own WARNING ("Invalid HTTP request received.") comes just before, without the ID
(binding one around uvicorn's event handling would cost every request a new ID).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from trackstack import TraceContext, envelope, new_id
from trackstack.wsgi import HttpDate

access_log = logging.getLogger("trackstack.access")
_clock = HttpDate()


class TrackingH11Protocol(H11Protocol):
    """``uvicorn.Config(http=TrackingH11Protocol)``."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # TCP_NODELAY on every connection. uvicorn's manager (--workers > 1) binds the
        # listener itself with proto 0, and asyncio switches Nagle off only for sockets
        # reporting IPPROTO_TCP (uvicorn issue #3149): h11 writes the head and the body
        # separately, so every keep-alive response then waited ~43 ms for the client's
        # delayed ACK (measured: 22 req/s on one connection instead of > 1,000).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)  # type: ignore[arg-type]

    def send_400_response(self, msg: str) -> None:
        tracking_id = new_id()
        body = envelope.to_bytes(envelope.failure("-", "-", 400, "Bad Request", tracking_id))
        trace = TraceContext.for_request(None)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-tracking-id", tracking_id.encode()),
            *((k.encode(), v.encode()) for k, v in trace.headers().items()),
            (b"x-datetime", _clock.now().encode()),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            try:
                self.transport.write(self.conn.send(event) or b"")
            except h11.LocalProtocolError:
                # h11 cannot frame an answer in this state (e.g. the request line was never
                # read): write the bytes ourselves.
                head = b"HTTP/1.1 400 Bad Request\r\n" + b"".join(
                    name + b": " + value + b"\r\n" for name, value in headers
                )
                self.transport.write(head + b"\r\n" + body)
                break
        self.transport.close()
        access_log.info(
            "- - 400",
            extra={
                "event.action": "http_request",
                "http.request.method": None,
                "url.path": None,
                "http.response.status_code": 400,
                "http.response.body.bytes": len(body),
                "event.duration": 0,
                "client.ip": self.client[0] if self.client else None,
                "tracking_id": tracking_id,
                "trace.id": trace.trace_id,  # the answer's traceparent: one trace for both
                "span.id": trace.span_id,
            },
        )
