"""A plain Flask app with trackstack: 4 lines added (marked +). Served by gunicorn with
examples/gunicorn.conf.py (3 more lines), from this folder:

    gunicorn -c gunicorn.conf.py
"""

import logging

from flask import Flask

import trackstack  # +
from trackstack.flask import Tracking  # +

trackstack.configure_logging()  # + JSON lines on stdout; settings from the environment
app = Flask(__name__)
Tracking(app)  # + tracking ID, traceparent, JSON errors
log = logging.getLogger("example")


@app.get("/hello")
def hello() -> dict[str, str]:
    log.info("saying hello")
    trackstack.start_thread(log.info, "background work done")  # keeps the tracking ID
    return {"hello": "world"}
