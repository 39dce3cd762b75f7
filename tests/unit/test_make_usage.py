"""Every make target that needs a variable says how to call it when the variable is missing:
exit status 2, a `usage: make ...` line, and no shell or Python traceback."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from setup.project import REPO

MAKEFILES = [REPO / "Makefile", *sorted((REPO / "mk").glob("*.mk"))]
# Variables a recipe may use empty: each has a meaning when unset (the latest run, every
# service's logs, keep the volumes, no extra options).
OPTIONAL = {"RUN", "SVC", "VOLUMES", "LAB_OPTS"}
BUILT_IN = {"MAKE", "MAKEFILE_LIST", "SHELL"}

USAGE = [
    pytest.param(["lab"], "usage: make lab N=<1-7>", id="lab-without-N"),
    pytest.param(["lab", "N=8"], "usage: make lab N=<1-7>", id="lab-N-out-of-range"),
    pytest.param(["lab-check"], "usage: make lab-check N=<1-7>", id="lab-check-without-N"),
    pytest.param(
        ["lab-check", "N=1"],
        "usage: make lab-check N=1 ANSWER='lines=<number>'",
        id="lab-check-without-ANSWER",
    ),
    pytest.param(
        ["lab-check", "N=3", "ANSWER="],
        "usage: make lab-check N=3 ANSWER='service=<service.name> status=<HTTP status>'",
        id="lab-check-empty-ANSWER",
    ),
    pytest.param(["trace"], "usage: make trace ID=<tracking ID>", id="trace-without-ID"),
    pytest.param(["kibana"], "usage: make kibana ID=<tracking id>", id="kibana-without-ID"),
    pytest.param(
        ["load-worker"],
        "usage: make load-worker MASTER=<host of make load>",
        id="load-worker-without-MASTER",
    ),
]
# The (target, variable) pairs the table above covers.
COVERED = {
    ("lab", "N"),
    ("lab-check", "N"),
    ("lab-check", "ANSWER"),
    ("trace", "ID"),
    ("kibana", "ID"),
    ("load-worker", "MASTER"),
}


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("args", "usage"), USAGE)
def test_missing_variable_prints_usage(args: list[str], usage: str) -> None:
    """Exit 2 with the usage line; nothing like `unbound variable` or a Python traceback."""
    result = make(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert usage in result.stderr
    assert "unbound variable" not in result.stderr and "Traceback" not in result.stderr


def recipes(path: Path) -> dict[str, str]:
    """target -> its recipe text, for the rules of one makefile."""
    found: dict[str, str] = {}
    target = None
    for line in path.read_text().splitlines():
        if line.startswith("\t") and target:
            found[target] += line + "\n"
        elif match := re.match(r"^([a-z][a-z0-9_-]*):(?!=)", line):
            target = match[1]
            found[target] = ""
        elif not line.startswith("\t"):
            target = None
    return found


def test_every_required_variable_is_in_the_usage_table() -> None:
    """Each variable a recipe uses that no makefile defines is optional or has a usage row."""
    defined = {
        match[1]
        for path in MAKEFILES
        for match in re.finditer(r"^(?:export\s+)?([A-Z_]+)\s*[:?]?=", path.read_text(), re.M)
    }
    needed = {
        (target, name)
        for path in MAKEFILES
        for target, recipe in recipes(path).items()
        for pair in re.findall(r"\$\(([A-Z_]+)\)|\$\$\{([A-Z_]+)", recipe)
        for name in pair
        if name and name not in defined | BUILT_IN | OPTIONAL
    }
    assert needed, "the scan found no variable at all: is recipes() still right?"
    assert needed <= COVERED, f"add a usage check and a USAGE row for {needed - COVERED}"


def test_serve_names_a_free_port_when_its_port_is_taken() -> None:
    """`make serve` on a taken port exits 2 and names a PORT that is free, instead of
    gunicorn's repeated "Connection in use"."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = make("serve", f"PORT={port}")
    assert result.returncode == 2, result.stdout + result.stderr
    match = re.search(r"is taken .*: make serve PORT=(\d+)", result.stderr)
    assert match, result.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(match[1]))) != 0
    assert "Connection in use" not in result.stderr


def test_install_says_what_each_step_installs_and_why() -> None:
    """`make install` announces every step before it runs, the apt packages included."""
    dry = make("-n", "install")
    assert dry.returncode == 0, dry.stderr
    steps = re.findall(r'^echo "install: (\d)/6 (.*)"$', dry.stdout, re.M)
    assert [number for number, _ in steps] == ["1", "2", "3", "4", "5", "6"], dry.stdout
    said = " ".join(what for _, what in steps)
    for words in (
        "uv",
        "apt",
        "docker-compose",
        "actionlint",
        "Elasticsearch",
        "Filebeat",
        "chromium",
    ):
        assert words in said


@pytest.mark.parametrize("port", ["99999", "0", "abc", "-1", "2.5"])
def test_serve_with_a_port_that_is_no_port_gets_the_services_config_error(port: str) -> None:
    """`make serve PORT=<not 1..65535>`: the free-port check lets it through (it used to end
    in socket's OverflowError) and the service names it: one ConfigError line, exit 1."""
    result = make("serve", f"PORT={port}")
    assert result.returncode == 2, result.stdout + result.stderr  # make's, for the recipe's 1
    assert "Traceback" not in result.stderr and "is taken" not in result.stderr
    line = next(json.loads(raw) for raw in result.stderr.splitlines() if raw.startswith("{"))
    assert line["error.type"] == "ConfigError" and "PORT" in line["message"], line


@pytest.mark.parametrize("target", ["up", "down", "logs"])
def test_compose_targets_name_a_missing_compose_v2(target: str) -> None:
    """Without Compose v2 (`docker compose version` fails), `make up/down/logs` say so and
    what to do, instead of docker's "unknown shorthand flag: 'd' in -d"."""
    result = make(target, "COMPOSE=false")
    assert result.returncode == 2
    assert "Docker Compose v2 is missing" in result.stderr and "make doctor" in result.stderr
