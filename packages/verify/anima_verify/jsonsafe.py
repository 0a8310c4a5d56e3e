"""JSON decoding that refuses deep nesting before the decoder sees it.

The C decoder recurses once per array or object. eth_account (through py_ecc) raises the
interpreter's recursion limit to 100000, so in any process that imports it a document
such as `[[[[...` a few hundred thousand deep overflows the C stack and kills the process
instead of raising. `loads` measures the nesting first, without decoding, and refuses
anything deeper than `max_depth`; use it for every JSON text that comes from outside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Final

__all__ = ["MAX_DEPTH", "TooDeep", "depth", "loads"]

#: Real documents (characters, model answers, request bodies) nest well under 20.
MAX_DEPTH: Final = 64

# A string, escapes included. The closing quote is optional, so an unterminated string
# matches to the end instead of failing: no backtracking, linear time on any input.
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")
_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


class TooDeep(ValueError):
    """JSON text nests deeper than allowed. A ValueError, as json.JSONDecodeError is, so
    code that handles undecodable JSON handles this too."""


def depth(text: str | bytes) -> int:
    """How many arrays and objects are open at most at once in JSON text (brackets inside
    strings do not count), without decoding it.

    For text that is not JSON this still bounds how deep a decoder recurses before it
    fails: up to its first error the decoder reads strings and brackets as this does.
    Bytes are decoded as json.loads decodes them; bytes that do not decode give 0, as a
    decoder refuses them before it reads any nesting.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
        except UnicodeDecodeError:
            return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    # map and accumulate run in C: no Python-level loop over a long document.
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def loads(
    text: str | bytes,
    *,
    max_depth: int = MAX_DEPTH,
    what: str = "JSON text",
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """json.loads, after refusing text nested more than `max_depth` deep with TooDeep
    ("{what} is nested more than {max_depth} levels deep"). Other errors are json.loads'
    own (ValueErrors)."""
    if depth(text) > max_depth:
        raise TooDeep(f"{what} is nested more than {max_depth} levels deep")
    return json.loads(text, object_pairs_hook=object_pairs_hook, parse_constant=parse_constant)
