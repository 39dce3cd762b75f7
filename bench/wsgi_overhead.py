"""In one process, no server: the CPU of a request in each of the apps `make bench` serves,
and where the service's extra microseconds go. Less sensitive to a busy machine than wrk.

``python -m bench.wsgi_overhead``: for /api/health and /api/names, the WSGI call of the bare
app, of the bare app behind trackstack's middleware, and of the full service; then the
service's whole request: its WSGI call plus gunicorn's ``access()`` on the service's logger
class (the access line, and /api/names' app line, written by the real pipeline to a regular
file, as ``make bench`` writes them); and, alone, the service's before_request hooks and a new
tracking ID. ``time.process_time``: the writer thread's CPU counts.
Best of ``--rounds`` processes x 2 x 3 x ``--number`` calls each, in alternating order.

``--baseline DIR``: the same measurement of another checkout (``git worktree add DIR main``)
in alternating child processes, side by side with this one, and the ratio after / before.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import runpy
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

ENDPOINTS = ("/api/health", "/api/names")
ENVIRON = {
    "REQUEST_METHOD": "GET",
    "PATH_INFO": "/api/health",
    "RAW_URI": "/api/health",
    "SERVER_NAME": "bench",
    "SERVER_PORT": "80",
    "wsgi.url_scheme": "http",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "QUERY_STRING": "",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_HOST": "127.0.0.1:8000",
    "HTTP_USER_AGENT": "wrk",
}


class _Response:
    """What gunicorn's ``access()`` reads of its response object."""

    status = "200 OK"
    status_code = 200
    sent = 83
    headers: ClassVar[list[tuple[str, str]]] = []


def call(app: Callable[..., Any], path: str | None = None) -> dict[str, Any]:
    """One WSGI call (the body read and closed, as a server does); returns its environ."""
    environ = dict(ENVIRON, **{"wsgi.input": io.BytesIO()})
    if path is not None:
        environ["PATH_INFO"] = environ["RAW_URI"] = path

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        _Response.headers = headers

    body = app(environ, start_response)
    list(body)
    getattr(body, "close", lambda: None)()
    return environ


def measure(rounds: int, number: int) -> dict[str, float]:
    """µs per call of each measured thing, best of ``rounds`` x 3 x ``number``."""
    from gunicorn.config import Config

    from bench.bare_app import create_app as create_bare
    from service import create_app
    from trackstack.wsgi import TrackingMiddleware

    # The service's gunicorn logger configures the pipeline (Settings.from_env, as served).
    config = Config()
    config.set("accesslog", "-")
    logger = runpy.run_path("service/gunicorn.conf.py")["ServiceLogger"](config)
    with_middleware = create_bare()
    with_middleware.wsgi_app = TrackingMiddleware(with_middleware.wsgi_app)  # type: ignore[method-assign]
    service = create_app(logger.settings)
    took = timedelta(microseconds=1234)

    def request(path: str) -> None:
        logger.access(_Response, None, call(service, path), took)

    cases: dict[str, Callable[[], Any]] = {}
    for path in ENDPOINTS:
        cases |= {
            f"{path} bare Flask": functools.partial(call, create_bare(), path),
            f"{path} bare + TrackingMiddleware": functools.partial(call, with_middleware, path),
            f"{path} the service (WSGI call)": functools.partial(call, service, path),
            f"{path} the service + access line": functools.partial(request, path),
        }
    for case in cases.values():  # warm up: first calls fill caches, import lazily
        for _ in range(300):
            case()
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, case in cases.items():
            timer = timeit.Timer(case, timer=time.process_time)
            us = min(timer.repeat(number=number, repeat=3)) / number * 1e6
            best[name] = min(best.get(name, us), us)
    # Two parts of the service's own work, alone: its before_request hooks (debug gate,
    # faults, user) on /api/names, and a new tracking ID.
    from trackstack.ids import new_id

    parts: dict[str, Callable[[], Any]] = {
        "/api/names before_request hooks": service.preprocess_request,
        "new tracking ID (ids.new_id)": new_id,
    }
    with service.test_request_context("/api/names"):
        for _ in range(rounds):
            for name, part in parts.items():
                timer = timeit.Timer(part, timer=time.process_time)
                us = min(timer.repeat(number=number * 5, repeat=3)) / (number * 5) * 1e6
                best[name] = min(best.get(name, us), us)
    return best


def child(tree: Path, rounds: int, number: int) -> dict[str, float]:
    """``measure`` run in ``tree``'s checkout (its service and trackstack), in a new process."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, __file__, "--json", "--rounds", str(rounds), "--number", str(number)],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--number", type=int, default=1000)
    parser.add_argument("--baseline", type=Path, help="another checkout: the 'before'")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        out = os.fdopen(os.dup(1), "w")
        with tempfile.NamedTemporaryFile(prefix="wsgi-overhead-", suffix=".ndjson") as sink:
            os.dup2(sink.fileno(), 1)  # the pipeline writes fd 1: a regular file, as served
            os.dup2(sink.fileno(), 2)
            sys.path.insert(0, os.getcwd())
            own = measure(args.rounds, args.number)
        print(json.dumps(own), file=out)
        out.flush()
        return
    here = Path(__file__).resolve().parents[1]
    trees = {"after": here} | ({"before": args.baseline.resolve()} if args.baseline else {})
    best: dict[str, dict[str, float]] = {name: {} for name in trees}
    for _ in range(args.rounds):  # one child per round and tree, alternating
        for name, tree in trees.items():
            for key, us in child(tree, 2, args.number).items():
                best[name][key] = min(best[name].get(key, us), us)
    load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(f"CPU µs per call, best of {args.rounds} x 2 x 3 x {args.number} ({load}):")
    if args.baseline is None:
        for key, us in best["after"].items():
            print(f"  {key:<48} {us:7.1f}")
        return
    print(f"  {'':<48} {'before':>7} {'after':>7} {'after/before':>12}")
    for key, us in best["after"].items():
        before = best["before"].get(key)
        ratio = f"{us / before:12.3f}" if before else ""
        print(f"  {key:<48} {before or 0:7.1f} {us:7.1f} {ratio}")


if __name__ == "__main__":
    main()
