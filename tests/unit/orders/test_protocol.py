"""orders/protocol.py: uvicorn's h11 protocol as orders runs it."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from orders.protocol import TrackingH11Protocol


class _Transport(asyncio.Transport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {
            "socket": self.sock,
            "peername": ("127.0.0.1", 1),
            "sockname": ("127.0.0.1", 2),
        }.get(name, default)


def test_connections_get_tcp_nodelay_even_from_a_proto_0_listener() -> None:
    """A connection accepted from a listener bound with proto 0 (uvicorn's manager, uvicorn
    issue #3149) has TCP_NODELAY on, so a keep-alive response never waits for a delayed ACK."""

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    config = uvicorn.Config(app, http=TrackingH11Protocol)
    config.load()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                loop = asyncio.new_event_loop()
                try:
                    protocol = TrackingH11Protocol(config, ServerState(), {}, loop)
                    protocol.connection_made(_Transport(accepted))
                finally:
                    loop.close()
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
            assert client
