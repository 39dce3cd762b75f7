"""`make bench-capacity`: the highest request rate the native stack holds with nothing lost.

Steps the rate up (``--rates``, each ``--duration`` s) with the project's own load generator
(``python -m loadgen load``: the full traffic mix, every tracking ID recorded and watched
until searchable), then accounts for every line of the step with the soak's ledger
(``soak.ledger``: lines the service wrote = documents in Elasticsearch, per tracking
ID; fewer = lost, more = duplicated). A step holds when its achieved rate is >= 95 % of the
target, nothing is lost or duplicated, and time to searchable p95 is <= ``--tts-p95`` s.

Meanwhile it reads each component's CPU time from ``/proc/<pid>/stat`` (utime + stime of the
process and its children still running) at the start and end of the step: the service's
gunicorn workers, orders (uvicorn), Filebeat, Elasticsearch (+ esfront), and the load
generator (``python -m loadgen load`` and its Locust processes), and "other": the whole
machine's busy CPU (``/proc/stat``) minus all of these, what other programs took meanwhile.
CPU share = CPU seconds / wall seconds over the steady middle of the step, so 1.0 is one core
of ``os.cpu_count()``.

Before the steps, ``--warmup`` seconds (180) of load at the first rate, reported on its own
line and in ``warmup.json``, never counted as a step: after a start, Elasticsearch's JIT
compiler (HotSpot's C2 threads) works for minutes. Measured after a fresh ``make native-up``
at 200 req/s: Elasticsearch used 0.78, 0.66, 0.46, 0.39 and 0.35 cores in minutes 1 to 5, its
C2 threads 11.9, 6.2 and 3.8 CPU s in minutes 3 to 5, and time to searchable p95 was 7.65 s
in minute 1, 0.76-0.93 s in minutes 2 to 5 (docs/PERFORMANCE.md).

Writes ``capacity.json``, ``capacity.txt`` and ``capacity.png`` into ``--out`` (a new
``runs/capacity-<time>/`` by default). Prints figures; decides nothing on absolute times
except the step's own holding rule above.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen.watch import POLL_S, watch_poll
from setup.project import PollTimeout, poll_until

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / ".run"
TICK = os.sysconf("SC_CLK_TCK")
# component -> the pid files whose process trees are that component (native/*.sh write them)
PIDFILES = {
    "service": ["service/trackstack-service.pid"],
    "orders": ["service/trackstack-orders.pid"],
    "filebeat": ["filebeat/filebeat.pid"],
    "elasticsearch": ["elasticsearch/elasticsearch.pid", "esfront/esfront.pid"],
}
COMPONENTS = [*PIDFILES, "loadgen"]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant still running."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, all its threads (proc(5), stat fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def component_pids() -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {}
    for name, files in PIDFILES.items():
        pids[name] = []
        for relative in files:
            path = RUN / relative
            if not path.exists():
                continue
            text = "".join(ch for ch in path.read_text() if ch.isdigit())
            if text:
                pids[name] += tree(int(text))
    missing = [name for name in ("service", "filebeat", "elasticsearch") if not pids[name]]
    if missing:
        raise SystemExit(f"capacity: {', '.join(missing)} not running: make native-up first")
    return pids


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far, all cores (proc(5), /proc/stat "cpu":
    user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


def cpu_now(pids: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    return {name: {pid: cpu_seconds(pid) for pid in group} for name, group in pids.items()}


def cpu_used(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], name: str
) -> float:
    """CPU seconds ``name``'s processes used between two ``cpu_now`` readings; a process that
    started in between counts from zero."""
    return sum(cpu - before[name].get(pid, 0.0) for pid, cpu in after[name].items())


def latest_run(runs: Path, before: set[Path]) -> Path:
    new = [p for p in runs.iterdir() if p.is_dir() and p not in before]
    if len(new) != 1:
        raise SystemExit(f"capacity: expected one new run folder in {runs}, found {new}")
    return new[0]


def account(run_dir: Path, since: Any) -> dict[str, Any]:
    """Lost and duplicated lines, time to searchable, achieved rate of one load run."""
    from loadgen import manifest, report
    from loadgen.elastic import connect
    from loadgen.verify import BATCH, expected_by_id
    from soak import ledger as soak_ledger

    records = manifest.read(run_dir)
    expected = expected_by_id(records)
    es = connect()
    since_ms = min(r.sent_ms for r in records) - 60_000
    items = list(expected.values())
    counted: list[Any] = []

    def balanced() -> bool:
        lines = soak_ledger.read_lines(set(expected), since)
        found: dict[str, Any] = {}
        for start in range(0, len(items), BATCH):
            found |= soak_ledger.search_found(es, items[start : start + BATCH], since_ms)
        tally = soak_ledger.Tally.of(soak_ledger.balances(expected, lines, found), list(expected))
        counted[:] = [lines, tally]
        return tally.lost_ids == 0 and tally.duplicated == 0

    # Late arrivals: count until every line is accounted for, or 60 s; the last count stands.
    with contextlib.suppress(PollTimeout):
        poll_until(balanced, 60, "every line accounted for", every_s=2, retry_on=())
    lines, tally = counted
    tts = report.Spread.of(
        list(report.time_to_searchable_s(records, manifest.read_sightings(run_dir)).values())
    )
    info = manifest.read_info(run_dir)
    failures = sum(not report.is_ok(r) for r in records)
    return {
        "requests": len(records),
        "achieved_rate": info.get("achieved_rate"),
        "failed_requests": failures,
        "ids": tally.ids,
        "lines": tally.lines,
        "documents": tally.docs,
        "lost_ids": tally.lost_ids,
        "lost_lines": tally.lost_lines,
        "duplicated": tally.duplicated,
        "not_json": len(lines.not_json),
        "tts_p50_s": tts.p50 if tts else None,
        "tts_p95_s": tts.p95 if tts else None,
        "tts_timed": tts.count if tts else 0,
    }


def tree_cpu(pids: Iterable[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for root in pids for pid in tree(root)}


def step(
    rate: float,
    duration: int,
    runs: Path,
    settle: float,
    entries: Sequence[str] = (),
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """One load run at ``rate``; CPU is measured over the middle of its sending window (from
    3 s after Locust starts to 2 s before it stops), when the rate is steady."""
    from soak import ledger as soak_ledger

    pids = component_pids()
    since = soak_ledger.snapshot()
    before_dirs = set(runs.iterdir()) if runs.exists() else set()
    command = [sys.executable, "-m", "loadgen", "load", "--rate", str(rate)]
    command += ["--duration", str(duration), "--settle", str(settle), "--runs-dir", str(runs)]
    command += ["--entries", *entries] if entries else []
    command += ["--watch-poll", str(poll_s)]
    with (runs / f"load-{rate:g}.log").open("w") as log:
        load = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(5)  # Python and Locust start, users ramp up
        cpu_before = cpu_now(pids) | {"loadgen": tree_cpu([load.pid])}
        busy_before = machine_busy()
        started = time.monotonic()
        time.sleep(max(duration - 7, 1))
        cpu_after = cpu_now(pids) | {"loadgen": tree_cpu([load.pid])}
        busy = (machine_busy() - busy_before) / (time.monotonic() - started)
        window = time.monotonic() - started
        load.wait()
    # A process that started inside the window (Locust, a new worker) counts from zero.
    share = {name: cpu_used(cpu_before, cpu_after, name) / window for name in COMPONENTS}
    run_dir = latest_run(runs, before_dirs)
    result: dict[str, Any] = {"target_rate": rate, "duration_s": duration}
    result["entries"] = list(entries) or "all"
    result["watch_poll_s"] = poll_s
    result |= account(run_dir, since)
    result["cpu_share"] = {k: round(v, 3) for k, v in share.items()}
    # Everything else the machine ran meanwhile (other stacks, tests): what was left to us.
    result["cpu_other"] = round(max(busy - sum(share.values()), 0.0), 3)
    result["cpu_window_s"] = round(window, 1)
    result["load_exit"] = load.returncode
    result["run"] = str(run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return result


def warm_up(
    rate: float,
    seconds: int,
    runs: Path,
    out: Path,
    entries: Sequence[str] = (),
    poll_s: float = POLL_S,
) -> str | None:
    """``seconds`` of load at ``rate`` before any measured step (module docstring: the JIT);
    its figures go to ``out/warmup.json``; returns the line it printed (None when ``seconds``
    is 0, and nothing runs)."""
    if seconds <= 0:
        return None
    print(f"warm-up: {seconds} s at {rate:g} req/s (not a step)", flush=True)
    result = step(rate, seconds, runs, 5.0, entries, poll_s)
    (out / "warmup.json").write_text(json.dumps(result, indent=2) + "\n")
    line = (
        f"warm-up: {seconds} s at {rate:g} req/s (not a step): achieved"
        f" {result['achieved_rate']:.1f} req/s, lost {result['lost_ids']}, dup"
        f" {result['duplicated']}, time to searchable p95 {result['tts_p95_s']:.2f} s,"
        f" Elasticsearch {result['cpu_share']['elasticsearch']:.2f} cores"
    )
    print(line, flush=True)
    return line


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """``--warmup`` and ``--watch-poll``, alike in every bench that runs load steps."""
    parser.add_argument(
        "--warmup", type=int, default=180, help="seconds of load before the steps (180; 0: none)"
    )
    parser.add_argument(
        "--watch-poll",
        type=watch_poll,
        default=POLL_S,
        metavar="SECONDS",
        help=f"seconds between the load's searches for its IDs ({POLL_S:g}; loadgen load's)",
    )


def holds(result: dict[str, Any], tts_p95: float) -> bool:
    achieved = result["achieved_rate"] or 0
    p95 = result["tts_p95_s"]
    return (
        achieved >= 0.95 * result["target_rate"]
        and result["lost_ids"] == 0
        and result["duplicated"] == 0
        and result["not_json"] == 0
        and p95 is not None
        and p95 <= tts_p95
    )


def table(results: Iterable[dict[str, Any]], tts_p95: float) -> list[str]:
    head = (
        f"{'target':>6} {'achieved':>8} {'lost':>4} {'dup':>4} {'tts p95':>7} {'holds':>5}  "
        + " ".join(f"{c:>13}" for c in COMPONENTS)
        + "  other  load avg"
    )
    rows = [head]
    for r in results:
        p95 = r["tts_p95_s"]
        rows.append(
            f"{r['target_rate']:>6g} {r['achieved_rate'] or 0:>8.1f} {r['lost_ids']:>4}"
            f" {r['duplicated']:>4} {p95 if p95 is not None else float('nan'):>7.2f}"
            f" {'yes' if holds(r, tts_p95) else 'no':>5}  "
            + " ".join(f"{r['cpu_share'][c]:>13.2f}" for c in COMPONENTS)
            + f"  {r.get('cpu_other', float('nan')):>5.2f}  {r['load_average'][0]:.2f}"
        )
    return rows


def picture(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['target_rate']:g}\n({r['achieved_rate'] or 0:.0f})" for r in results]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bottom = [0.0] * len(results)
    for component in COMPONENTS:
        values = [r["cpu_share"][component] for r in results]
        ax.bar(labels, values, bottom=bottom, label=component)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    others = [r.get("cpu_other", 0.0) for r in results]
    ax.bar(labels, others, bottom=bottom, label="not this stack", color="lightgrey")
    ax.axhline(os.cpu_count() or 1, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("target req/s (achieved)")
    ax.set_ylabel("CPU (cores)")
    ax.set_title("CPU per component at each step (dashed: cores in the machine)")
    ax.legend(fontsize="small", loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 400, 800, 1200, 1600])
    parser.add_argument("--duration", type=int, default=60, help="seconds per step (60)")
    parser.add_argument("--settle", type=float, default=10.0)
    add_load_options(parser)
    parser.add_argument("--tts-p95", type=float, default=2.0, help="seconds (2)")
    parser.add_argument("--out", type=Path, help="folder for the results (runs/capacity-<time>)")
    parser.add_argument(
        "--entries",
        nargs="+",
        default=[],
        metavar="ENTRY",
        help="only these rows of the traffic mix (all), e.g. health: the service's cheapest path",
    )
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or ROOT / "runs" / f"capacity-{stamp}"
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    from loadgen import mix

    try:
        traffic = ", ".join(entry.name for entry in mix.only(args.entries))
    except ValueError as exc:
        raise SystemExit(f"capacity: {exc}") from exc
    print(f"capacity: {os.cpu_count()} CPUs; steps {args.rates} x {args.duration} s; into {out}")
    print(f"capacity: traffic {'the full mix' if not args.entries else traffic}")
    warmed = warm_up(args.rates[0], args.warmup, runs, out, args.entries, args.watch_poll)
    results: list[dict[str, Any]] = []
    for rate in args.rates:
        results.append(step(rate, args.duration, runs, args.settle, args.entries, args.watch_poll))
        rows = table(results, args.tts_p95)
        print("\n".join(rows if len(results) == 1 else rows[-1:]), flush=True)
        (out / "capacity.json").write_text(json.dumps(results, indent=2) + "\n")
    held = [r for r in results if holds(r, args.tts_p95)]
    best = max(held, key=lambda r: r["target_rate"]) if held else None
    lines = [
        f"capacity of the native stack, {os.cpu_count()} CPUs, {args.duration} s steps"
        f" (CPU share: cores, from /proc/<pid>/stat); traffic: {traffic}; watch polls every"
        f" {args.watch_poll:g} s",
        *([warmed] if warmed else []),
        *table(results, args.tts_p95),
        "",
    ]
    if best is None:
        lines.append("no step held (0 lost, 0 duplicated, time to searchable p95 within bound)")
    else:
        top = max(COMPONENTS, key=lambda c: best["cpu_share"][c])
        lines.append(
            f"highest rate held: {best['target_rate']:g} req/s target"
            f" ({best['achieved_rate']:.1f} achieved), 0 lost, 0 duplicated, time to"
            f" searchable p95 {best['tts_p95_s']:.2f} s; largest CPU user there: {top}"
            f" ({best['cpu_share'][top]:.2f} cores)"
        )
    (out / "capacity.txt").write_text("\n".join(lines) + "\n")
    picture(results, out / "capacity.png")
    print("\n".join(lines))
    print(f"capacity: {out}/capacity.txt, capacity.json, capacity.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
