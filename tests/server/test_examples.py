"""The wheel, as an adopter gets it: build it, install it with its extras into a fresh
virtual environment, and run examples/ (Flask + gunicorn, FastAPI + uvicorn) on it. Every
line must be JSON and carry the response's tracking ID, a background thread's line too."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from setup.project import REPO
from tests.helpers import free_port, parse_line


def _uv(*args: str, cwd: Path = REPO) -> None:
    """uv, offline first (its cache has everything after `make install`), else online."""
    for extra in (["--offline"], []):
        done = subprocess.run(["uv", *args, *extra], cwd=cwd, capture_output=True, text=True)
        if done.returncode == 0:
            return
    pytest.fail(f"uv {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library's wheel, built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--wheel", "--out-dir", str(out))
    (built,) = out.glob("trackstack-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with only the wheel and its three extras installed."""
    folder = tmp_path_factory.mktemp("venv") / "venv"
    _uv("venv", "--quiet", "--python", sys.executable, str(folder))
    python = folder / "bin" / "python"
    _uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        f"trackstack[flask,gunicorn,fastapi] @ {wheel.as_uri()}",
    )
    return folder


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/ outside the repository, so `import trackstack` finds the wheel."""
    folder = tmp_path_factory.mktemp("examples")
    for path in (REPO / "examples").glob("*.py"):
        shutil.copy(path, folder)
    return folder


def test_wheel_holds_only_the_library(wheel: Path) -> None:
    """The wheel has trackstack/ and its metadata; its one runtime dependency is the
    OpenTelemetry API; frameworks are extras; no demo code or demo dependency."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
    assert {n.split("/")[0] for n in names} == {"trackstack", "trackstack-0.1.0.dist-info"}
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    always = [line for line in requires if "extra ==" not in line]
    assert always == ["Requires-Dist: opentelemetry-api>=1.27"]
    extras = {
        line.split("Provides-Extra: ")[1]
        for line in metadata.splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert extras == {"flask", "gunicorn", "fastapi"}
    for demo_only in ("locust", "elasticsearch", "matplotlib", "prison", "requests"):
        assert not [line for line in requires if demo_only in line]


def test_the_wheel_is_what_the_examples_import(venv: Path, examples: Path) -> None:
    """From the examples' folder, trackstack comes from the venv, not from this checkout."""
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import trackstack; print(trackstack.__file__)"],
        cwd=examples,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where


def _serve(command: list[str], cwd: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env | {"SERVICE_NAME": "example"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            _get(port, "/nowhere", "warmup")
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"{command[0]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def _get(port: int, path: str, tracking_id: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"X-Tracking-ID": tracking_id})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def _lines(log: Path) -> list[dict[str, Any]]:
    return [parse_line(raw) for raw in log.read_bytes().splitlines()]


@pytest.fixture(params=["flask-gunicorn", "fastapi-uvicorn"])
def running(
    request: pytest.FixtureRequest, venv: Path, examples: Path, tmp_path: Path
) -> Iterator[tuple[int, Path]]:
    """One example served by its server from the venv: (port, its captured output)."""
    port = free_port()
    bin_dir = venv / "bin"
    if request.param == "flask-gunicorn":
        command = [
            str(bin_dir / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ]
    else:
        command = [str(bin_dir / "uvicorn"), "fastapi_app:app", "--port", str(port)]
    log = tmp_path / "out.ndjson"
    process = _serve(command, examples, port, log)
    yield port, log
    process.terminate()
    process.wait(timeout=30)


def test_example_lines_all_carry_the_tracking_id(running: tuple[int, Path]) -> None:
    """/hello: the ID on the response, on the handler's, the background thread's and the
    access line; 404 too; every line of the server's output is one JSON object."""
    port, log = running
    response = _get(port, "/hello", "example-1")
    missing = _get(port, "/missing", "example-2")
    assert response.status == 200 and response.getheader("X-Tracking-ID") == "example-1"
    assert missing.status == 404 and missing.getheader("X-Tracking-ID") == "example-2"
    assert response.getheader("traceparent") and response.getheader("X-DateTime")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = _lines(log)  # fails on any line that is not one JSON object
        mine = [line for line in lines if line.get("tracking_id") == "example-1"]
        access_ids = [
            line.get("tracking_id")
            for line in lines
            if line["event"]["dataset"] == "trackstack.access"
        ]
        if {"saying hello", "background work done"} <= {line["message"] for line in mine} and {
            "example-1",
            "example-2",
        } <= set(access_ids):
            break
        time.sleep(0.2)
    messages = {line["message"] for line in mine}
    assert {"saying hello", "background work done"} <= messages, messages
    access = [line for line in lines if line["event"]["dataset"] == "trackstack.access"]
    assert [
        line["http"]["response"]["status_code"]
        for line in access
        if line["tracking_id"] == "example-1"
    ] == [200]
    assert [
        line["http"]["response"]["status_code"]
        for line in access
        if line["tracking_id"] == "example-2"
    ] == [404]
    assert all(line["service"]["name"] == "example" for line in lines)


def test_readme_shows_the_examples_as_they_are() -> None:
    """Each python block of "Use it in your own app" is the code of an example file."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Use it in your own app", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```python\n")[1:]
    sources = [path.read_text() for path in (REPO / "examples").glob("*.py")]
    assert len(blocks) == 3
    for block in blocks:
        code = block.split("```", 1)[0]
        assert any(code in source for source in sources), code[:200]
