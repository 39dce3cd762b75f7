"""What every lab uses: the context a scenario is made in, and reading and judging answers."""

from __future__ import annotations

import random
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from http import HTTPStatus
from typing import Any

import requests

from elasticsearch import ApiError, Elasticsearch, TransportError
from loadgen import __version__
from loadgen.cli import explain_elasticsearch
from setup.project import INDEX_PATTERN, PollTimeout, poll_until

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
        said = False
        problem = ""

        def complete() -> bool:
            nonlocal said, problem
            try:
                found = count_in(self.es)({"term": {"tracking_id": tracking_id}})
                problem = "is Filebeat running? (make native-status)"
            except (ApiError, TransportError) as exc:
                found, problem = 0, explain_elasticsearch(exc)
            if found >= documents:
                return True
            if not said:
                print(
                    # never the count: counting the lines is what some labs ask
                    f"lab: waiting (up to {timeout_s:g} s) until Elasticsearch finds every"
                    " line of the request, so the lab starts complete...",
                    flush=True,
                )
                said = True
            return False

        try:
            poll_until(complete, timeout_s, f"the lines of {tracking_id}", 0.5, retry_on=())
        except PollTimeout:
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


def parse_fields(
    answer: str, keys: Sequence[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``key=value`` pairs (``key: value`` too; ``,`` ``;`` or spaces between them; values may
    contain spaces); a bare value counts for the first key, and so does one written after the
    first key and a space (``coupon LEGACY-4821``). ``aliases`` maps other names of a key to it:
    the field the answer form names (``service.name`` for ``service``), so an answer that
    writes the field's name is read as the key it means, not as a bare value."""
    names = {key: key for key in keys} | {
        alias.lower(): key for alias, key in (aliases or {}).items()
    }
    spelled = "|".join(map(re.escape, sorted(names, key=len, reverse=True)))
    text = answer.strip()
    first = [re.escape(name) for name, key in names.items() if key == keys[0]]
    text = re.sub(rf"^({'|'.join(first)})\s+(?=[^\s=:])", r"\1=", text, flags=re.IGNORECASE)
    parts = re.split(rf"(?:^|[\s,;]+)({spelled})\s*[=:]\s*", text, flags=re.IGNORECASE)
    values = {keys[0]: parts[0]} if parts[0].strip() else {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        values[names[key.lower()]] = value
    return {key: normalize(value) for key, value in values.items() if normalize(value)}


def service_name(text: str) -> str:
    """A service as answers write it: ``orders``, ``Trackstack-Orders``, ``trackstack_orders``
    and ``trackstack orders`` all mean trackstack-orders (the short name is unambiguous;
    service.name is the full one)."""
    value = "-".join(normalize(text).replace("_", " ").replace("-", " ").split())
    for name in (FRONT, ORDERS):
        if value in (name, name.removeprefix("trackstack-")):
            return name
    return value


def services_named(text: str) -> set[str]:
    """The services an answer names when it lists several (``orders and service``,
    ``trackstack-service, trackstack-orders``): each part read by `service_name`."""
    parts = re.split(r"\s*(?:,|/|&|\+|\band\b|\bor\b)\s*", normalize(text))
    return {service_name(part) for part in parts if part} & {FRONT, ORDERS}


@dataclass(frozen=True)
class Number:
    """How an answer writes one number: ``what`` it is (the FAIL's hint says "give <what>",
    with ``example``), the units it may carry, each with its factor to the answer's own unit
    (a plural ``s`` is allowed; none: a bare number only), whether it is exact (a count or a
    status code: whole, no ``~``), and whether it may carry its HTTP reason phrase
    (``404 Not Found``, ``HTTP 404``: RFC 9110, section 15)."""

    what: str
    example: str
    units: Mapping[str, float] = field(default_factory=dict)
    exact: bool = True
    phrase: bool = False

    def read(self, text: str) -> tuple[float | None, str]:
        """(the value in the answer's own unit, "") or (None, why ``text`` is not one of these)."""
        text = text.rstrip(".!;, ")  # the end of a sentence: "500." or "6 lines."
        if self.phrase:
            text = re.sub(r"^http(?:/\d(?:\.\d)?)?\s*", "", text)
        match = re.fullmatch(r"(~\s*)?(\d+(?:\.\d+)?)\s*(.*)", text)
        if not match:
            return None, "not a number"
        approx, digits, rest = match.groups()
        value = float(digits)
        if self.phrase:
            try:
                phrase = HTTPStatus(int(value)).phrase if value.is_integer() else ""
            except ValueError:
                phrase = ""
            if not phrase:
                return None, "not an HTTP status code"
            if rest and " ".join(re.sub(r"[^a-z]+", " ", rest).split()) != phrase.lower():
                return None, f"{rest!r} is not {value:g}'s reason phrase ({phrase})"
        elif rest:
            unit = rest if rest in self.units else rest.removesuffix("s")
            if unit not in self.units:
                return None, f"{rest} is not a unit of {self.what}"
            value *= self.units[unit]
        if self.exact and (approx or not value.is_integer()):
            return None, f"not exact ({self.what} is a whole number)"
        return value, ""

    def value(self, text: str) -> float:
        """`read` for a text `incomplete` already accepted; ValueError otherwise."""
        value, problem = self.read(text)
        if value is None:
            raise ValueError(f"{problem}: {text!r}")
        return value


LINES = Number("a count of lines", "6", {"line": 1, "document": 1})
REQUESTS = Number("a count of requests", "120", {"request": 1, "access line": 1, "line": 1})
STATUS = Number("an HTTP status code", "404, or 404 Not Found", phrase=True)
MILLISECONDS = Number(
    "a duration in milliseconds",
    "1234, ~1234 ms or 1.2 s",
    {
        "ms": 1,
        "millisecond": 1,
        "s": 1000,
        "sec": 1000,
        "second": 1000,
        "ns": 1e-6,
        "nanosecond": 1e-6,
    },
    exact=False,
)


def incomplete(
    answer_form: str,
    values: Mapping[str, str],
    keys: Sequence[str],
    numbers: Mapping[str, Number] | None = None,
) -> Verdict | None:
    """The FAIL for an answer that lacks one of ``keys`` or gives one of ``numbers`` in a form
    its `Number` does not read (naming exactly which, and why), else None."""
    absent = [key for key in keys if key not in values]
    if absent:
        return Verdict(False, f"the answer needs {', '.join(absent)}", f"answer as: {answer_form}")
    numbers = numbers or {}
    bad = [
        (key, problem)
        for key, spec in numbers.items()
        for problem in [spec.read(values[key])[1]]
        if problem
    ]
    if bad:
        return Verdict(
            False,
            "; ".join(f"{problem}: {key}={values[key]!r}" for key, problem in bad),
            "; ".join(f"give {numbers[key].what}, e.g. {numbers[key].example}" for key, _ in bad)
            + f"; answer as: {answer_form}",
        )
    return None


def plural(count: float, noun: str) -> str:
    """``1 line``, ``6 lines``, ``2.5 lines``."""
    return f"{count:g} {noun}" if count == 1 else f"{count:g} {noun}s"
