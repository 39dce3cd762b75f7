"""`make lab` and `make lab-check`: python -m workshop create <N> | check <N> <answer>."""

from __future__ import annotations

import argparse
import random
import sys

import requests

from loadgen import cli
from loadgen.elastic import INDEX_PATTERN, connect
from loadgen.load import service_url
from workshop import LABS, check, create
from workshop.kit import Context, Outage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workshop", description="Workshop labs: create one, check an answer."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="make lab N's situation with fresh data")
    made.add_argument("lab", type=int, choices=sorted(LABS))
    made.add_argument("--seed", type=int, help="repeat a random choice (default: fresh)")
    made.add_argument("--before", type=float, default=10, help="lab 6: seconds before the stop")
    made.add_argument("--down", type=float, default=20, help="lab 6: extra seconds stopped")
    made.add_argument("--after", type=float, default=10, help="lab 6: seconds after the start")
    checked = commands.add_parser("check", help="check an answer to lab N")
    checked.add_argument("lab", type=int, choices=sorted(LABS))
    checked.add_argument("answer", nargs="?", default="")
    args = parser.parse_args(argv)
    return cli.run_quietly("lab" if args.command == "create" else "lab-check", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    lab = LABS[args.lab]
    if args.command == "check":
        if not args.answer.strip():
            print(f"usage: make lab-check N={args.lab} ANSWER='{lab.answer_form}'", file=sys.stderr)
            return 2
        try:
            verdict = check(args.lab, args.answer)
        except FileNotFoundError as exc:
            print(f"lab-check: {exc}", file=sys.stderr)
            return 2
        print(f"lab {args.lab}, {lab.title}: {verdict}")
        return 0 if verdict.passed else 1
    ctx = Context(
        service_url(),
        connect(),
        random.Random(args.seed),  # noqa: S311 - lab data, not secrets
        Outage(args.before, args.down, args.after),
    )
    try:
        ctx.send("GET", "/api/health", timeout_s=5).raise_for_status()
    except requests.RequestException:
        print(f"lab: {cli.unreachable('the service', ctx.service)}", file=sys.stderr)
        return 2
    ctx.es.count(index=INDEX_PATTERN)  # Elasticsearch down: named before any traffic is sent
    print(f"lab {args.lab}: {lab.title}  (workshop/lab{args.lab}.md)", flush=True)
    try:
        scenario = create(args.lab, ctx)
    except RuntimeError as exc:  # lab 6: stopping or starting Elasticsearch failed
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    print(f"\n{scenario.briefing}\n")
    if scenario.variables:
        print("for the commands on the lab page, paste this line into your shell first:")
        print(f"  {scenario.shell_line()}\n")
    print(f"answer with:  make lab-check N={args.lab} ANSWER='{lab.answer_form}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
