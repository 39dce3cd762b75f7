"""Helpers for the Docker compose stack (make doctor / up / urls). Standard library only, so
they run with the machine's python3, before `make install` has made the project's venv.

    python3 -m setup.compose doctor   # pre-flight: engine, compose v2, memory, max_map_count,
                                      # disk vs Elasticsearch's flood-stage watermark, ports
    python3 -m setup.compose wait     # after `docker compose up -d`: until all is healthy
    python3 -m setup.compose urls     # where everything is, and the Kibana login

Environment: COMPOSE (default "docker compose"), SECRETS_DIR (default <repo>/.secrets),
WAIT_TIMEOUT (seconds, default 600: a first start also pulls about 2 GB of images).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from setup.project import REPO, PollTimeout, poll_until, read_env_file, secrets_dir

GIB = 1024**3

# Host ports the stack publishes, all on 127.0.0.1 (docker-compose.yml).
PORTS = {9200: "Elasticsearch", 5601: "Kibana", 8000: "service", 8001: "orders", 8089: "Locust"}
LONG_RUNNING = ("elasticsearch", "kibana", "filebeat", "orders", "service")
ONE_SHOT = ("init-secrets", "setup", "kibana-setup")  # must exit 0
# At most 3584 MiB of docker-compose.yml's limits run at once (README, RAM budget); the
# engine needs room besides.
MEMORY_NEEDED = 4 * GIB
MEMORY_MINIMUM = 3584 * 1024**2
MAX_MAP_COUNT = 262_144
# Elasticsearch's disk watermarks: at "high" (90 %) it will not allocate a new index (the next
# day's trackstack-logs-*), at "flood stage" (95 %) it makes every index read-only.
HIGH_WATERMARK = 0.90
FLOOD_STAGE = 0.95
IMAGES_BYTES = 3 * GIB  # Elasticsearch, Kibana, Filebeat and the service image, roughly


@dataclass(frozen=True)
class Check:
    name: str
    level: str  # "ok", "warn" or "fail"
    detail: str


def compose_command() -> list[str]:
    return shlex.split(os.environ.get("COMPOSE", "docker compose"))


def run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


# --- doctor -----------------------------------------------------------------------------------


def check_docker_info() -> tuple[Check, dict[str, object]]:
    if not shutil.which("docker"):
        return Check("docker engine", "fail", "no `docker` command: install Docker"), {}
    try:
        answer = run(["docker", "info", "--format", "{{json .}}"])
    except subprocess.TimeoutExpired:
        return Check("docker engine", "fail", "`docker info` hung: is the engine starting?"), {}
    info = json.loads(answer.stdout) if answer.returncode == 0 and answer.stdout.strip() else {}
    if not info.get("ServerVersion"):
        reason = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
        return Check("docker engine", "fail", f"not reachable: {reason}"), info
    where = info.get("OperatingSystem", "?")
    return Check("docker engine", "ok", f"{info['ServerVersion']} on {where}"), info


def check_compose() -> Check:
    try:
        answer = run([*compose_command(), "version", "--short"])
    except (FileNotFoundError, subprocess.TimeoutExpired) as err:
        return Check("compose v2", "fail", f"`docker compose` unusable: {err}")
    version = answer.stdout.strip().lstrip("v")
    if answer.returncode != 0 or not version:
        return Check(
            "compose v2",
            "fail",
            "`docker compose` missing: install the compose plugin (v2); "
            "the old `docker-compose` v1 is end-of-life",
        )
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 0
    if major < 2:
        return Check("compose v2", "fail", f"compose {version} is v1; install v2")
    return Check("compose v2", "ok", version)


def check_memory(info: dict[str, object]) -> Check:
    total = info.get("MemTotal")
    if not isinstance(total, int):
        return Check("memory", "warn", "unknown (engine not reachable)")
    have = f"{total / GIB:.1f} GiB for containers"
    if total < MEMORY_MINIMUM:
        return Check("memory", "fail", f"{have}; the stack's limits add up to 3.5 GiB at once")
    if total < MEMORY_NEEDED:
        return Check("memory", "warn", f"{have}; 4 GiB or more leaves the engine room")
    return Check("memory", "ok", have)


def check_max_map_count(info: dict[str, object]) -> Check:
    if "docker desktop" in str(info.get("OperatingSystem", "")).lower():
        return Check("vm.max_map_count", "ok", "set by Docker Desktop's VM")
    path = Path("/proc/sys/vm/max_map_count")
    if not path.exists():
        return Check("vm.max_map_count", "warn", "cannot read it here; it must be >= 262144")
    value = int(path.read_text())
    if value < MAX_MAP_COUNT:
        return Check(
            "vm.max_map_count",
            "warn",
            f"{value} < {MAX_MAP_COUNT}: Elasticsearch may fail to map its files under load; "
            f"sudo sysctl -w vm.max_map_count={MAX_MAP_COUNT} (persist it in /etc/sysctl.d/)",
        )
    return Check("vm.max_map_count", "ok", str(value))


def disk_level(used: int, total: int, free: int) -> tuple[str, str]:
    """(level, detail) for a filesystem, against Elasticsearch's watermarks."""
    share = used / total
    detail = f"{share:.0%} used, {free / GIB:.1f} GiB free"
    if share >= FLOOD_STAGE:
        return "fail", f"{detail}: at the 95 % flood stage Elasticsearch makes indices read-only"
    if share >= HIGH_WATERMARK:
        return "warn", f"{detail}: above 90 % Elasticsearch allocates no new daily index"
    if free < IMAGES_BYTES:
        return "warn", f"{detail}: the images alone need about 3 GiB"
    return "ok", detail


def check_disk(info: dict[str, object]) -> Check:
    root = Path(str(info.get("DockerRootDir") or ""))
    if not root.parts or not root.exists():
        # Docker Desktop keeps images and volumes inside its VM: its own disk limit applies.
        root, where = REPO, "the checkout (Docker's data dir is not on this host)"
    else:
        where = str(root)
    usage = shutil.disk_usage(root)
    level, detail = disk_level(usage.used, usage.total, usage.free)
    return Check("disk", level, f"{where}: {detail}")


def published_by_this_stack() -> set[int]:
    """Host ports the running containers of this compose project publish."""
    try:
        ids = run([*compose_command(), "ps", "-q"]).stdout.split()
        if not ids:
            return set()
        answer = run(["docker", "inspect", "--format", "{{json .NetworkSettings.Ports}}", *ids])
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return set()
    ports: set[int] = set()
    for line in answer.stdout.splitlines():
        for bindings in (json.loads(line) or {}).values():
            ports.update(int(b["HostPort"]) for b in bindings or [])
    return ports


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports() -> list[Check]:
    ours = published_by_this_stack()
    checks = []
    for port, what in PORTS.items():
        if port in ours:
            checks.append(Check(f"port {port}", "ok", f"{what}: this stack is already up"))
        elif port_free(port):
            checks.append(Check(f"port {port}", "ok", f"{what}: free"))
        else:
            hint = " (the native stack? make native-down)" if port in (9200, 8000, 8001) else ""
            checks.append(Check(f"port {port}", "fail", f"{what}: already in use{hint}"))
    return checks


def doctor() -> int:
    engine, info = check_docker_info()
    checks = [engine, check_compose(), check_memory(info), check_max_map_count(info)]
    checks += [check_disk(info), *check_ports()]
    marks = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    for check in checks:
        print(f"  {marks[check.level]}  {check.name:<17} {check.detail}")
    failed = [c for c in checks if c.level == "fail"]
    print("doctor: " + (f"{len(failed)} problem(s) to fix first" if failed else "ready"))
    return 1 if failed else 0


# --- wait -------------------------------------------------------------------------------------


def container_state(service: str) -> dict[str, object] | None:
    """The State of the service's container (docker inspect), None if it has none yet."""
    ids = run([*compose_command(), "ps", "-a", "-q", service]).stdout.split()
    if not ids:
        return None
    answer = run(["docker", "inspect", "--format", "{{json .State}}", ids[0]])
    return json.loads(answer.stdout) if answer.returncode == 0 else None


class ServiceFailed(Exception):
    def __init__(self, service: str, why: str) -> None:
        super().__init__(f"{service} {why}")
        self.service = service


def pending(service: str, one_shot: bool) -> str | None:
    """Why the service is not ready yet, None once it is; ServiceFailed if it never will be."""
    state = container_state(service)
    if state is None:
        return "not created"
    status, exit_code = state.get("Status"), state.get("ExitCode")
    if status == "exited" and not (one_shot and exit_code == 0):
        raise ServiceFailed(service, f"exited with code {exit_code}")
    if one_shot:
        return None if status == "exited" else str(status)
    health = state.get("Health")
    health_status = health.get("Status") if isinstance(health, dict) else "no healthcheck"
    return None if health_status == "healthy" else f"{status}, {health_status}"


def wait(timeout_s: float) -> int:
    services = [(name, False) for name in LONG_RUNNING] + [(name, True) for name in ONE_SHOT]
    shown = ""

    def ready() -> bool:
        nonlocal shown
        waiting = {name: why for name, one_shot in services if (why := pending(name, one_shot))}
        line = ", ".join(f"{service} ({why})" for service, why in waiting.items())
        if waiting and line != shown:
            print(f"wait: waiting for {line}", flush=True)
            shown = line
        return not waiting

    try:
        # ServiceFailed is not retried: a service that exited will not get healthy.
        poll_until(ready, timeout_s, "every service", every_s=3, retry_on=())
    except ServiceFailed as err:
        print(f"wait: {err}; its last lines:", file=sys.stderr)
        logs = run([*compose_command(), "logs", "--tail", "30", err.service])
        print(logs.stdout + logs.stderr, file=sys.stderr)
        return 1
    except PollTimeout:
        print(f"wait: gave up after {timeout_s:.0f}s; `make logs` shows why", file=sys.stderr)
        return 1
    print("wait: every service is healthy and setup is done")
    return 0


# --- urls -------------------------------------------------------------------------------------


def compose_running() -> bool:
    """Whether the compose stack's Elasticsearch container runs (False without Docker)."""
    if shutil.which(compose_command()[0]) is None:
        return False
    try:
        state = container_state("elasticsearch")
    except (OSError, subprocess.SubprocessError, ValueError):
        return False
    return bool(state and state.get("Status") == "running")


def native_pieces() -> dict[str, str]:
    """Each native piece's state ("running"/"stopped") from native/stack.sh status."""
    try:
        status = run([str(REPO / "native" / "stack.sh"), "status"])
    except (OSError, subprocess.SubprocessError):
        return {}
    return {
        parts[0]: parts[1] for line in status.stdout.splitlines() if len(parts := line.split()) > 1
    }


def urls() -> int:
    """Where everything is, for the stack that runs now: compose (with Kibana and its login),
    native (no Kibana; passwords stay in their files), or neither (how to start one)."""
    env_file = secrets_dir() / "elastic.env"
    shown_file = env_file.relative_to(REPO) if env_file.is_relative_to(REPO) else env_file
    if compose_running():
        login = "elastic / (no .secrets/elastic.env yet: `make up` makes it)"
        password = read_env_file(env_file).get("ELASTIC_PASSWORD")
        if password:
            login = "elastic / " + password
        print(
            f"""
trackstack (docker compose):
  Kibana          http://127.0.0.1:5601   login {login}
                  dashboard: http://127.0.0.1:5601/app/dashboards#/view/trackstack-overview
  Elasticsearch   http://127.0.0.1:9200   same login; passwords live in {env_file.parent}/
  service         http://127.0.0.1:8000   (orders, the FastAPI service: http://127.0.0.1:8001)
  Locust          http://127.0.0.1:8089   after: docker compose --profile load up -d loadgen
Try:  curl -si http://127.0.0.1:8000/api/orders/42   then   make kibana ID=<its X-Tracking-ID>"""
        )
        return 0
    pieces = native_pieces()
    if "running" in pieces.values():
        stopped = [name for name, state in pieces.items() if state != "running"]
        print(
            f"""
trackstack (native, no Docker; there is no Kibana in this mode):
  service         http://127.0.0.1:8000   (orders, the FastAPI service: http://127.0.0.1:8001)
  Elasticsearch   http://127.0.0.1:9200   user elastic, password in {shown_file}
                  (reader for searches: {env_file.parent.name}/trackstack_reader.env)
Try:  curl -si http://127.0.0.1:8000/api/orders/42   then   make trace ID=<its X-Tracking-ID>"""
            + (
                f"\nnot running: {', '.join(stopped)} (make native-status; make native-up)"
                if stopped
                else ""
            )
        )
        return 0
    print(
        "urls: no stack is running: neither compose (Docker) nor native (make native-status)."
        "\n  start one: make up (compose, with Kibana) or make native-up (no Docker)."
        f"\n  passwords, once a stack has made them, are in {env_file.parent}/ (elastic.env)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="pre-flight checks for docker compose")
    commands.add_parser("wait", help="wait until the started stack is healthy")
    commands.add_parser("urls", help="the URLs (and Kibana login) of the stack that runs")
    args = parser.parse_args(argv)
    if args.command == "doctor":
        return doctor()
    if args.command == "wait":
        return wait(float(os.environ.get("WAIT_TIMEOUT", "600")))
    return urls()


if __name__ == "__main__":
    sys.exit(main())
