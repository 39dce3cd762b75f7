"""Time to searchable and Elasticsearch's indexing cost for several refresh intervals.

``python -m bench.refresh --intervals 1s 500ms 250ms --rate 200 --duration 40``: on the
running native stack, for each interval in turn (rounds alternate the order), sets
``index.refresh_interval`` on the live trackstack-logs-* indices (a dynamic setting), then runs
one step of ``bench.capacity`` (the project's load generator with its time-to-searchable
watch, the ledger's lost/duplicated count, CPU per component). Elasticsearch's CPU per
document (CPU seconds / documents indexed in the step) is the indexing cost of the interval.

Restores the interval it found (or the template's) at the end. Prints figures, decides
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.capacity import ROOT, add_load_options, step, warm_up
from loadgen.elastic import INDEX_PATTERN, connect


def set_interval(es: Any, interval: str | None) -> None:
    es.indices.put_settings(index=INDEX_PATTERN, settings={"index": {"refresh_interval": interval}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", nargs="+", default=["1s", "500ms", "250ms"])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path)
    add_load_options(parser)
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or ROOT / "runs" / f"refresh-{stamp}"
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    es = connect("elastic")
    found = es.indices.get_settings(index=INDEX_PATTERN, name="index.refresh_interval")
    before = next((s["settings"]["index"].get("refresh_interval") for s in found.values()), None)
    results: list[dict[str, Any]] = []
    order = list(args.intervals)
    print(
        f"refresh: {os.cpu_count()} CPUs, {args.rate:g} req/s x {args.duration} s per step;"
        f" watch polls every {args.watch_poll:g} s"
    )
    warm_up(args.rate, args.warmup, runs, out, poll_s=args.watch_poll)
    try:
        for _ in range(args.rounds):
            for interval in order:
                set_interval(es, interval)
                result = step(args.rate, args.duration, runs, settle=5.0, poll_s=args.watch_poll)
                # cores / (documents per second): CPU µs Elasticsearch spends per document
                per_doc = result["cpu_share"]["elasticsearch"] / (
                    max(result["documents"], 1) / result["duration_s"]
                )
                result |= {"refresh_interval": interval, "es_cpu_us_per_doc": per_doc * 1e6}
                results.append(result)
                print(
                    f"  {interval:>6}: achieved {result['achieved_rate']:.1f} req/s,"
                    f" time to searchable p50 {result['tts_p50_s']:.2f} s"
                    f" p95 {result['tts_p95_s']:.2f} s, lost {result['lost_ids']},"
                    f" dup {result['duplicated']}, Elasticsearch"
                    f" {result['cpu_share']['elasticsearch']:.2f} cores"
                    f" ({result['es_cpu_us_per_doc']:.0f} CPU us/document),"
                    f" load average {result['load_average'][0]:.1f}",
                    flush=True,
                )
            order.reverse()
    finally:
        set_interval(es, before)
    (out / "refresh.json").write_text(json.dumps(results, indent=2) + "\n")
    print("medians:")
    for interval in dict.fromkeys(args.intervals):  # each once, however often it ran
        mine = [r for r in results if r["refresh_interval"] == interval]
        p95 = statistics.median(r["tts_p95_s"] for r in mine)
        share = statistics.median(r["cpu_share"]["elasticsearch"] for r in mine)
        per_doc = statistics.median(r["es_cpu_us_per_doc"] for r in mine)
        print(
            f"  {interval:>6}: time to searchable p95 {p95:.2f} s, Elasticsearch {share:.2f}"
            f" cores, {per_doc:.0f} CPU us/document"
        )


if __name__ == "__main__":
    main()
