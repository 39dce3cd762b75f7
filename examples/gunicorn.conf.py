"""gunicorn settings for examples/flask_app.py: the last 3 lines are trackstack's."""

wsgi_app = "flask_app:app"
bind = "127.0.0.1:8100"  # not 8000: the demo stack may be running
worker_class = "trackstack.gunicorn.TrackingGeventWorker"  # + JSON answers to bad requests
logger_class = "trackstack.gunicorn.JsonLogger"  # + gunicorn's lines through the pipeline
accesslog = "-"  # + one JSON access line per response
