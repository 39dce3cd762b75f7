"""python -m loadgen load | load-worker | verify | trace | soak  (`make load`, `verify`, ...).

Environment: SERVICE_URL (http://127.0.0.1:8000), ES_URL (http://127.0.0.1:9200) and the
credentials loadgen.elastic finds, KIBANA_URL (http://127.0.0.1:5601), RUNS_DIR (runs/),
DEBUG_LOG_TOKEN (else .secrets/service.env; unset = no debug requests).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadgen import cli, manifest


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

    soak = commands.add_parser(
        "soak",
        help="load while Elasticsearch, Filebeat and the log files fail; is every line there once?",
    )
    soak.add_argument("--rate", type=float, default=50.0, help="requests per second (50)")
    soak.add_argument("--duration", type=int, default=300, help="seconds of load (300)")
    soak.add_argument(
        "--es-outage", type=float, default=60.0, help="seconds Elasticsearch stays stopped (60)"
    )
    soak.add_argument(
        "--es-node",
        type=int,
        help="stop only this node of a cluster (ES_NODES=2 make native-up; 1 = the second)",
    )
    soak.add_argument(
        "--es-at", type=float, default=30.0, help="seconds into the load it is stopped (30)"
    )
    soak.add_argument(
        "--filebeat-down", type=float, default=5.0, help="seconds from SIGKILL to restart (5)"
    )
    soak.add_argument("--rotations", type=int, default=12, help="log rotations (12)")
    soak.add_argument("--bursts", type=int, default=3, help="bursts of concurrent 500s (3)")
    soak.add_argument("--burst-size", type=int, default=50, help="requests per burst (50)")
    soak.add_argument(
        "--settle",
        type=float,
        default=180.0,
        help="seconds to wait after the load for every line to arrive (180)",
    )
    soak.add_argument("--runs-dir", type=Path, help="where run folders go (RUNS_DIR, runs/)")
    soak.add_argument(
        "--mode",
        choices=("native", "compose"),
        default="native",
        help="Filebeat's mode: native (the service's files) or compose (Docker's json-file logs,"
        " written by a relay that plays Docker)",
    )
    soak.add_argument(
        "--docker-max-size",
        type=int,
        default=1024 * 1024,
        help="compose mode: json-file max-size in bytes (1048576)",
    )
    soak.add_argument(
        "--docker-max-file", type=int, default=3, help="compose mode: json-file max-file (3)"
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
                    workers=max(0, args.workers),
                    remote_workers=max(0, args.remote_workers),
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
        if args.command == "soak":
            from loadgen import load, soak

            return soak.run(
                soak.Options(
                    rate=args.rate,
                    duration_s=args.duration,
                    es_at_s=args.es_at,
                    es_outage_s=args.es_outage,
                    es_node=args.es_node,
                    filebeat_down_s=args.filebeat_down,
                    rotations=args.rotations,
                    bursts=args.bursts,
                    burst_size=args.burst_size,
                    settle_s=args.settle,
                    runs_root=args.runs_dir or manifest.runs_root(),
                    service_url=load.service_url(),
                    mode=args.mode,
                    docker_max_size=args.docker_max_size,
                    docker_max_file=args.docker_max_file,
                )
            )
        from loadgen import trace

        return trace.run(cli.tracking_id(args.tracking_id), args.wait)
    except manifest.ManifestError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
