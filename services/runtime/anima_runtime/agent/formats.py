"""The answer formats the runtime asks models for, and their strict parsers.

Response (messageHandlerTemplate, Purpose.RESPONSE / CONTINUE): one JSON object,
optionally inside a ```json fence:  {"thought": str, "text": str, "actions": [str]}
("action": str, ElizaOS v0.25's single action, is accepted too; null for any of them
reads as empty, as models write `"text": null` when they IGNORE).

Facts (factsTemplate, Purpose.FACTS): one JSON list of operations against the
known facts the prompt listed with their ids:
  {"op": "add", "claim": str, "key": str?}          a new fact
  {"op": "update", "id": uuid, "claim": str, "key": str?}   replaces a known fact
  {"op": "delete", "id": uuid}                      a known fact is no longer true
An empty list means nothing to do. `key` (e.g. "lives_in") names what the fact
is about, so a later fact about the same thing can replace it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from anima_runtime.errors import ModelFailed
from anima_runtime.plugins.types import Content
from anima_verify import jsonsafe

MAX_ACTIONS = 8
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class FactOp:
    op: str  # add | update | delete
    claim: str = ""
    id: str = ""
    key: str = ""


def _json_of(answer: str, what: str) -> Any:
    fenced = _FENCE.search(answer)
    text = (fenced.group(1) if fenced else answer).strip()
    try:
        return jsonsafe.loads(text, what=f"the model's {what}")
    except jsonsafe.TooDeep as exc:
        raise ModelFailed(str(exc)) from None
    except ValueError:
        raise ModelFailed(f"the model's {what} is not JSON: {_excerpt(answer)}") from None


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat[:120] + ("..." if len(flat) > 120 else ""))


def parse_response(answer: str) -> Content:
    data = _json_of(answer, "response")
    if not isinstance(data, dict):
        raise ModelFailed(f"the model's response is not a JSON object: {_excerpt(answer)}")
    text = _or_empty(data.get("text"), "")
    thought = _or_empty(data.get("thought"), "")
    actions = _or_empty(data.get("actions"), [])
    if "action" in data and not actions:  # ElizaOS v0.25: one action field
        actions = [data["action"]] if data["action"] else []
    if isinstance(actions, str):
        actions = [a.strip() for a in actions.split(",") if a.strip()]
    if not isinstance(text, str) or not isinstance(thought, str):
        raise ModelFailed("the model's response has a non-string text or thought")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ModelFailed("the model's response has actions that are not a list of names")
    if len(actions) > MAX_ACTIONS:
        raise ModelFailed(f"the model chose {len(actions)} actions; at most {MAX_ACTIONS}")
    names = tuple(a.strip().upper() for a in actions if a.strip())
    return Content(text=text.strip(), actions=names, thought=thought.strip())


def _or_empty(value: Any, empty: Any) -> Any:
    return empty if value is None else value


def parse_fact_ops(answer: str) -> list[FactOp]:
    data = _json_of(answer, "fact list")
    if not isinstance(data, list):
        raise ModelFailed(f"the model's fact list is not a JSON list: {_excerpt(answer)}")
    ops: list[FactOp] = []
    for n, item in enumerate(data):
        if not isinstance(item, dict) or item.get("op") not in ("add", "update", "delete"):
            raise ModelFailed(f"fact operation {n} is not an add, update or delete object")
        op = FactOp(
            op=item["op"],
            claim=item.get("claim", ""),
            id=item.get("id", ""),
            key=item.get("key", "") or "",
        )
        if not all(isinstance(v, str) for v in (op.claim, op.id, op.key)):
            raise ModelFailed(f"fact operation {n} has a non-string field")
        if op.op in ("add", "update") and not op.claim.strip():
            raise ModelFailed(f"fact operation {n} ({op.op}) has no claim")
        if op.op in ("update", "delete") and not op.id:
            raise ModelFailed(f"fact operation {n} ({op.op}) names no fact id")
        ops.append(op)
    return ops


def format_response(content: Content) -> str:
    """The response format as a model writes it (the offline model, test servers)."""
    return json.dumps(
        {"thought": content.thought, "text": content.text, "actions": list(content.actions)}
    )


def format_fact_ops(ops: list[FactOp]) -> str:
    out: list[dict[str, str]] = []
    for op in ops:
        item = {"op": op.op}
        item.update({k: v for k, v in (("id", op.id), ("claim", op.claim), ("key", op.key)) if v})
        out.append(item)
    return json.dumps(out)
