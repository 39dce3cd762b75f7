"""What every lab uses: the context a scenario is made in, and reading and judging answers."""

from __future__ import annotations

import random
import re
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import requests

from elasticsearch import ApiError, Elasticsearch, TransportError
from loadgen import __version__
from loadgen.cli import explain_elasticsearch
from loadgen.elastic import INDEX_PATTERN

USER_AGENT = f"trackstack-labs/{__version__} (synthetic)"
FRONT, ORDERS = "trackstack-service", "trackstack-orders"
Count = Callable[[dict[str, Any]], int]  # documents matching a query (Elasticsearch's _count)


@dataclass(frozen=True)
class Scenario:
    """What `create` made: the briefing to print, its facts (public), the expected answer, and
    the shell variables the lab page's commands use (``ID``, ``REQUEST``...), which `make lab`
    prints as one line to paste, so a random choice reaches every command the page shows."""

    briefing: str
    facts: dict[str, Any]
    expected: dict[str, Any]
    variables: dict[str, str] = field(default_factory=dict)

    def shell_line(self) -> str:
        """``ID=abc REQUEST='/api/item?sku=lab-1'``: bash assignments, quoted where needed."""
        return " ".join(f"{name}={shlex.quote(value)}" for name, value in self.variables.items())


@dataclass(frozen=True)
class Verdict:
    passed: bool
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{'PASS' if self.passed else 'FAIL'}: {self.message}"
        return f"{text}\nhint: {self.hint}" if self.hint else text


@dataclass
class Outage:
    """Lab 6's timing: traffic before, the extra seconds Elasticsearch stays down, after."""

    before_s: float = 10.0
    down_s: float = 20.0
    after_s: float = 10.0
    rate: float = 5.0


@dataclass
class Context:
    """What a lab's `create` works with: the service, Elasticsearch, a random source."""

    service: str
    es: Elasticsearch
    rng: random.Random
    outage: Outage = field(default_factory=Outage)
    http: requests.Session = field(default_factory=requests.Session)

    def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        timeout_s: float = 30,
    ) -> requests.Response:
        return self.http.request(
            method,
            f"{self.service}{path}",
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            json=body,
            timeout=timeout_s,
        )

    def crowd(
        self,
        customer: Callable[[], requests.Response],
        others: int,
        decoys: Sequence[Callable[[], requests.Response]] = (),
    ) -> requests.Response:
        """The customer's request amid ``others`` ordinary ones and the decoys, 6 at a time."""
        calls = [self.ordinary() for _ in range(others)] + list(decoys)
        self.rng.shuffle(calls)
        calls.insert(self.rng.randint(0, len(calls)), customer)
        with ThreadPoolExecutor(6) as pool:
            answers = [pool.submit(call) for call in calls]
        return answers[calls.index(customer)].result()

    def ordinary(self) -> Callable[[], requests.Response]:
        """One request of an everyday mix, chosen now (the random source is not thread-safe)."""
        n = self.rng.randint(1, 9999)
        return self.rng.choice(
            [
                partial(self.send, "GET", "/api/names"),
                partial(self.send, "GET", "/api/users"),
                partial(self.send, "GET", f"/api/item?sku=sku-{n}"),
                partial(self.send, "GET", f"/api/orders/{n}"),
                partial(self.send, "POST", "/api/jobs"),
                partial(self.send, "POST", "/api/login", body={"username": "ada", "password": "x"}),
            ]
        )

    def wait_for(self, tracking_id: str, documents: int, timeout_s: float = 30) -> None:
        """Until Elasticsearch finds ``documents`` lines of the request (so the lab can start)."""
        deadline = time.monotonic() + timeout_s
        found = 0
        said = False
        problem = ""
        while time.monotonic() < deadline:
            try:
                found = count_in(self.es)({"term": {"tracking_id": tracking_id}})
                problem = "is Filebeat running? (make native-status)"
            except (ApiError, TransportError) as exc:
                found, problem = 0, explain_elasticsearch(exc)
            if found >= documents:
                return
            if not said:
                print(
                    # never the count: counting the lines is what some labs ask
                    f"lab: waiting (up to {timeout_s:g} s) until Elasticsearch finds every"
                    " line of the request, so the lab starts complete...",
                    flush=True,
                )
                said = True
            time.sleep(0.5)
        print(
            f"lab: warning: not every line of {tracking_id} was searchable after"
            f" {timeout_s:g} s; {problem}",
            file=sys.stderr,
        )


def utc_now() -> str:
    """Now in UTC, ISO 8601 to the millisecond (as @timestamp): 2026-11-21T18:44:03.392Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def count_in(es: Elasticsearch) -> Count:
    return lambda query: int(es.count(index=INDEX_PATTERN, query=query)["count"])


# --- reading answers ----------------------------------------------------------------------------


def normalize(text: str) -> str:
    return " ".join(text.strip().strip("'\"`").lower().split())


def parse_fields(answer: str, keys: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs (``,`` ``;`` or spaces between them; values may contain spaces);
    a bare value counts for the first key."""
    pattern = r"(?:^|[\s,;]+)(" + "|".join(map(re.escape, keys)) + r")\s*[=:]\s*"
    parts = re.split(pattern, answer.strip(), flags=re.IGNORECASE)
    values = {keys[0]: parts[0]} if parts[0].strip() else {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        values[key.lower()] = value
    return {key: normalize(value) for key, value in values.items() if normalize(value)}


def service_name(text: str) -> str:
    """A service as answers write it: ``orders``, ``Trackstack-Orders`` and ``trackstack-orders``
    all mean trackstack-orders (the short name is unambiguous; service.name is the full one)."""
    value = normalize(text)
    for name in (FRONT, ORDERS):
        if value in (name, name.removeprefix("trackstack-")):
            return name
    return value


def number(text: str | None) -> float | None:
    match = re.fullmatch(r"~?\s*(\d+(?:\.\d+)?)\s*(?:ms|lines?|requests?)?", text or "")
    return float(match[1]) if match else None


def to_number(text: str) -> float:
    """``number`` for a value ``incomplete`` already accepted; ValueError otherwise."""
    value = number(text)
    if value is None:
        raise ValueError(f"not a number: {text!r}")
    return value


def incomplete(
    answer_form: str, values: Mapping[str, str], keys: Sequence[str], numbers: Sequence[str] = ()
) -> Verdict | None:
    """The FAIL for an answer that lacks one of ``keys`` or gives a non-number for one of
    ``numbers`` (naming exactly which), else None."""
    absent = [key for key in keys if key not in values]
    if absent:
        return Verdict(False, f"the answer needs {', '.join(absent)}", f"answer as: {answer_form}")
    bad = [f"{key}={values[key]!r}" for key in numbers if number(values[key]) is None]
    if bad:
        return Verdict(
            False, f"not a number: {', '.join(bad)}", f"give a count, e.g. answer as: {answer_form}"
        )
    return None
