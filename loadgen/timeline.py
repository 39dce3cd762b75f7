"""One request's lines drawn as a timeline: a self-contained HTML page (`make trace`).

``render(tracking_id, docs, dead, now_ms)`` is a pure function from the request's documents
(as Elasticsearch returns them, oldest first) and its dead-letter documents to one HTML string
with inline CSS, SVG and a few lines of JavaScript: nothing is fetched when it is viewed (a
Content-Security-Policy with ``default-src 'none'`` and the script's hash says so to the
browser too). What the page shows:

- one lane per ``service.name``, in the order the services first appear;
- one bar per line that carries ``event.duration`` (nanoseconds, ECS): an access line
  (``event.dataset: trackstack.access``, the request as its service timed it), a
  ``dependency_call`` (the call as the caller timed it), or any other timed step (its
  ``event.action``). A line is written when its work ends, so a bar runs from
  ``@timestamp - event.duration`` to ``@timestamp``;
- nesting: within one span (``service.name`` + ``span.id``) a bar sits inside the smallest bar
  that contains it in time; a callee's access bar is the child of the ``dependency_call`` that
  waited for it (``parent.id`` when a line names its parent span, else
  ``loadgen.trace.callees``: same ``url.path``, within the call's duration);
- every other line as a marker on the innermost bar of its span at its time, numbered in
  causal order (``loadgen.trace.causal_order``); the same numbers in the list under the chart;
- errors (``error.type``, level ERROR or worse, a 5xx, ``event.outcome: failure``) in red,
  with ``error.type``/``error.message`` on hover and the whole line on click; DEBUG lines in
  grey; dead-lettered lines (refused by Elasticsearch, kept in ``trackstack-deadletter``)
  dashed and marked as such;
- times in ms from the request's first known moment (the earliest bar start or line);
- notes above the chart whenever the picture may be partial: a span without its access line,
  a call whose callee wrote nothing, a last line only seconds old, lines without a usable
  time or duration, a callee whose call is not among the lines, a truncated search.

Every text from a line is escaped (``html.escape``); the script reads no line data.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from pathlib import Path
from typing import Any

from loadgen import deadletter
from loadgen.trace import ACCESS, callees, causal_order, field

# A line younger than this may still have company on its way: Filebeat ships about a second
# after a line is written (docs/PERFORMANCE.md), a slow callee later still.
RECENT_S = 5.0
# Both ends of a bar come from millisecond stamps, and an access line is stamped when it is
# written, after the request's duration was measured (on a busy machine, milliseconds later),
# so its bar starts late: a child may poke out of its parent by that much.
CONTAIN_SLACK_MS = 5.0
PLOT_WIDTH = 960  # px for the time axis
LABEL_WIDTH = 190  # px for the lane names
ROW_HEIGHT = 34
BAR_HEIGHT = 26  # the label in its upper half, the markers on its lower edge
LANE_GAP = 14
MARKER_GAP = 9  # px between markers that share a moment, so each stays visible and clickable
ERROR_LEVELS = {"error", "critical", "fatal", "emergency", "alert"}
FILE_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(eq=False)
class Line:
    """One document as the page uses it. ``number``: position in causal order, from 1."""

    number: int
    doc: Mapping[str, Any]
    at_ms: float | None
    service: str
    span: str | None
    level: str
    message: str
    dead: str | None = None  # Elasticsearch's reason, for a dead-lettered line

    @property
    def error(self) -> bool:
        status = field(self.doc, "http.response.status_code")
        return bool(
            field(self.doc, "error.type")
            or self.level.lower() in ERROR_LEVELS
            or (isinstance(status, int) and status >= 500)
            or field(self.doc, "event.outcome") == "failure"
            or (field(self.doc, "event.action") == "dependency_call" and not status)
        )

    @property
    def debug(self) -> bool:
        return self.level.lower() == "debug"

    @property
    def warning(self) -> bool:
        return self.level.lower() in ("warn", "warning")


@dataclass(eq=False)
class Bar:
    kind: str  # request (an access line), call (dependency_call), step (any other timed line)
    line: Line
    start: float  # epoch ms
    end: float
    parent: Bar | None = None
    row: int = 0
    children: list[Bar] = dataclass_field(default_factory=list)

    @property
    def label(self) -> str:
        doc = self.line.doc
        ms = f"{self.end - self.start:.1f} ms"
        if self.kind == "request":
            status = field(doc, "http.response.status_code")
            method = field(doc, "http.request.method") or ""
            return f"{method} {field(doc, 'url.path') or ''} {status or ''} · {ms}".strip()
        if self.kind == "call":
            status = field(doc, "http.response.status_code")
            path = field(doc, "url.path") or ""
            return f"call {field(doc, 'url.domain') or ''}{path} → {status or 'failed'} · {ms}"
        return f"{field(doc, 'event.action') or self.line.message} · {ms}"

    def contains(self, other: Bar) -> bool:
        return (
            self.start - CONTAIN_SLACK_MS <= other.start
            and other.end <= self.end + CONTAIN_SLACK_MS
            and (self.end - self.start) >= (other.end - other.start)
        )


def file_name(tracking_id: str) -> str:
    """``<tracking ID>.html`` with anything but ``[A-Za-z0-9._-]`` as ``_`` (at most 128)."""
    return (FILE_SAFE.sub("_", tracking_id)[:128].lstrip(".") or "_") + ".html"


def write(folder: Path, tracking_id: str, page: str) -> Path:
    """Writes ``page`` to ``folder/<file_name>`` (creating the folder) and returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(tracking_id)
    path.write_text(page, encoding="utf-8")
    return path


def _epoch_ms(doc: Mapping[str, Any]) -> float | None:
    value = field(doc, "@timestamp")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp() * 1000
    except ValueError:
        return None


def _duration_ms(doc: Mapping[str, Any]) -> float | None:
    value = field(doc, "event.duration")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value / 1e6 if value >= 0 else None


def _line(doc: Mapping[str, Any], dead: str | None = None) -> Line:
    span = field(doc, "span.id")
    return Line(
        number=0,
        doc=doc,
        at_ms=_epoch_ms(doc),
        service=str(field(doc, "service.name") or "(no service.name)"),
        span=str(span) if span else None,
        level=str(field(doc, "log.level") or ""),
        message=str(field(doc, "message") or ""),
        dead=dead,
    )


def _order(lines: list[Line]) -> tuple[list[Line], dict[int, list[int]]]:
    """Timed lines in causal order (numbered), and ``callees`` by index into that order."""
    timed = sorted((ln for ln in lines if ln.at_ms is not None), key=lambda ln: ln.at_ms or 0.0)
    docs = [ln.doc for ln in timed]
    wraps = callees(docs)
    ordered, _ = causal_order(docs)
    by_doc = {id(ln.doc): ln for ln in timed}
    result = [by_doc[id(doc)] for doc in ordered]
    position = {id(ln.doc): i for i, ln in enumerate(result)}
    mapped = {
        position[id(docs[call])]: [position[id(docs[m])] for m in inside]
        for call, inside in wraps.items()
    }
    return result, mapped


def _adopt_spans(lines: list[Line]) -> None:
    """An access line without ``span.id`` joins the span of its service's lines written
    during its request (gunicorn writes its access line after the request's context is gone,
    with the tracking ID but without the trace fields)."""
    for ln in lines:
        duration = _duration_ms(ln.doc)
        if ln.span or ln.at_ms is None or duration is None:
            continue
        if field(ln.doc, "event.dataset") != ACCESS:
            continue
        start = ln.at_ms - duration - CONTAIN_SLACK_MS
        ln.span = next(
            (
                other.span
                for other in lines
                if other.service == ln.service
                and other.span
                and other.at_ms is not None
                and start <= other.at_ms <= ln.at_ms + CONTAIN_SLACK_MS
                and field(other.doc, "event.action") != "dependency_call"
            ),
            None,
        )


def _bar(line: Line) -> Bar | None:
    duration = _duration_ms(line.doc)
    if line.at_ms is None or duration is None:
        return None
    if field(line.doc, "event.dataset") == ACCESS:
        kind = "request"
    elif field(line.doc, "event.action") == "dependency_call":
        kind = "call"
    else:
        kind = "step"
    return Bar(kind, line, line.at_ms - duration, line.at_ms)


@dataclass
class Picture:
    """Everything ``render`` draws, worked out before any markup is written."""

    lines: list[Line]  # causal order, then the lines without a usable time
    bars: list[Bar]
    lanes: list[str]
    markers: list[tuple[Line, Bar | None]]
    notes: list[tuple[str, str]]  # (warn | info, text)
    t0: float
    t1: float


def build(
    docs: Sequence[Mapping[str, Any]],
    dead: Sequence[Mapping[str, Any]] = (),
    now_ms: float | None = None,
    total: int | None = None,
) -> Picture:
    """The bars, their nesting, the markers and the notes for one request's documents."""
    notes: list[tuple[str, str]] = []
    lines = [_line(doc) for doc in docs]
    for doc in dead:
        event = deadletter.original(doc)
        reason = deadletter.reason(doc) or "refused by Elasticsearch"
        if event is None:
            event = {"@timestamp": doc.get("@timestamp"), "message": str(doc.get("message", ""))}
        lines.append(_line(event, dead=reason))
    _adopt_spans(lines)
    ordered, wraps = _order(lines)
    untimed = [ln for ln in lines if ln.at_ms is None]
    for number, ln in enumerate([*ordered, *untimed], start=1):
        ln.number = number
    if untimed:
        notes.append(
            (
                "warn",
                f"{len(untimed)} line{'s' if len(untimed) != 1 else ''} without a usable"
                f" @timestamp: listed below (#{untimed[0].number} on), not drawn",
            )
        )
    if total is not None and total > len(docs):
        notes.append(("warn", f"only the first {len(docs)} of {total} documents are drawn"))

    bars: list[Bar] = []
    closing: dict[int, Bar] = {}
    for i, ln in enumerate(ordered):
        bar = _bar(ln)
        if bar is not None:
            bars.append(bar)
            closing[i] = bar
        elif field(ln.doc, "event.dataset") == ACCESS:
            notes.append(
                (
                    "warn",
                    f"#{ln.number} ({ln.service}) is an access line without a usable"
                    " event.duration: its start is unknown, so it is drawn as a point",
                )
            )

    # Within one span: the smallest bar that contains it (requests first, then steps).
    def span_key(bar: Bar) -> tuple[str, str | None]:
        return (bar.line.service, bar.line.span)

    for bar in bars:
        if bar.kind == "request":
            continue
        # A dependency_call line carries the child span it sent (trackstack.outbound), not the
        # caller's: it belongs to whichever bar of its service contains it.
        around = [
            other
            for other in bars
            if other is not bar
            and (span_key(other) == span_key(bar) or bar.kind == "call")
            and other.line.service == bar.line.service
            and other.kind != "call"
            and other.contains(bar)
        ]
        if around:
            bar.parent = min(around, key=lambda b: (b.end - b.start, b.kind != "step"))

    # Across services: a callee's request bar is the child of the call that waited for it.
    by_span_id = {
        str(field(b.line.doc, "span.id")): b for b in bars if b.kind == "call" and b.line.span
    }
    roots = [b for b in bars if b.kind == "request"]
    first_request = min(roots, key=lambda b: b.start) if roots else None
    for call_index, inside in wraps.items():
        call = closing.get(call_index)
        for index in inside:
            callee = closing.get(index)
            if call is not None and callee is not None and callee.kind == "request":
                callee.parent = call
    for bar in roots:
        named = field(bar.line.doc, "parent.id")
        if bar.parent is None and named and str(named) in by_span_id:
            bar.parent = by_span_id[str(named)]
        if bar.parent is None and bar is not first_request and first_request is not None:
            notes.append(
                (
                    "warn",
                    f"#{bar.line.number} {bar.line.service} {bar.label}: no dependency_call"
                    " among these lines matches it (unknown parent span: the caller's lines"
                    " may be missing or still arriving)",
                )
            )
    for bar in bars:
        if bar.parent is not None:
            bar.parent.children.append(bar)

    # Partial pictures say so.
    spans: dict[tuple[str, str | None], list[Line]] = {}
    for ln in ordered:
        if field(ln.doc, "event.action") == "dependency_call":
            key = next((k for k in spans if k[0] == ln.service), (ln.service, None))
        else:
            key = (ln.service, ln.span)
        spans.setdefault(key, []).append(ln)
    for (service, span), members in spans.items():
        if not any(field(m.doc, "event.dataset") == ACCESS for m in members):
            notes.append(
                (
                    "warn",
                    f"still arriving? {service}"
                    + (f" (span {span})" if span else "")
                    + f" wrote {len(members)} line{'s' if len(members) != 1 else ''} but no"
                    " access line yet: its response is not logged (yet), or it never finished",
                )
            )
    for i, bar in closing.items():
        status = field(bar.line.doc, "http.response.status_code")
        if bar.kind == "call" and status and i not in wraps:
            notes.append(
                (
                    "warn",
                    f"still arriving? #{bar.line.number} {bar.label} got an answer, but no line"
                    " of the called service matches it (not searchable yet, dead-lettered, or"
                    " the callee is not a trackstack service)",
                )
            )
    times = [ln.at_ms for ln in ordered if ln.at_ms is not None]
    if now_ms is not None and times and now_ms - max(times) < RECENT_S * 1000:
        notes.append(
            (
                "warn",
                f"still arriving? the newest line is only {(now_ms - max(times)) / 1000:.1f} s"
                " old: more lines may be on their way; run make trace again in a few seconds",
            )
        )
    dead_count = sum(ln.dead is not None for ln in lines)
    if dead_count:
        notes.append(
            (
                "warn",
                f"{dead_count} line{'s' if dead_count != 1 else ''} dead-lettered: Elasticsearch"
                f" refused {'them' if dead_count != 1 else 'it'}, kept in {deadletter.INDEX}"
                " (drawn dashed, marked DEAD-LETTERED)",
            )
        )
    lanes = list(dict.fromkeys(ln.service for ln in ordered))
    if len(lanes) == 1:
        notes.append(("info", f"one service only: every line is from {lanes[0]}"))
    if not lines:
        notes.append(("warn", "no line of this request was found: nothing to draw"))

    markers: list[tuple[Line, Bar | None]] = []
    closers = {id(b.line) for b in bars}
    for ln in ordered:
        if id(ln) in closers or ln.at_ms is None:
            continue
        at = ln.at_ms
        holders = [
            b
            for b in bars
            if (b.line.service, b.line.span) == (ln.service, ln.span)
            and b.start - CONTAIN_SLACK_MS <= at <= b.end + CONTAIN_SLACK_MS
        ]
        markers.append((ln, min(holders, key=lambda b: b.end - b.start) if holders else None))

    starts = [b.start for b in bars] + times
    t0 = min(starts) if starts else 0.0
    t1 = max([b.end for b in bars] + times) if starts else 0.0
    _rows(bars, lanes)
    return Picture([*ordered, *untimed], bars, lanes, markers, notes, t0, t1)


def _rows(bars: list[Bar], lanes: list[str]) -> None:
    """Each bar one row below its parent in the same lane, on the first row where it overlaps
    no other bar of that lane."""
    for lane in lanes:
        taken: dict[int, list[Bar]] = {}
        for bar in sorted(
            (b for b in bars if b.line.service == lane), key=lambda b: (b.start, -b.end)
        ):
            _place(bar, lane, taken)


def _place(bar: Bar, lane: str, taken: dict[int, list[Bar]]) -> None:
    if any(bar in row for row in taken.values()):  # identity: eq=False
        return
    parent = bar.parent if bar.parent and bar.parent.line.service == lane else None
    if parent is not None:
        _place(parent, lane, taken)
    row = parent.row + 1 if parent is not None else 0
    while any(b.start < bar.end and bar.start < b.end for b in taken.get(row, [])):
        row += 1
    bar.row = row
    taken.setdefault(row, []).append(bar)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _tick_step(span_ms: float) -> float:
    """1, 2 or 5 times a power of ten, giving 5 to 10 ticks over ``span_ms``."""
    raw = max(span_ms, 1e-3) / 8
    power = 10 ** math.floor(math.log10(raw))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= raw))


def _hover(ln: Line) -> str:
    parts = [f"#{ln.number} {ln.level.upper() or '-'} {ln.service}: {ln.message}"]
    if field(ln.doc, "error.type"):
        parts.append(f"{field(ln.doc, 'error.type')}: {field(ln.doc, 'error.message') or ''}")
    if ln.dead:
        parts.append(f"DEAD-LETTERED: {ln.dead}")
    return "\n".join(parts)


def _classes(ln: Line, *base: str) -> str:
    return " ".join(
        [*base]
        + (["error"] if ln.error else [])
        + (["debug"] if ln.debug else [])
        + (["warning"] if ln.warning and not ln.error else [])
        + (["dead"] if ln.dead else [])
    )


SCRIPT = """
document.addEventListener('click', function (event) {
  var target = event.target.closest('[data-line]');
  if (!target) { return; }
  document.querySelectorAll('.selected').forEach(function (el) {
    el.classList.remove('selected');
  });
  var row = document.getElementById('line-' + target.getAttribute('data-line'));
  if (!row) { return; }
  row.classList.add('selected');
  var more = row.querySelector('details');
  if (more) { more.open = true; }
  row.scrollIntoView({block: 'nearest'});
});
"""

STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #1d2330; }
h1 { font-size: 17px; margin: 0 0 4px; } .ids { font-family: monospace; color: #444; }
.notes { list-style: none; padding: 0; margin: 10px 0; }
.note { padding: 4px 8px; margin: 2px 0; border-left: 4px solid; }
.note.warn { background: #fff4d6; border-color: #d89500; }
.note.info { background: #eef3fb; border-color: #5b7db8; }
svg { display: block; overflow: visible; }
.lane-bg { fill: #f6f7f9; } .lane-name { font-weight: 600; font-size: 12px; }
.bar { stroke-width: 1; cursor: pointer; }
.bar.request { fill: #9fc3ea; stroke: #3f73ad; }
.bar.call { fill: #c7b7ea; stroke: #6c4fb0; }
.bar.step { fill: #a9dcc0; stroke: #3c8a5f; }
.bar.error { fill: #f3a6a6; stroke: #c21f1f; stroke-width: 2; }
.bar.dead, .marker.dead { stroke-dasharray: 3 2; stroke: #7a1fa2; }
.bar-label { font-size: 11px; pointer-events: none; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; }
.marker { fill: #fff; stroke: #1d2330; stroke-width: 1.5; cursor: pointer; }
.marker.debug { fill: #ddd; stroke: #888; }
.marker.warning { fill: #f5b800; stroke: #7a5a00; }
.marker.error { fill: #d62424; stroke: #7d0d0d; }
.marker.loose { stroke-dasharray: 2 2; }
.link { stroke: #6c4fb0; stroke-dasharray: 4 3; }
.axis line { stroke: #ccc; } .axis text { font-size: 10px; fill: #666; }
table { border-collapse: collapse; margin-top: 14px; width: 100%; }
td, th { padding: 2px 6px; text-align: left; vertical-align: top; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.error td { background: #fde8e8; } tr.debug td { color: #777; }
tr.warning td { background: #fff6dc; }
tr.dead td { background: #f4e6fa; } tr.selected td { outline: 2px solid #3f73ad; }
pre { margin: 2px 0; white-space: pre-wrap; font-size: 11px; }
.tag { font-size: 10px; padding: 0 4px; border-radius: 3px; background: #7a1fa2; color: #fff; }
.legend { display: flex; gap: 14px; flex-wrap: wrap; margin: 6px 0; align-items: center; }
"""


def _legend() -> str:
    items = [
        ('<rect class="bar request" width="22" height="12"/>', "request (access line)"),
        ('<rect class="bar call" width="22" height="12"/>', "dependency call"),
        ('<rect class="bar step" width="22" height="12"/>', "timed step (event.action)"),
        ('<rect class="bar error" width="22" height="12"/>', "failed (5xx, error, failure)"),
        ('<circle class="marker" cx="11" cy="6" r="5"/>', "other line, # = causal order"),
        ('<circle class="marker debug" cx="11" cy="6" r="5"/>', "DEBUG line"),
        ('<circle class="marker warning" cx="11" cy="6" r="5"/>', "WARNING line"),
        ('<circle class="marker error" cx="11" cy="6" r="5"/>', "ERROR line"),
        ('<rect class="bar step dead" width="22" height="12"/>', "dead-lettered"),
        ('<line class="link" x1="11" y1="0" x2="11" y2="12"/>', "call → callee"),
    ]
    return (
        '<div class="legend" id="legend">'
        + "".join(
            f'<span><svg width="24" height="12">{shape}</svg> {_esc(text)}</span>'
            for shape, text in items
        )
        + "</div>"
    )


def _svg(picture: Picture) -> str:
    span = max(picture.t1 - picture.t0, 1.0)
    scale = PLOT_WIDTH / span

    def x(ms: float) -> float:
        return LABEL_WIDTH + (ms - picture.t0) * scale

    parts: list[str] = []
    top = 22
    lane_rows = {
        lane: 1 + max([b.row for b in picture.bars if b.line.service == lane], default=0)
        for lane in picture.lanes
    }
    lane_top: dict[str, int] = {}
    y = top
    for lane in picture.lanes:
        lane_top[lane] = y
        y += lane_rows[lane] * ROW_HEIGHT + LANE_GAP
    height = y + 4

    step = _tick_step(span)
    parts.append('<g class="axis">')
    tick = 0.0
    while tick <= span + 1e-9:
        tx = LABEL_WIDTH + tick * scale
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height}"/>'
            f'<text x="{tx:.1f}" y="{top - 8}" text-anchor="middle">{tick:g} ms</text>'
        )
        tick += step
    parts.append("</g>")

    def row_y(bar: Bar) -> float:
        return lane_top[bar.line.service] + bar.row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2

    for lane in picture.lanes:
        lane_height = lane_rows[lane] * ROW_HEIGHT
        parts.append(
            f'<g class="lane" data-service="{_esc(lane)}">'
            f'<rect class="lane-bg" x="0" y="{lane_top[lane]}" width="{LABEL_WIDTH + PLOT_WIDTH}"'
            f' height="{lane_height}"/>'
            f'<text class="lane-name" x="6" y="{lane_top[lane] + 16}">{_esc(lane[:28])}</text>'
        )
        for bar in (b for b in picture.bars if b.line.service == lane):
            bx, by = x(bar.start), row_y(bar)
            width = max((bar.end - bar.start) * scale, 1.0)
            parent = bar.parent.line.number if bar.parent else ""
            parts.append(
                f'<g class="bar-group"><title>{_esc(bar.label)}\n{_esc(_hover(bar.line))}</title>'
                f'<rect class="{_classes(bar.line, "bar", bar.kind)}" data-line="{bar.line.number}"'
                f' data-kind="{bar.kind}" data-parent="{parent}" data-row="{bar.row}"'
                f' data-duration-ms="{bar.end - bar.start:.3f}"'
                f' x="{bx:.2f}" y="{by:.1f}" width="{width:.2f}" height="{BAR_HEIGHT}"/>'
                f'<text class="bar-label" x="{bx + 3:.1f}" y="{by + 11:.1f}">'
                f"#{bar.line.number} {_esc(bar.label)}"
                + (" DEAD-LETTERED" if bar.line.dead else "")
                + "</text></g>"
            )
        last_x: dict[int, float] = {}
        for ln, holder in picture.markers:
            if ln.service != lane or ln.at_ms is None:
                continue
            row = holder.row if holder is not None else 0
            mx = x(ln.at_ms)
            if row in last_x and mx < last_x[row] + MARKER_GAP:
                mx = last_x[row] + MARKER_GAP  # same moment: causal order, left to right
            last_x[row] = mx
            # On the bar's lower edge, below its label.
            my = lane_top[lane] + row * ROW_HEIGHT + (ROW_HEIGHT + BAR_HEIGHT) / 2 - 5
            on = holder.line.number if holder is not None else ""
            parts.append(
                f'<circle class="{_classes(ln, "marker", *([] if holder else ["loose"]))}"'
                f' data-line="{ln.number}" data-on="{on}" cx="{mx:.2f}" cy="{my:.1f}" r="4.5">'
                f"<title>{_esc(_hover(ln))}</title></circle>"
            )
        parts.append("</g>")
    for bar in picture.bars:
        if bar.parent is not None and bar.parent.line.service != bar.line.service:
            lx = x(bar.start)
            y1 = row_y(bar.parent) + BAR_HEIGHT
            y2 = row_y(bar)
            parts.append(
                f'<line class="link" data-from="{bar.parent.line.number}"'
                f' data-to="{bar.line.number}" x1="{lx:.2f}" y1="{y1:.1f}" x2="{lx:.2f}"'
                f' y2="{y2:.1f}"/>'
            )
    return (
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg"'
        f' width="{LABEL_WIDTH + PLOT_WIDTH + 40}" height="{height}"'
        f' data-ms-per-px="{1 / scale:.6f}">' + "".join(parts) + "</svg>"
    )


def _table(picture: Picture) -> str:
    rows = [
        "<table id=lines><tr><th>#</th><th>+ms</th><th>level</th><th>service</th>"
        "<th>duration</th><th>message</th></tr>"
    ]
    for ln in picture.lines:
        offset = f"{ln.at_ms - picture.t0:.0f}" if ln.at_ms is not None else "?"
        duration = _duration_ms(ln.doc)
        extra = ""
        if field(ln.doc, "error.type") or field(ln.doc, "error.message"):
            extra += (
                f"<div class=err><b>{_esc(field(ln.doc, 'error.type') or 'error')}</b>:"
                f" {_esc(field(ln.doc, 'error.message') or '')}</div>"
            )
        stack = field(ln.doc, "error.stack_trace")
        if ln.dead:
            extra += f"<div><span class=tag>DEAD-LETTERED</span> {_esc(ln.dead)}</div>"
        extra += (
            "<details><summary>the whole line</summary>"
            + (f"<pre>{_esc(stack)}</pre>" if stack else "")
            + "<pre>"
            + _esc("\n".join(f"{key}: {value}" for key, value in sorted(_flat(ln.doc).items())))
            + "</pre></details>"
        )
        rows.append(
            f'<tr id="line-{ln.number}" class="{_classes(ln, "line")}">'
            f"<td class=num>{ln.number}</td><td class=num>{offset}</td>"
            f"<td>{_esc(ln.level.upper())}</td><td>{_esc(ln.service)}</td>"
            f"<td class=num>{f'{duration:.1f} ms' if duration is not None else ''}</td>"
            f"<td>{_esc(ln.message)}{extra}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _flat(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= _flat(value, name + ".")
        else:
            flat[name] = value
    return flat


def render(
    tracking_id: str,
    docs: Sequence[Mapping[str, Any]],
    dead: Sequence[Mapping[str, Any]] = (),
    now_ms: float | None = None,
    total: int | None = None,
) -> str:
    """The timeline page of one request: a complete HTML document, UTF-8, nothing external.

    ``docs``: the request's documents (``_source``), ``dead``: its dead-letter documents
    (``loadgen.deadletter.find``), ``now_ms``: the epoch ms "now" to judge whether lines may
    still be arriving (None: not judged), ``total``: how many documents matched when ``docs``
    is only the first of them. Never raises on odd lines: what cannot be drawn is listed and
    named in a note.
    """
    picture = build(docs, dead, now_ms, total)
    trace_ids = list(
        dict.fromkeys(str(t) for ln in picture.lines if (t := field(ln.doc, "trace.id")))
    )
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:;"
        f" script-src 'sha256-{digest}'"
    )
    notes = "".join(f'<li class="note {kind}">{_esc(text)}</li>' for kind, text in picture.notes)
    span_ms = picture.t1 - picture.t0
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        f"<title>{_esc(tracking_id)}: timeline</title><style>{STYLE}</style></head><body>"
        f"<h1>tracking_id <span class=ids id=tracking-id>{_esc(tracking_id)}</span></h1>"
        f"<div>trace.id <span class=ids id=trace-id>"
        f"{_esc(', '.join(trace_ids) or '(none on these lines)')}</span></div>"
        f"<div>{len(picture.lines)} lines from {len(picture.lanes)} service"
        f"{'s' if len(picture.lanes) != 1 else ''}, over {span_ms:.1f} ms; times in ms from"
        " the request's first known moment (the earliest bar start or line). Hover a bar or a"
        " dot for its line, click it for the whole line below.</div>"
        f'<ul class="notes" id="notes">{notes}</ul>'
        f"{_legend()}{_svg(picture)}{_table(picture)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
