"""A plain FastAPI app with trackstack: 4 lines added (marked +). From this folder:

uvicorn fastapi_app:app --port 8101
"""

import logging

from fastapi import FastAPI

import trackstack  # +
from trackstack.asgi import TrackingMiddleware  # +

trackstack.configure_logging()  # + JSON lines on stdout; settings from the environment
app = FastAPI()
app.add_middleware(TrackingMiddleware)  # + tracking ID, traceparent, JSON access line
log = logging.getLogger("example")


@app.get("/hello")
def hello() -> dict[str, str]:
    log.info("saying hello")
    trackstack.start_thread(log.info, "background work done")  # keeps the tracking ID
    return {"hello": "world"}
