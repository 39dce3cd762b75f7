"""The Kibana saved objects in kibana/*.ndjson: they parse, refer only to each other, and use
only fields the index template maps, with types their aggregations can work on."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from setup.project import REPO

KIBANA_DIR = REPO / "kibana"
TEMPLATE = REPO / "elasticsearch" / "templates" / "trackstack-logs.json"
DEADLETTER_TEMPLATE = REPO / "elasticsearch" / "templates" / "trackstack-deadletter.json"
NUMERIC_OR_DATE = {"long", "integer", "short", "date"}
# Saved-object versions Kibana 9.1 knows how to migrate from (its own sample data uses them).
CORE_MIGRATION_VERSION = "8.8.0"

SavedObject = dict[str, Any]


def load_objects() -> list[SavedObject]:
    """Every object, in the order python -m setup imports them (files in name order)."""
    objects = []
    for path in sorted(KIBANA_DIR.glob("*.ndjson")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert line.strip(), f"{path.name}:{number}: blank line"
            objects.append(json.loads(line))
    return objects


OBJECTS = load_objects()
BY_ID = {(o["type"], o["id"]): o for o in OBJECTS}


def of_type(kind: str) -> list[SavedObject]:
    return [o for o in OBJECTS if o["type"] == kind]


def title(kind: str, name: str) -> SavedObject:
    (found,) = [o for o in of_type(kind) if o["attributes"]["title"] == name]
    return found


def mapped_fields() -> dict[str, str]:
    """{field: type} of the template's explicit mappings (dotted names, as written there)."""
    properties = json.loads(TEMPLATE.read_text())["template"]["mappings"]["properties"]
    return {name: mapping["type"] for name, mapping in properties.items()}


def kql_fields(query: str) -> set[str]:
    """Field names a KQL query uses (what stands before ':' or a range operator)."""
    without_values = re.sub(r'"(?:\\.|[^"\\])*"', '""', query)
    return set(re.findall(r"([@\w][\w.@]*)\s*(?::|<=|>=|<|>)", without_values))


def search_source(obj: SavedObject) -> dict[str, Any]:
    meta = obj["attributes"].get("kibanaSavedObjectMeta", {})
    return dict(json.loads(meta.get("searchSourceJSON", "{}")))


def vis_state(obj: SavedObject) -> dict[str, Any]:
    return dict(json.loads(obj["attributes"]["visState"]))


def dashboard_panels(obj: SavedObject) -> list[dict[str, Any]]:
    return list(json.loads(obj["attributes"]["panelsJSON"]))


def fields_used(obj: SavedObject) -> dict[str, str]:
    """{field: how it is used} for one object: "agg:<type>", "column", "sort", "kql", ..."""
    used: dict[str, str] = {}
    attributes = obj["attributes"]
    for field in kql_fields(search_source(obj).get("query", {}).get("query", "")):
        used[field] = "kql"
    if obj["type"] == "index-pattern":
        used[attributes["timeFieldName"]] = "time"
        used.update(dict.fromkeys(json.loads(attributes.get("fieldFormatMap", "{}")), "format"))
        used.update(dict.fromkeys(json.loads(attributes.get("fieldAttrs", "{}")), "label"))
    if obj["type"] == "search":
        used.update(dict.fromkeys(attributes["columns"], "column"))
        used.update({field: "sort" for field, _ in attributes["sort"]})
    if obj["type"] == "visualization":
        for agg in vis_state(obj)["aggs"]:
            params = agg["params"]
            if "field" in params:
                used[params["field"]] = f"agg:{agg['type']}"
            for entry in params.get("filters", []):
                used.update(dict.fromkeys(kql_fields(entry["input"]["query"]), "kql"))
    return used


def test_ids_are_unique() -> None:
    """No two saved objects share a type and id (an import would silently keep one)."""
    assert len(BY_ID) == len(OBJECTS)
    assert len({o["id"] for o in OBJECTS}) == len(OBJECTS)


def test_every_object_is_importable_shape() -> None:
    """Each line has what the import API needs, with migration versions Kibana 9.1 knows."""
    for obj in OBJECTS:
        assert {"id", "type", "attributes", "references"} <= set(obj), obj.get("id")
        assert obj["coreMigrationVersion"] == CORE_MIGRATION_VERSION
        major, minor, _ = (int(part) for part in obj["typeMigrationVersion"].split("."))
        assert (major, minor) <= (9, 1), obj["id"]


def test_data_view_is_the_one_design_names() -> None:
    """Data view id trackstack-logs, title trackstack-logs-*, time field @timestamp."""
    view = BY_ID[("index-pattern", "trackstack-logs")]["attributes"]
    assert view["title"] == "trackstack-logs-*"
    assert view["timeFieldName"] == "@timestamp"
    assert [o["id"] for o in of_type("index-pattern")] == [
        "trackstack-logs",
        "trackstack-deadletter",
    ]
    # Imported first, before anything that refers to it.
    assert OBJECTS[0]["type"] == "index-pattern"


def test_dead_letter_data_view_shows_the_fields_its_template_maps() -> None:
    """Data view trackstack-deadletter: that index, time field @timestamp, and labels only for
    fields the dead-letter template maps (message, error.type, error.message)."""
    view = BY_ID[("index-pattern", "trackstack-deadletter")]["attributes"]
    assert view["title"] == "trackstack-deadletter"
    assert view["timeFieldName"] == "@timestamp"
    template = json.loads(DEADLETTER_TEMPLATE.read_text())
    assert template["index_patterns"] == [view["title"]]
    mapped = template["template"]["mappings"]["properties"]
    assert set(json.loads(view["fieldAttrs"])) <= set(mapped)
    assert mapped["@timestamp"]["type"] == "date"


def test_event_duration_is_shown_in_milliseconds() -> None:
    """event.duration is in nanoseconds (ECS); the data view formats it as a duration."""
    formats = json.loads(
        BY_ID[("index-pattern", "trackstack-logs")]["attributes"]["fieldFormatMap"]
    )
    assert formats["event.duration"]["id"] == "duration"
    assert formats["event.duration"]["params"]["inputFormat"] == "nanoseconds"


def test_every_reference_resolves() -> None:
    """Each reference names an object of that type and id in kibana/*.ndjson."""
    for obj in OBJECTS:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in BY_ID, f"{obj['id']}: dangling {ref}"


def test_index_refs_have_their_reference() -> None:
    """A searchSourceJSON's indexRefName is the name of one of the object's references."""
    for obj in OBJECTS:
        ref_name = search_source(obj).get("indexRefName")
        if ref_name:
            (ref,) = [r for r in obj["references"] if r["name"] == ref_name]
            assert ref == {"name": ref_name, "type": "index-pattern", "id": "trackstack-logs"}


def test_dashboard_panels_have_their_reference() -> None:
    """Every by-reference panel's panelRefName is matched by "<panelIndex>:<panelRefName>"."""
    for dashboard in of_type("dashboard"):
        names = {ref["name"] for ref in dashboard["references"]}
        by_ref = [p for p in dashboard_panels(dashboard) if "panelRefName" in p]
        assert by_ref
        for panel in by_ref:
            assert f"{panel['panelIndex']}:{panel['panelRefName']}" in names, panel
        assert len(names) == len(by_ref)  # and no reference without its panel


def test_dashboard_panels_fit_the_grid_without_overlap() -> None:
    """Panels lie within Kibana's 48 columns and no two cover the same cell."""
    for dashboard in of_type("dashboard"):
        taken: set[tuple[int, int]] = set()
        for panel in dashboard_panels(dashboard):
            grid = panel["gridData"]
            assert grid["i"] == panel["panelIndex"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 48, panel["panelIndex"]
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"panel {panel['panelIndex']} overlaps another"
            taken |= cells


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    """Requests and errors over time, latency by route, status mix, top error tracking IDs,
    and the lines themselves; it opens on a recent time range."""
    dashboard = title("dashboard", "trackstack overview")
    referenced = {(ref["type"], ref["id"]) for ref in dashboard["references"]}
    titles = {BY_ID[key]["attributes"]["title"] for key in referenced}
    assert titles == {
        "Requests and errors over time",
        "Latency by route",
        "Status mix",
        "Top tracking IDs with errors",
        "Requests by tracking_id",
    }
    assert dashboard["attributes"]["timeRestore"] is True


def test_saved_search_lists_requests_by_tracking_id() -> None:
    """The saved search is on our data view and shows who, which request and what happened."""
    search = title("search", "Requests by tracking_id")
    columns = search["attributes"]["columns"]
    assert {"tracking_id", "service.name", "message", "url.path"} <= set(columns)
    assert search["attributes"]["sort"][0] == ["@timestamp", "asc"]


def test_visualization_titles_agree() -> None:
    """The title inside visState is the object's title (Kibana shows either)."""
    for vis in of_type("visualization"):
        assert vis_state(vis)["title"] == vis["attributes"]["title"]


@pytest.mark.parametrize("obj", OBJECTS, ids=[o["id"] for o in OBJECTS])
def test_fields_exist_in_the_template(obj: SavedObject) -> None:
    """Every field an object uses is mapped explicitly by the trackstack-logs template."""
    mapping = mapped_fields()
    unknown = {field: how for field, how in fields_used(obj).items() if field not in mapping}
    assert not unknown


@pytest.mark.parametrize("vis", of_type("visualization"), ids=lambda v: v["id"])
def test_aggregations_fit_their_field_types(vis: SavedObject) -> None:
    """Metrics (percentiles, max, avg, ...) need numbers or dates; buckets never text."""
    mapping = mapped_fields()
    for agg in vis_state(vis)["aggs"]:
        field = agg["params"].get("field")
        if field is None:
            continue
        if agg["schema"] == "metric":
            assert mapping[field] in NUMERIC_OR_DATE, (agg["type"], field)
        else:
            assert mapping[field] != "text", (agg["type"], field)


def test_kql_field_finder() -> None:
    """The helper finds fields before ':' and range operators, not inside quoted values."""
    query = 'event.dataset:"a:b" and not url.path:"/x" or http.response.status_code >= 500'
    assert kql_fields(query) == {"event.dataset", "url.path", "http.response.status_code"}


# Per-request ID fields: one distinct value per request ever logged (the template's keyword IDs).
ID_FIELDS = {"tracking_id", "event.id", "trace.id", "span.id"}


@pytest.mark.parametrize("vis", of_type("visualization"), ids=lambda v: v["id"])
def test_terms_on_an_id_field_skip_global_ordinals(vis: SavedObject) -> None:
    """A terms bucket on a per-request ID carries Kibana's JSON input {"execution_hint": "map"}:
    without it Elasticsearch rebuilds the field's global ordinals (every ID of the day) after
    each refresh, for each dashboard refresh (loadgen.watch.per_id says what that cost)."""
    for agg in vis_state(vis)["aggs"]:
        if agg["type"] == "terms" and agg["params"].get("field") in ID_FIELDS:
            assert json.loads(agg["params"].get("json") or "{}") == {"execution_hint": "map"}


def test_some_visualization_buckets_by_an_id_field() -> None:
    """The check above has something to check: the errors table buckets by tracking_id."""
    fields = {
        agg["params"].get("field")
        for vis in of_type("visualization")
        for agg in vis_state(vis)["aggs"]
        if agg["type"] == "terms"
    }
    assert fields & ID_FIELDS
