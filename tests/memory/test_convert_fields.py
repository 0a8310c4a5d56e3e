"""content.fields from protobuf: the direct walk gives what json_format.MessageToDict
gives, and refuses what it refuses (NaN, infinity) with the service's error."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_memory_api.convert import fields_from_pb
from anima_memory_api.errors import InvalidMemoryRequest

_scalars = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _struct(document: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(document)
    return message


def _reference(message: struct_pb2.Struct) -> dict[str, Any] | None:
    """MessageToDict's answer; None where it refuses."""
    try:
        return dict(json_format.MessageToDict(message))
    except ValueError:
        return None


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_fields_match_message_to_dict(document: dict[str, Any]) -> None:
    message = _struct(document)
    expected = _reference(message)
    if expected is None:
        with pytest.raises(InvalidMemoryRequest, match="NaN or infinite"):
            fields_from_pb(message)
    else:
        got = fields_from_pb(message)
        assert got == expected
        assert repr(got) == repr(expected)  # same types too (float, not int), same order


def test_an_unset_value_reads_as_null_like_message_to_dict() -> None:
    message = struct_pb2.Struct()
    message.fields["empty"].CopyFrom(struct_pb2.Value())
    message.fields["list"].list_value.values.add()
    assert fields_from_pb(message) == _reference(message) == {"empty": None, "list": [None]}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_even_deep_inside(bad: float) -> None:
    message = _struct({"ok": 1, "deep": {"list": [1, {"x": bad}]}})
    with pytest.raises(InvalidMemoryRequest, match="NaN or infinite"):
        fields_from_pb(message)
