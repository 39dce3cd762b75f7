"""Workshop labs (README.md here): `make lab N=...` and `make lab-check N=... ANSWER=...`.

    python -m workshop create <N>           # the lab's situation, with fresh data each run
    python -m workshop check <N> <answer>   # PASS or FAIL with a hint (exit 0 / 1)

``create`` sends requests to the running stack (SERVICE_URL), waits until Elasticsearch finds
them, prints the briefing (what the "customer" says, the question, the answer's form) and
writes two files under LABS_DIR (default .run/labs/): ``lab<N>.json``, the briefing's facts
(tracking IDs, times), and ``lab<N>.answer.json``, the expected answer, which attendees are
not meant to open. ``check`` compares an answer with that file; lab 4's also asks
Elasticsearch whether the attendee really sent their debug request. One module per lab
(``lab1.py`` ... ``lab6.py``: its ``create`` and ``check``), beside its page (``lab1.md`` ...);
``kit.py`` has what they share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.elastic import REPO, connect
from workshop import lab1, lab2, lab3, lab4, lab5, lab6
from workshop.kit import Context, Count, Scenario, Verdict, count_in, utc_now


@dataclass(frozen=True)
class Lab:
    title: str
    answer_form: str
    create: Callable[[Context], Scenario]
    check: Callable[[Mapping[str, Any], str, Count], Verdict]


LABS: dict[int, Lab] = {
    number: Lab(module.TITLE, module.ANSWER_FORM, module.create, module.check)
    for number, module in enumerate((lab1, lab2, lab3, lab4, lab5, lab6), start=1)
}


def labs_dir() -> Path:
    return Path(os.environ.get("LABS_DIR", REPO / ".run" / "labs"))


def facts_path(lab: int) -> Path:
    return labs_dir() / f"lab{lab}.json"


def answer_path(lab: int) -> Path:
    return labs_dir() / f"lab{lab}.answer.json"


def create(lab: int, ctx: Context) -> Scenario:
    scenario = LABS[lab].create(ctx)
    labs_dir().mkdir(parents=True, exist_ok=True)
    created = utc_now()
    facts_path(lab).write_text(
        json.dumps({"lab": lab, "created": created, **scenario.facts}, indent=2) + "\n"
    )
    answer_path(lab).write_text(
        json.dumps({"lab": lab, "created": created, **scenario.expected}, indent=2) + "\n"
    )
    return scenario


def check(lab: int, answer: str, count: Count | None = None) -> Verdict:
    path = answer_path(lab)
    if not path.is_file():
        raise FileNotFoundError(f"no lab {lab} yet: run `make lab N={lab}` first")
    expected = json.loads(path.read_text())
    return LABS[lab].check(expected, answer, count or count_in(connect()))
