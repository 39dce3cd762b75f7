"""trackstack's second demo service, ``trackstack-orders``: the Flask service's endpoints and
contract (service/api.py) on FastAPI + uvicorn, tracked by trackstack's pure ASGI middleware.

``create_app(settings)`` only wires; each process configures its logging first
(``orders.logfiles.configure``; ``python -m orders`` does both, see orders/main.py).
"""

from orders.app import create_app

__all__ = ["create_app"]
