"""The feedback and trace routes parse JSON bodies with orjson where it gives the objects
``json.loads`` gives, and with ``json.loads`` where it does not."""

from __future__ import annotations

import json

import pytest

from kaizen_server.http.orjson_body_route import parse_json

BODIES = [
    b'{"items": [{"task_id": "t", "score": 0.5, "inputs": {"q": "caf\\u00e9 \xc3\xa9"}}]}',
    b'{"n": 1180591620717411303425, "m": -9223372036854775809}',  # beyond 64 bits
    b'{"n": 9223372036854775807, "f": [1.0, -0.0, 5e-324, 0.1, 1e308]}',
    b'{"x": NaN, "y": -Infinity, "z": 1e999}',  # json.loads reads them; the models refuse them
    b'{"s": "\\ud800"}',  # a lone surrogate escape: json.loads reads it; the models refuse it
    b'\xef\xbb\xbf{"bom": true}',
    '{"utf16": "text"}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',
    b'{"emoji": "\\ud83d\\ude00"}',
]


@pytest.mark.parametrize("body", BODIES)
def test_parse_json_gives_what_json_loads_gives(body: bytes) -> None:
    expected = json.loads(body)
    parsed = parse_json(body)
    assert json.dumps(parsed) == json.dumps(expected)  # NaN != NaN: compare the texts
    assert [type(value) for value in _scalars(parsed)] == [
        type(value) for value in _scalars(expected)
    ]


@pytest.mark.parametrize("body", [b"{not json", b"[" * 10, b""])
def test_malformed_json_raises_json_s_own_error(body: bytes) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json(body)


def _scalars(value: object) -> list[object]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _scalars(item)]
    if isinstance(value, list):
        return [s for item in value for s in _scalars(item)]
    return [value]
