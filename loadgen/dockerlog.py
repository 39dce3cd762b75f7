"""A container log written exactly as Docker's json-file logging driver writes it.

Filebeat's compose mode reads ``/var/lib/docker/containers/<id>/<id>-json.log*``; the tests and
``make soak MODE=compose`` have no Docker engine, so this module writes those files itself,
following Docker's source (moby v28, daemon/logger):

- copier.go: a container's output is cut into messages of at most 16 KiB (``defaultBufSize``)
  of the line without its newline; a longer line becomes several partial messages.
- jsonfilelog.go: each message is one JSON object ``{"log": ..., "stream": ..., "time": ...}``
  and a newline; ``log`` ends in ``\\n`` only on a line's last (or only) message. ``time`` is
  the Go RFC3339Nano format (UTC, nanoseconds, trailing zeros dropped). Go's encoder escapes
  ``<``, ``>`` and ``&`` and writes other non-ASCII characters as UTF-8; a multi-byte
  character cut by the 16 KiB split becomes U+FFFD, as invalid UTF-8 does in Go.
- loggerutils/logfile.go: before writing a message, if the file already holds ``max-size``
  bytes or more it rotates: delete ``<name>.<max-file - 1>``, rename ``.<i-1>`` to ``.<i>``
  down to ``.1`` -> ``.2``, rename the live file to ``.1``, create a new empty file at the
  same path. ``max-file`` counts the live file, so at most ``max-file - 1`` rotated copies.
  The check is per message, so a rotation can fall between two partial messages of one line.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DOCKER_CHUNK = 16 * 1024  # copier.go defaultBufSize: bytes of a line per message
STREAMS = ("stdout", "stderr")
# Go's encoding/json escapes these even inside strings (HTML safety, JavaScript line ends).
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def container_id() -> str:
    """A new container id: 64 lowercase hex digits, as Docker makes them."""
    return secrets.token_hex(32)


def rfc3339nano(epoch_ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: ``2026-11-29T21:41:50.12345Z`` (no trailing zeros)."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def go_json_string(text: str) -> str:
    """``text`` as Go's encoding/json writes a string (HTML-safe escapes, UTF-8 kept)."""
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        encoded = encoded.replace(char, escape)
    return encoded


def messages(line: bytes | str, stream: str = "stdout", epoch_ns: int | None = None) -> list[bytes]:
    """The json-file records (each ending in a newline) for one line a container wrote.

    ``line`` is without its trailing newline. Raises ValueError for an unknown stream.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, not {stream!r}")
    data = line.encode() if isinstance(line, str) else line
    chunks = [data[i : i + DOCKER_CHUNK] for i in range(0, len(data), DOCKER_CHUNK)] or [b""]
    stamp = go_json_string(rfc3339nano(time.time_ns() if epoch_ns is None else epoch_ns))
    records = []
    for number, chunk in enumerate(chunks):
        text = chunk.decode(errors="replace") + ("\n" if number == len(chunks) - 1 else "")
        records.append(
            f'{{"log":{go_json_string(text)},"stream":"{stream}","time":{stamp}}}\n'.encode()
        )
    return records


@dataclass
class JsonFileLog:
    """One container's ``<root>/<id>/<id>-json.log`` with json-file's max-size and max-file.

    ``max_size`` is in bytes (compose's ``max-size: 10m`` is 10 MiB); ``max_file`` >= 1.
    Not thread-safe: one writer per container, as Docker has.
    """

    root: Path
    max_size: int = 10 * 1024 * 1024
    max_file: int = 3
    id: str = field(default_factory=container_id)
    rotations: int = 0
    deleted: int = 0  # rotated files removed because max-file was reached
    lines: int = 0
    split_lines: int = 0  # lines over 16 KiB whose messages a rotation put into two files
    bytes_written: int = 0

    def __post_init__(self) -> None:
        if self.max_file < 1 or self.max_size < 1:
            raise ValueError("max_size and max_file must be at least 1")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab", buffering=0)
        self._size = self.path.stat().st_size

    @property
    def folder(self) -> Path:
        return self.root / self.id

    @property
    def path(self) -> Path:
        return self.folder / f"{self.id}-json.log"

    def files(self) -> list[Path]:
        """The live file and its rotated copies, newest first."""
        rotated = [Path(f"{self.path}.{i}") for i in range(1, self.max_file)]
        return [p for p in (self.path, *rotated) if p.exists()]

    def write(self, line: bytes | str, stream: str = "stdout") -> bool:
        """One line the container wrote (without its newline), as one or more messages.

        Returns True if a rotation fell between two of the line's 16 KiB messages, as Docker
        allows (it checks the size before each message): the line then starts in one file
        and ends in the next, and no reader of single files (Filebeat) can join it again.
        """
        split = False
        for number, record in enumerate(messages(line, stream)):
            if self._size >= self.max_size:
                self.rotate()
                split = split or number > 0
            self._file.write(record)
            self._size += len(record)
            self.bytes_written += len(record)
        self.lines += 1
        self.split_lines += split
        return split

    def rotate(self) -> None:
        """logfile.go's rotate(): the oldest copy deleted, the others shifted, a new file."""
        self._file.close()
        if self.max_file < 2:
            self.path.unlink(missing_ok=True)
        else:
            oldest = Path(f"{self.path}.{self.max_file - 1}")
            if oldest.exists():
                oldest.unlink()
                self.deleted += 1
            for number in range(self.max_file - 1, 1, -1):
                source = Path(f"{self.path}.{number - 1}")
                if source.exists():
                    os.rename(source, f"{self.path}.{number}")
            os.rename(self.path, f"{self.path}.1")
        self._file = self.path.open("wb", buffering=0)
        self._size = 0
        self.rotations += 1

    def close(self) -> None:
        self._file.close()

    def remove(self) -> None:
        """The container is removed (``docker rm``, or compose recreating it): its folder goes."""
        self.close()
        shutil.rmtree(self.folder)


class Relay:
    """Plays Docker for processes that write to files: every complete line appended to a
    source file (from its size when the relay starts) is written to that source's container
    log, as the json-file driver would. `make soak MODE=compose` runs the native service this
    way, so compose-mode Filebeat reads what it would read under Docker.

    ``pump()`` copies what is new; call it repeatedly (``run_until`` does, every ``every_s``).
    The sources must not be rotated themselves while relayed.
    """

    def __init__(
        self,
        sources: list[Path],
        root: Path,
        max_size: int,
        max_file: int,
        offsets: dict[Path, int] | None = None,
    ) -> None:
        """``offsets``: where to start in each source (bytes; default: its current end)."""
        self.logs = {
            source: JsonFileLog(root, max_size=max_size, max_file=max_file) for source in sources
        }
        given = offsets or {}
        self.offsets = {source: given.get(source, source.stat().st_size) for source in sources}
        self.pending = dict.fromkeys(sources, b"")
        self.lock = threading.Lock()  # pump() and rotate() come from different threads

    def pump(self) -> int:
        """Copies the complete lines written since the last call; returns how many."""
        with self.lock:
            return self._pump()

    def _pump(self) -> int:
        copied = 0
        for source, log in self.logs.items():
            with source.open("rb") as handle:
                handle.seek(self.offsets[source])
                data = handle.read()
            self.offsets[source] += len(data)
            *lines, rest = (self.pending[source] + data).split(b"\n")
            self.pending[source] = rest
            for line in lines:
                log.write(line)
            copied += len(lines)
        return copied

    def rotate(self) -> None:
        """A rotation of every container's log now, as if each had just reached max-size."""
        with self.lock:
            for log in self.logs.values():
                log.rotate()

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
