"""python -m soak (`make soak`): load while Elasticsearch, Filebeat and the log files fail;
then is every line there once? The package's docstring (soak/__init__.py) tells the plan."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import requests

from loadgen import cli, manifest
from loadgen.elastic import connect
from loadgen.load import service_url
from loadgen.watch import now_ms
from setup.project import REPO, PollTimeout, poll_until
from soak import SoakError, say
from soak.faults import (
    Native,
    Options,
    RelayThread,
    Soak,
    Watch,
    compose_mode,
    native_mode,
    rotation_times,
)
from soak.ledger import (
    FILEBEAT_OUT,
    decode_errors,
    decode_windows,
    filebeat_events,
    settle,
    snapshot,
)
from soak.report import summary


def _preflight(options: Options) -> str | None:
    for script, args in (("elasticsearch.sh", ["status"]), ("filebeat.sh", ["status"])):
        result = subprocess.run(
            [str(REPO / "native" / script), *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            return f"the native stack is not running ({script} status): make native-up"
    try:
        if not requests.get(f"{options.service_url}/api/health", timeout=5).ok:
            return f"{options.service_url}/api/health does not answer 200"
    except requests.RequestException as exc:
        return f"service not reachable at {options.service_url}: {exc}"
    if not (REPO / ".run" / "service").is_dir():
        return "the service was not started by native/service.sh: make native-up"
    return None


# How long the load may outlast --duration while faults are still under way: Elasticsearch's
# restart after its outage took 58 s to 7 min on this 2-core machine when other stacks ran
# beside it, and every later fault waits for the backlog to drain first.
LOAD_CAP_EXTRA_S = 900
# Requests sent after the last fault: the last fault's window is then followed by calm traffic.
LOAD_TAIL_S = 5.0


def _end_load(load: subprocess.Popen[bytes], t0_ms: float, duration_s: float) -> None:
    """Lets the load run --duration seconds, and longer while faults were under way (each
    fault's window must see requests, or it proves nothing), then ends it as Ctrl-C does
    (loadgen writes its manifest and summary on SIGTERM as on SIGINT)."""
    ends_s = max(t0_ms / 1000 + duration_s, time.time() + LOAD_TAIL_S)
    with contextlib.suppress(subprocess.TimeoutExpired):
        load.wait(timeout=max(0.0, ends_s - time.time()))
        return  # it ended by itself (its cap, or a failure the ledger will show)
    stop_load(load)


def stop_load(load: subprocess.Popen[bytes]) -> None:
    """Ends the load as Ctrl-C does, with SIGTERM, which loadgen handles the same way. Not
    SIGINT: a soak started in the background (CI, `&` in a non-interactive shell) passes on
    SIGINT ignored, and a Python process that starts with it ignored never raises
    KeyboardInterrupt (seen: the load ran on past its end)."""
    load.send_signal(signal.SIGTERM)
    try:
        load.wait(timeout=120)
    except subprocess.TimeoutExpired:
        load.kill()
        load.wait()


def _load_command(options: Options, folder: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loadgen",
        "load",
        "--rate",
        f"{options.rate:g}",
        "--duration",
        # A cap, not the length: the run ends the load once the faults are over (_end_load).
        str(options.duration_s + LOAD_CAP_EXTRA_S),
        "--runs-dir",
        str(folder),
        "--no-watch",  # this process watches, the bursts' IDs too
        "--settle",
        "0",
    ]


def _wait_for(what: str, check: Callable[[], object], timeout_s: float, every_s: float) -> None:
    try:
        poll_until(check, timeout_s, what, every_s)
    except PollTimeout as exc:
        raise SoakError(str(exc)) from exc


def run(options: Options) -> int:
    problem = _preflight(options)
    if problem:
        print(f"soak: {problem}", file=sys.stderr)
        return 2
    if options.mode not in ("native", "compose"):
        print(f"soak: --mode must be native or compose, not {options.mode!r}", file=sys.stderr)
        return 2
    folder = options.runs_root / f"soak-{manifest.run_id()}"
    folder.mkdir(parents=True)
    say(f"run folder {manifest.shown(folder)}")
    (folder / "options.json").write_text(
        json.dumps(asdict(options) | {"runs_root": str(options.runs_root)}, indent=2) + "\n"
    )
    since = snapshot()
    filebeat_since = FILEBEAT_OUT.stat().st_size if FILEBEAT_OUT.is_file() else 0
    started_ms = now_ms()
    es = connect(timeout_s=5)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with (
        (folder / "faults.log").open("a") as faults_log,
        (folder / manifest.SEARCHABLE).open("a") as sightings_out,
        (folder / "load.log").open("w") as load_log,
    ):
        native = Native(faults_log)
        watch = Watch(es, sightings_out)
        soak = Soak(options, folder, native, watch)
        relay: RelayThread | None = None
        if options.mode == "compose":
            try:
                relay = compose_mode(options, native, since)
            except SoakError as exc:
                say(f"stopping: {exc}")
                native_mode(native, relay)
                return 2
            soak.relay = relay.relay
        load = subprocess.Popen(
            _load_command(options, folder), cwd=REPO, stdout=load_log, stderr=subprocess.STDOUT
        )
        halt = threading.Event()
        rotator: threading.Thread | None = None
        try:
            _wait_for("load run folder", lambda: list(folder.glob("*/run.json")), 30, 0.1)
            load_dir = next(folder.glob("*/run.json")).parent
            watch.follow(load_dir / manifest.MANIFEST)
            watch.start()
            # Locust's start-up alone took over 60 s on a 2-core box at load average 20.
            _wait_for("request from the load", lambda: watch.first_sent_ms(), 120, 0.05)
            soak.t0_ms = watch.first_sent_ms() or now_ms()
            say(
                f"load running ({options.rate:g} req/s for {options.duration_s} s, log:"
                f" {manifest.shown(folder / 'load.log')}); faults follow"
            )
            times = rotation_times(soak.t0_ms, options.duration_s, options.rotations)
            rotator = threading.Thread(target=soak.rotate_all, args=(times, halt), daemon=True)
            rotator.start()
            soak.inject()
            rotator.join()
            _end_load(load, soak.t0_ms, options.duration_s)
        except (KeyboardInterrupt, SoakError) as exc:
            halt.set()
            load.send_signal(signal.SIGTERM)  # as Ctrl-C; see stop_load
            say(f"stopping: {str(exc) or 'interrupted'}; restoring what was stopped")
            soak.restore()
            try:
                load.wait(timeout=60)
            except subprocess.TimeoutExpired:
                load.kill()
            if rotator is not None:
                rotator.join()
            watch.halt.set()
            native_mode(native, relay)
            return 2
        say(f"load finished (exit {load.returncode}); ledger: counting lines and documents")
        ledger = settle(es, watch.all_records(), since, options.settle_s)
        watch.stop()
        native_mode(native, relay)
    ledger.undecodable = decode_errors(es, decode_windows(soak.faults, started_ms, now_ms()))
    ledger.filebeat = filebeat_events(filebeat_since)
    lines = summary(options, folder, load_dir, soak, watch, ledger)
    print("\n".join(lines))
    (folder / "soak.txt").write_text("\n".join(lines) + "\n")
    return 0 if ledger.ok and not soak.problems else 1


# --- the ledger and the report ----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m soak",
        description="Load while Elasticsearch, Filebeat and the log files fail:"
        " is every line there once?",
    )
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (50)")
    parser.add_argument("--duration", type=int, default=300, help="seconds of load (300)")
    parser.add_argument(
        "--es-outage", type=float, default=60.0, help="seconds Elasticsearch stays stopped (60)"
    )
    parser.add_argument(
        "--es-node",
        type=int,
        help="stop only this node of a cluster (ES_NODES=2 make native-up; 1 = the second)",
    )
    parser.add_argument(
        "--es-at", type=float, default=30.0, help="seconds into the load it is stopped (30)"
    )
    parser.add_argument(
        "--filebeat-down", type=float, default=5.0, help="seconds from SIGKILL to restart (5)"
    )
    parser.add_argument("--rotations", type=int, default=12, help="log rotations (12)")
    parser.add_argument("--bursts", type=int, default=3, help="bursts of concurrent 500s (3)")
    parser.add_argument("--burst-size", type=int, default=50, help="requests per burst (50)")
    parser.add_argument(
        "--settle",
        type=float,
        default=180.0,
        help="seconds to wait after the load for every line to arrive (180)",
    )
    parser.add_argument("--runs-dir", type=Path, help="where run folders go (RUNS_DIR, runs/)")
    parser.add_argument(
        "--mode",
        choices=("native", "compose"),
        default="native",
        help="Filebeat's mode: native (the service's files) or compose (Docker's json-file logs,"
        " written by a relay that plays Docker)",
    )
    parser.add_argument(
        "--docker-max-size",
        type=int,
        default=1024 * 1024,
        help="compose mode: json-file max-size in bytes (1048576)",
    )
    parser.add_argument(
        "--docker-max-file", type=int, default=3, help="compose mode: json-file max-file (3)"
    )

    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return cli.run_quietly("soak", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        return run(
            Options(
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
                service_url=service_url(),
                mode=args.mode,
                docker_max_size=args.docker_max_size,
                docker_max_file=args.docker_max_file,
            )
        )
    except manifest.ManifestError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
