"""Unit tests for loadgen/kibana.py: Discover links that Kibana 9 reads back as intended."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import prison
import pytest

from loadgen import kibana
from setup.project import REPO

# Written by hand in the form Kibana 8.15+/9.x itself produces for a data view pinned by id.
KNOWN_GOOD = (
    "http://127.0.0.1:5601/app/discover#/"
    "?_g=(filters:!(),refreshInterval:(pause:!t,value:0),time:(from:now-7d,to:now))"
    "&_a=(columns:!(service.name,tracking_id,log.level,event.dataset,http.request.method,"
    "url.path,http.response.status_code,event.duration,message),"
    "dataSource:(dataViewId:'trackstack-logs',type:dataView),filters:!(),"
    "query:(language:kuery,query:'tracking_id:\"3a26f718-c5bd-451a-a274-0794cd014625\"'),"
    "sort:!(!('@timestamp',asc)))"
)


def decode(url: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(path before the fragment's query, _g, _a) the way Kibana reads them: the fragment's
    query string is percent-decoded, then each state is rison."""
    fragment = urlsplit(url).fragment
    path, _, query = fragment.partition("?")
    params = parse_qs(query, keep_blank_values=True, strict_parsing=True)
    assert set(params) == {"_g", "_a"}, params
    assert all(len(values) == 1 for values in params.values())
    return path, prison.loads(params["_g"][0]), prison.loads(params["_a"][0])


def kql_unquote(phrase: str) -> str:
    """The value a KQL quoted string stands for."""
    assert phrase.startswith('"') and phrase.endswith('"')
    out, chars = [], iter(phrase[1:-1])
    for char in chars:
        out.append(next(chars) if char == "\\" else char)
    return "".join(out)


def test_link_matches_the_known_good_link() -> None:
    """For a plain ID the link decodes to exactly the state of the hand-written Kibana link."""
    url = kibana.discover_url("3a26f718-c5bd-451a-a274-0794cd014625")
    assert url.startswith("http://127.0.0.1:5601/app/discover#/?_g=")
    assert decode(url) == decode(KNOWN_GOOD)


def test_link_pins_the_data_view_and_queries_the_id() -> None:
    """_a names the data view by id (dataSource form), KQL on tracking_id, oldest line first."""
    _, global_state, app_state = decode(kibana.discover_url("abc-123"))
    assert app_state["dataSource"] == {"dataViewId": "trackstack-logs", "type": "dataView"}
    assert app_state["query"] == {"language": "kuery", "query": 'tracking_id:"abc-123"'}
    assert app_state["sort"] == [["@timestamp", "asc"]]
    assert "index" not in app_state  # the pre-8.15 form would pick a data view by title
    assert global_state["time"] == {"from": "now-7d", "to": "now"}


@pytest.mark.parametrize(
    "tracking_id",
    [
        pytest.param('say "hi"', id="double-quotes"),
        pytest.param("it's!", id="rison-quote-and-bang"),
        pytest.param("a#b&c=d+e f%20g", id="url-delimiters"),
        pytest.param("back\\slash\\", id="backslashes"),
        pytest.param("(x:!(y),'z')", id="rison-syntax"),
        pytest.param("ünï-çødé/✓", id="non-ascii"),
    ],
)
def test_special_characters_survive_the_round_trip(tracking_id: str) -> None:
    """Any ID comes back exactly from the KQL phrase after URL and rison decoding."""
    url = kibana.discover_url(tracking_id)
    fragment = urlsplit(url).fragment
    assert fragment.count("&") == 1  # the one between _g and _a
    assert not set(fragment) & set(' "+#')  # each would be misread unencoded
    _, _, app_state = decode(url)
    field, _, phrase = app_state["query"]["query"].partition(":")
    assert field == "tracking_id"
    assert kql_unquote(phrase) == tracking_id


def test_kql_phrase_escapes_backslash_before_quote() -> None:
    """A backslash is doubled and a quote escaped, so neither can end the phrase early."""
    assert kibana.kql_phrase('a\\"b') == '"a\\\\\\"b"'


def test_base_url_and_time_range_are_honoured() -> None:
    """A base URL with a trailing slash and another time range give a well-formed link."""
    url = kibana.discover_url("x", "http://kibana.test:5601/", time_from="now-15m")
    assert url.startswith("http://kibana.test:5601/app/discover#/?")
    assert decode(url)[1]["time"] == {"from": "now-15m", "to": "now"}


def test_cli_prints_the_link(capsys: pytest.CaptureFixture[str]) -> None:
    """python -m loadgen.kibana ID prints one line: the link for that ID."""
    assert kibana.main(["abc-123", "--kibana-url", "http://k:5601"]) == 0
    assert capsys.readouterr().out == kibana.discover_url("abc-123", "http://k:5601") + "\n"


def test_columns_match_the_saved_search() -> None:
    """The link shows the same columns as the saved search "Requests by tracking_id"."""
    objects = [
        json.loads(line)
        for line in (REPO / "kibana" / "saved-objects.ndjson").read_text().splitlines()
    ]
    (search,) = [o for o in objects if o["type"] == "search"]
    assert list(kibana.COLUMNS) == search["attributes"]["columns"]
