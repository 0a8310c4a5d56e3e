"""Checking the fields of a decoded JSON document, each failure with the path of the
field and the reason: `messageExamples[2][0].content.text: expected a string, got a
number`. Reasons name types, never values, so a secret never reaches a message."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from anima_verify import jsonsafe

MAX_DEPTH = jsonsafe.MAX_DEPTH  # real characters nest about 5 deep

FieldPath = tuple[str | int, ...]


class Refused(Exception):
    """A field failed its check; the loader turns it into InvalidCharacter with the source."""

    def __init__(self, path: FieldPath, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def check_json(value: Any, path: FieldPath, depth: int) -> None:
    """Plain JSON values only (what json.loads makes), finite numbers, at most MAX_DEPTH
    objects and lists deep (`depth` counts the one `value` would be)."""
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        raise Refused(path, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise Refused(path, f"object keys must be strings, got {kind_of(key)}")
            if not is_unicode(key):
                raise Refused(path, "a key is not valid Unicode text (a lone surrogate)")
            check_json(item, (*path, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, (*path, index), depth + 1)
    elif isinstance(value, str):
        if not is_unicode(value):
            raise Refused(path, "not valid Unicode text (a lone surrogate)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Refused(path, "not a finite number")
    elif value is not None and not isinstance(value, str | int | bool):
        raise Refused(path, f"not a JSON value ({type(value).__name__})")


def is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def optional(container: Mapping[str, Any], path: FieldPath, kind: type) -> Any:
    """container[path[-1]] if it has the type, None if absent or null, else refused."""
    value = container.get(str(path[-1]))
    if value is None:
        return None
    if not isinstance(value, kind):
        raise Refused(path, f"expected {_KIND_NAMES[kind]}, got {kind_of(value)}")
    return value


def texts(container: Mapping[str, Any], path: FieldPath) -> tuple[str, ...]:
    items = optional(container, path, list) or []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise Refused((*path, index), f"expected a string, got {kind_of(item)}")
    return tuple(items)


_KIND_NAMES: dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _KIND_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def render_path(path: FieldPath) -> str:
    """messageExamples[2][0].content.text; odd keys quoted: templates["my key"]."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out
