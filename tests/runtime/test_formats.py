"""The answer formats' parsers (agent/formats.py): what models actually write, and what
they must not get away with."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

import pytest

from anima_runtime.agent.formats import (
    FactOp,
    format_fact_ops,
    format_response,
    parse_fact_ops,
    parse_response,
)
from anima_runtime.errors import ModelFailed
from anima_runtime.plugins.types import Content


@pytest.fixture
def eth_recursion_limit() -> Iterator[None]:
    """The runtime process's recursion limit: eth_account (py_ecc) raises it to 100000, so
    there a deep JSON document overflows the C stack instead of raising."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    yield
    sys.setrecursionlimit(before)


def test_a_response_round_trips_fenced_or_not() -> None:
    content = Content(text="Hello.", actions=("REPLY",), thought="greet")
    assert parse_response(format_response(content)) == content
    fenced = f"Sure:\n```json\n{format_response(content)}\n```"
    assert parse_response(fenced) == content
    assert parse_response('{"text": "hi", "action": "reply"}').actions == ("REPLY",)
    assert parse_response('{"text": "hi", "actions": "REPLY, FOLLOW"}').actions == (
        "REPLY",
        "FOLLOW",
    )


@pytest.mark.parametrize(
    "answer",
    [
        '{"thought": "not for me", "text": null, "actions": ["IGNORE"]}',
        '{"thought": null, "text": "", "actions": ["IGNORE"]}',
        '{"text": null, "actions": null, "action": "IGNORE"}',
    ],
)
def test_regression_null_text_thought_or_actions_read_as_empty(answer: str) -> None:
    """Regression: models write `"text": null` (or `"actions": null`) when they IGNORE,
    and the parser refused the answer as having a non-string text."""
    assert parse_response(answer) == Content(text="", actions=("IGNORE",), thought=_thought(answer))


def _thought(answer: str) -> str:
    return str(json.loads(answer).get("thought") or "")


def test_null_actions_is_no_action() -> None:
    assert parse_response('{"text": "hi", "actions": null}') == Content(text="hi")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("not json", "the model's response is not JSON"),
        ("[1]", "not a JSON object"),
        ('{"text": 5}', "non-string text or thought"),
        ('{"text": "x", "thought": false}', "non-string text or thought"),
        ('{"text": "x", "actions": [1]}', "not a list of names"),
        ('{"text": "x", "actions": {"a": 1}}', "not a list of names"),
        (json.dumps({"text": "x", "actions": ["A"] * 9}), "chose 9 actions; at most 8"),
    ],
)
def test_unusable_responses_are_refused(answer: str, words: str) -> None:
    with pytest.raises(ModelFailed, match=words):
        parse_response(answer)


def test_fact_ops_round_trip() -> None:
    ops = [
        FactOp(op="add", claim="likes tea", key="drink"),
        FactOp(op="update", id="f1", claim="lives in Oslo"),
        FactOp(op="delete", id="f2"),
    ]
    assert parse_fact_ops(format_fact_ops(ops)) == ops
    assert parse_fact_ops("[]") == []


@pytest.mark.usefixtures("eth_recursion_limit")
@pytest.mark.parametrize("parse", [parse_response, parse_fact_ops])
def test_regression_deeply_nested_model_content_is_refused_not_a_crash(
    parse: Callable[[str], object],
) -> None:
    """Regression: the model's content went to json.loads as it came; 200000 nested
    brackets in an answer killed the runtime process (segfault) instead of failing the
    turn."""
    deep = "[" * 200_000 + "]" * 200_000
    for answer in (deep, f"```json\n{deep}\n```"):
        with pytest.raises(ModelFailed, match="nested more than 64 levels deep"):
            parse(answer)
