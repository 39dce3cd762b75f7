"""python -m loadgen load | load-worker | verify | trace  (`make load`, `verify`, `trace`).

Environment: SERVICE_URL (http://127.0.0.1:8000), ES_URL (http://127.0.0.1:9200) and the
credentials loadgen.elastic finds, KIBANA_URL (http://127.0.0.1:5601), RUNS_DIR (runs/),
DEBUG_LOG_TOKEN (else .secrets/service.env; unset = no debug requests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadgen import cli, manifest, mix, watch


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadgen", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    load = commands.add_parser("load", help="send the traffic mix and record every tracking ID")
    load.add_argument("--rate", type=float, default=20.0, help="requests per second (20)")
    load.add_argument("--duration", type=int, default=30, help="seconds (30)")
    load.add_argument("--ui", action="store_true", help="Locust's web UI instead of headless")
    load.add_argument(
        "--settle",
        type=float,
        default=20.0,
        help="seconds to keep watching for IDs not yet searchable after the last request (20)",
    )
    load.add_argument("--no-watch", action="store_true", help="do not poll Elasticsearch")
    load.add_argument(
        "--watch-poll",
        type=watch.watch_poll,
        default=watch.POLL_S,
        metavar="SECONDS",
        help="seconds between the watch's searches, 0.05-5 (0.25): time to searchable is high"
        " by up to one; each search costs Elasticsearch CPU",
    )
    load.add_argument(
        "--entries",
        nargs="+",
        default=[],
        choices=[entry.name for entry in mix.MIX],
        metavar="ENTRY",
        help="send only these rows of the mix, e.g. health names (all; README 'The traffic mix')",
    )
    load.add_argument("--runs-dir", type=Path, help="where run folders go (RUNS_DIR, runs/)")
    load.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Locust worker processes on this machine under a master (0: one process, no master)",
    )
    load.add_argument(
        "--remote-workers",
        type=int,
        default=0,
        help="more workers the master waits for, started elsewhere by `load-worker` (0)",
    )

    worker = commands.add_parser(
        "load-worker", help="a Locust worker for a `load --workers/--remote-workers` master"
    )
    worker.add_argument("--master", required=True, help="the master's host name or address")

    verify = commands.add_parser("verify", help="find every tracking ID of a run in Elasticsearch")
    verify.add_argument(
        "run",
        nargs="?",
        help="run folder as `make load` printed it: runs/<UTC time> or <UTC time> (the latest)",
    )
    verify.add_argument("--runs-dir", type=Path, help="where run folders are (RUNS_DIR, runs/)")
    verify.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for late arrivals (60)"
    )

    trace = commands.add_parser("trace", help="one request's timeline across services")
    trace.add_argument("tracking_id", help="as printed anywhere: bare, or in its JSON quotes")
    trace.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for its first document (10)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run_quietly(args.command, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        if args.command == "load":
            from loadgen import load

            return load.run(
                load.Options(
                    rate=args.rate,
                    duration_s=args.duration,
                    service_url=load.service_url(),
                    runs_root=args.runs_dir or manifest.runs_root(),
                    ui=args.ui,
                    settle_s=args.settle,
                    watch=not args.no_watch,
                    watch_poll_s=args.watch_poll,
                    workers=max(0, args.workers),
                    remote_workers=max(0, args.remote_workers),
                    entries=tuple(args.entries),
                )
            )
        if args.command == "load-worker":
            import os
            import subprocess

            from loadgen import load
            from loadgen.elastic import REPO

            _, port = load.master_address()
            path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
            command = load.worker_command(args.master, port)
            return subprocess.call(command, env=os.environ | {"PYTHONPATH": path})
        if args.command == "verify":
            from loadgen import verify

            root = args.runs_dir or manifest.runs_root()
            run_dir = manifest.find_run(args.run, root) if args.run else manifest.latest_run(root)
            return verify.run(run_dir, args.timeout)
        from loadgen import trace

        return trace.run(cli.tracking_id(args.tracking_id), args.wait)
    except manifest.ManifestError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
