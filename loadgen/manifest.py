"""A run's folder and its manifest: one JSON line per request sent.

    runs/<UTC time>/run.json           what was asked for (rate, duration, ...) and achieved
    runs/<UTC time>/manifest.jsonl     every request: its tracking ID, endpoint, status, times
    runs/<UTC time>/searchable.jsonl   when each tracking ID was first found by a search
    runs/<UTC time>/summary.txt, verify.txt   what `make load` and `make verify` printed
    runs/<UTC time>/summary.png        latency over time + time-to-searchable histogram
    runs/<UTC time>/locust_*.csv, report.html, locust.log   Locust's own reports

``RUNS_DIR`` (default ``runs/`` in the repository) moves the whole tree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from setup.project import REPO

MANIFEST = "manifest.jsonl"
SEARCHABLE = "searchable.jsonl"
RUN_INFO = "run.json"


class ManifestError(Exception):
    """A run folder or manifest line the tools cannot use; the message says which."""


@dataclass(frozen=True)
class Record:
    """One request as the client saw it. Times are epoch milliseconds (client clock)."""

    seq: int
    entry: str  # the mix row (loadgen.mix.MIX)
    endpoint: str  # the endpoint key (loadgen.mix.ENDPOINTS)
    method: str
    path: str
    tracking_id: str | None  # what the server returned in X-Tracking-ID; None = no response
    sent_id: str | None  # what the client sent as X-Tracking-ID; None = server's choice
    client_chose: bool  # the server kept the client's ID
    replaced: bool  # the client sent an ID and got another one back (it was invalid)
    debug: bool  # the server confirmed per-request DEBUG (X-Debug-Log: on)
    status: int  # HTTP status; 0 = no response at all
    expected: bool  # the status this endpoint is meant to answer (500 for /api/error)
    sent_ms: float
    received_ms: float
    error: str | None = None

    @classmethod
    def of_response(
        cls,
        *,
        seq: int,
        entry: str,
        endpoint: str,
        method: str,
        path: str,
        sent_id: str | None,
        returned_id: str | None,
        debug: bool,
        status: int,
        expected_status: int,
        sent_ms: float,
        received_ms: float,
        error: str | None = None,
    ) -> Record:
        """Derives the ID bookkeeping (client_chose, replaced) from what went out and came back."""
        return cls(
            seq=seq,
            entry=entry,
            endpoint=endpoint,
            method=method,
            path=path,
            tracking_id=returned_id or None,
            sent_id=sent_id,
            client_chose=sent_id is not None and returned_id == sent_id,
            replaced=sent_id is not None and bool(returned_id) and returned_id != sent_id,
            debug=debug,
            status=status,
            expected=status == expected_status,
            sent_ms=round(sent_ms, 3),
            received_ms=round(received_ms, 3),
            error=error,
        )

    @property
    def latency_ms(self) -> float:
        return self.received_ms - self.sent_ms

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


_FIELDS = {f.name for f in fields(Record)}


def write(out: TextIO, record: Record) -> None:
    out.write(record.to_json() + "\n")


def parse(lines: Iterable[str], source: str = "manifest") -> Iterator[Record]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            unknown = set(data) - _FIELDS
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            yield Record(**data)
        except (ValueError, TypeError) as exc:
            raise ManifestError(f"{source} line {number}: {exc}") from None


def read(run_dir: Path) -> list[Record]:
    path = run_dir / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} does not exist: is {run_dir} a run folder (make load)?")
    with path.open() as lines:
        return list(parse(lines, str(path)))


def shown(path: Path) -> str:
    """A path as people typed it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def runs_root() -> Path:
    return Path(os.environ.get("RUNS_DIR", REPO / "runs"))


def run_id(now: datetime | None = None) -> str:
    """A run's name: its UTC start time, which also sorts runs by age."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def new_run_dir(root: Path, now: datetime | None = None) -> Path:
    name = run_id(now)
    for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
        path = root / f"{name}{suffix}"
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ManifestError(f"too many runs named {name} under {root}")


def find_run(name: str, root: Path) -> Path:
    """The run folder ``name`` means, in any form the tools print it: ``runs/20261121T185741Z``,
    ``20261121T185741Z`` (under ``root``), with a trailing ``/``, or a file inside the run."""
    given = Path(name.strip().strip("'\""))
    for path in (given, root / given.name, root.parent / given):
        if path.is_file() and path.parent.joinpath(MANIFEST).is_file():
            return path.parent
        if path.joinpath(MANIFEST).is_file():
            return path
    raise ManifestError(
        f"no run {name} (neither {given} nor {root / given.name} has a {MANIFEST});"
        f" runs: ls {shown(root)}"
    )


def latest_run(root: Path) -> Path:
    runs = sorted(p for p in root.glob("*") if (p / MANIFEST).is_file()) if root.is_dir() else []
    if not runs:
        raise ManifestError(f"no runs under {root}: run `make load` first")
    return runs[-1]


def write_info(run_dir: Path, info: dict[str, Any]) -> None:
    (run_dir / RUN_INFO).write_text(json.dumps(info, indent=2) + "\n")


def read_info(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RUN_INFO
    info: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return info


@dataclass(frozen=True)
class Sighting:
    """The first search that found any document of ``tracking_id``: started at ``seen_ms``.

    ``missed_ms`` is when the search before it (which did not find it) started, or None when
    no search had looked yet; the document became searchable somewhere in between.
    """

    tracking_id: str
    seen_ms: float
    missed_ms: float | None
    by: str  # "load" (watched while sending) or "verify"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def read_sightings(run_dir: Path) -> dict[str, Sighting]:
    """First sighting per tracking ID (the earliest wins if several were written)."""
    path = run_dir / SEARCHABLE
    seen: dict[str, Sighting] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                sighting = Sighting(**json.loads(line))
                known = seen.get(sighting.tracking_id)
                if known is None or sighting.seen_ms < known.seen_ms:
                    seen[sighting.tracking_id] = sighting
    return seen
