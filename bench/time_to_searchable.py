"""Time-to-searchable with our tuned Filebeat settings vs Filebeat's defaults, side by side.

Needs the native stack (`make native-up`). Two extra Filebeat processes read the SAME file:
one with filebeat/filebeat.yml as shipped (tuned), one with only what is needed to parse
and ship (every tuning setting left at Filebeat's default). A writer appends one JSON line
per request-like event; for each line we time "written" -> "first search hit", in each
variant's own index. Printed, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from loadgen.elastic import connect
from loadgen.watch import present
from setup.project import REPO, PollTimeout, poll_until, read_env_file, secrets_dir

DEFAULT_CONFIG = """\
# Filebeat's defaults: the same input and parser, no queue, scanner or backoff tuning.
filebeat.inputs:
  - type: filestream
    id: bench-default
    paths: ["{path}"]
    parsers:
      - ndjson: {{target: "", expand_keys: true, overwrite_keys: true, add_error_key: true}}
    file_identity.native: ~
    prospector.scanner.fingerprint.enabled: false
output.elasticsearch:
  hosts: ["${{ES_HOSTS}}"]
  username: "${{ES_USERNAME}}"
  password: "${{ES_PASSWORD}}"
  index: "{index}"
setup.ilm.enabled: false
setup.template.enabled: false
"""


def start_filebeat(name: str, workdir: Path, log_path: Path, index: str) -> subprocess.Popen[bytes]:
    binary = subprocess.run(
        [str(REPO / "native" / "build-filebeat.sh")], capture_output=True, text=True, check=True
    ).stdout.strip()
    env = os.environ | read_env_file(secrets_dir() / "trackstack_filebeat.env")
    env |= {"ES_HOSTS": "http://127.0.0.1:9200"}
    data = workdir / name
    data.mkdir()
    if name == "tuned":
        config_dir = REPO / "filebeat"
        env |= {"TRACKSTACK_MODE": "native", "TRACKSTACK_LOG_GLOB": str(log_path)}
        extra = ["-E", f"output.elasticsearch.index={index}"]
    else:
        config_dir = data / "config"
        config_dir.mkdir()
        config = config_dir / "filebeat.yml"
        config.write_text(DEFAULT_CONFIG.format(path=log_path, index=index))
        config.chmod(0o600)
        extra = []
    return subprocess.Popen(
        [
            binary,
            "-e",
            "--path.config",
            str(config_dir),
            "--path.home",
            str(Path(binary).parent),
            "--path.data",
            str(data / "data"),
            "--path.logs",
            str(data / "logs"),
            *extra,
        ],
        env=env,
        stdout=(data / "out.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between events")
    args = parser.parse_args()

    es = connect("elastic")
    workdir = Path(tempfile.mkdtemp(prefix="trackstack-tts-"))
    log_path = workdir / "bench.ndjson"
    log_path.touch()
    stamp = uuid.uuid4().hex[:8]
    indices = {v: f"trackstack-logs-bench-{v}-{stamp}" for v in ("tuned", "default")}
    beats = {v: start_filebeat(v, workdir, log_path, index) for v, index in indices.items()}
    written: dict[str, float] = {}
    seen: dict[str, dict[str, float]] = {v: {} for v in indices}
    done = threading.Event()

    def poll(variant: str) -> None:
        while not done.is_set():
            ids = list(written)
            if ids:
                try:
                    found = present(es, ids, since_ms=0, index=indices[variant])
                except Exception:  # index not created yet
                    found = set()
                now = time.monotonic()
                for tracking_id in found:
                    seen[variant].setdefault(tracking_id, now)
            time.sleep(0.1)

    pollers = [threading.Thread(target=poll, args=(v,), daemon=True) for v in indices]
    try:
        time.sleep(3)  # both Filebeats up and watching the file
        for poller in pollers:
            poller.start()
        with log_path.open("a") as out:
            for n in range(args.events):
                tracking_id = f"tts-{stamp}-{n}"
                line = {
                    "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                    "log.level": "info",
                    "message": f"bench event {n}",
                    "tracking_id": tracking_id,
                    "event.dataset": "trackstack.bench",
                    "event.id": f"{stamp}-{n}",
                }
                out.write(json.dumps(line) + "\n")
                out.flush()
                written[tracking_id] = time.monotonic()
                time.sleep(args.interval)
        with contextlib.suppress(PollTimeout):  # the table below shows what was not found
            poll_until(
                lambda: all(len(s) >= args.events for s in seen.values()),
                60,
                "every line searchable",
                every_s=0.5,
                retry_on=(),
            )
    finally:
        done.set()
        for beat in beats.values():
            beat.terminate()
            beat.wait(timeout=30)
        es.indices.delete(index=",".join(indices.values()), ignore_unavailable=True)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{args.events} lines, one every {args.interval}s, both Filebeats reading the same file")
    print(f"{'variant':<9} {'found':>7} {'p50':>7} {'p95':>7} {'max':>7}")
    for variant, times in seen.items():
        lat = sorted(times[i] - written[i] for i in times)
        if not lat:
            print(f"{variant:<9} {0:>3}/{args.events:<3} nothing became searchable")
            continue
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
        print(
            f"{variant:<9} {len(lat):>3}/{args.events:<3} {statistics.median(lat):6.2f}s "
            f"{p95:6.2f}s {lat[-1]:6.2f}s"
        )


if __name__ == "__main__":
    main()
