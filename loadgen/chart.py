"""summary.png: a run at a glance. Top: every request's latency over the run (log scale),
with p50 and p95 per second. Bottom: the histogram of time to searchable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from loadgen import report
from loadgen.manifest import Record

PICTURE = "summary.png"


def per_second(records: Sequence[Record], start_ms: float) -> tuple[list[float], ...]:
    """(second, p50 ms, p95 ms) for each second of the run that sent something."""
    buckets: dict[int, list[float]] = {}
    for record in records:
        buckets.setdefault(int((record.sent_ms - start_ms) // 1000), []).append(record.latency_ms)
    seconds = sorted(buckets)
    return (
        [s + 0.5 for s in seconds],
        [report.percentile(buckets[s], 50) for s in seconds],
        [report.percentile(buckets[s], 95) for s in seconds],
    )


def render(run_dir: Path, records: Sequence[Record], tts_s: Mapping[str, float]) -> Path:
    # Imported here, not at the top: it takes a second, and only drawing needs it.
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    start = min(r.sent_ms for r in records)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), layout="constrained")
    fine = [r for r in records if report.is_ok(r)]
    bad = [r for r in records if not report.is_ok(r)]
    top.scatter(
        [(r.sent_ms - start) / 1000 for r in fine],
        [max(r.latency_ms, 0.1) for r in fine],
        s=6,
        alpha=0.35,
        color="tab:blue",
        label=f"request ({len(fine)})",
    )
    if bad:
        top.scatter(
            [(r.sent_ms - start) / 1000 for r in bad],
            [max(r.latency_ms, 0.1) for r in bad],
            s=14,
            marker="x",
            color="tab:red",
            label=f"unexpected answer ({len(bad)})",
        )
    seconds, p50, p95 = per_second(records, start)
    top.plot(seconds, p50, color="tab:green", label="p50 per second")
    top.plot(seconds, p95, color="tab:orange", label="p95 per second")
    top.set_yscale("log")
    top.set_xlabel("seconds since the first request")
    top.set_ylabel("latency (ms, log scale)")
    top.set_title(f"{run_dir.name}: {len(records)} requests")
    top.legend(loc="upper right", fontsize="small")
    top.grid(alpha=0.3)

    values = sorted(tts_s.values())
    if values:
        bottom.hist(values, bins=min(40, max(5, len(values) // 10)), color="tab:purple")
        for q, style in ((50, "--"), (95, ":"), (99, "-.")):
            at = report.percentile(values, q)
            bottom.axvline(at, color="black", linestyle=style, label=f"p{q} {at:.2f} s")
        bottom.legend(loc="upper right", fontsize="small")
        bottom.set_title(
            f"time to searchable: response received -> first search that finds the ID"
            f" ({len(values)} IDs)"
        )
    else:
        bottom.text(0.5, 0.5, "time to searchable was not measured", ha="center")
        bottom.set_title("time to searchable")
    bottom.set_xlabel("seconds")
    bottom.set_ylabel("tracking IDs")
    bottom.grid(alpha=0.3)
    path = run_dir / PICTURE
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
