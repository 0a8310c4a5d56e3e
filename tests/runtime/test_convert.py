"""The runtime API's wire conversions (anima_runtime_api.convert): what crosses gRPC
comes back as it left, entries a client receives are what their signed bytes say, and
malformed wire values are refused naming the field."""

from __future__ import annotations

import hashlib

import pytest

from anima.runtime.v1 import runtime_pb2 as pb
from anima_runtime_api import convert
from anima_runtime_api.errors import InvalidRuntimeRequest, RuntimeRpcError
from anima_runtime_api.types import (
    AgentView,
    EntryFilter,
    EntryView,
    LoggedAction,
    LoggedEvaluation,
    LoggedResponse,
    RoomMemory,
    TurnResult,
)
from anima_verify.tlog.entry import EntryKind, LogEntry
from anima_verify.tlog.errors import MalformedEntry
from anima_verify.tlog.merkle import leaf_hash

TURN = TurnResult(
    agent_id="ada-1",
    room_id="lobby",
    message_id="m-1",
    message_log_index=3,
    decision_log_index=4,
    responses=(LoggedResponse(text="Hello", actions=("REPLY",), memory_id="m-2", log_index=4),),
    actions=(
        LoggedAction(name="REPLY", ok=True, text="", log_index=5, data={"sent": 1, "wei": 10**30}),
    ),
    evaluations=(LoggedEvaluation(name="FACTS", ok=False, summary="none", log_index=6, data={}),),
    model_ms=1.5,
    total_ms=2.25,
)


def test_a_turn_crosses_the_wire_unchanged_and_names_every_entry() -> None:
    back = convert.turn_from_pb(pb.Turn.FromString(convert.turn_to_pb(TURN).SerializeToString()))
    assert back == TURN
    assert back.actions[0].data["wei"] == 10**30  # integers stay exact (JSON, not Struct)
    assert back.log_indices == (3, 4, 5, 6)


def test_agents_and_memories_cross_the_wire_unchanged() -> None:
    view = AgentView(
        agent_id="ada-1",
        name="Ada",
        running=False,
        created_at="2025-01-01T00:00:00+00:00",
        wallets=("0xabc",),
        log_verifier_key="key",
        plugins=("bootstrap",),
        unknown_plugins=("x",),
        model="offline",
        problem="its model failed",
    )
    assert convert.agent_from_pb(convert.agent_to_pb(view)) == view
    running = AgentView(**{**_fields(view), "running": True, "problem": None})
    assert not convert.agent_to_pb(running).HasField("problem")
    assert convert.agent_from_pb(convert.agent_to_pb(running)) == running
    memory = RoomMemory(
        id="m-1", entity_id="bob", table="messages", text="hi", created_at_ms=7, fields={"a": "b"}
    )
    assert convert.room_memory_from_pb(convert.room_memory_to_pb(memory)) == memory


def _fields(view: AgentView) -> dict[str, object]:
    return {name: getattr(view, name) for name in AgentView.__slots__}


def test_every_entry_kind_has_a_wire_kind_and_unknown_ones_are_refused() -> None:
    for kind in EntryKind:
        assert convert.kind_from_pb(convert.kind_to_pb(kind)) == kind
    assert convert.kind_from_pb(pb.LOG_ENTRY_KIND_UNSPECIFIED) is None
    with pytest.raises(InvalidRuntimeRequest, match="kind: 99"):
        convert.kind_from_pb(99)


def test_search_terms_cross_the_wire() -> None:
    terms = EntryFilter(room="r", kind=EntryKind.ACTION, actor="bob", since_ms=1, until_ms=9)
    request = convert.search_to_pb("ada-1", terms, after=4, limit=10)
    assert convert.search_from_pb(request) == (terms, 4)
    anything = convert.search_to_pb("ada-1", EntryFilter(), after=None, limit=0)
    assert convert.search_from_pb(anything) == (EntryFilter(), -1)


def _entry(index: int = 2) -> EntryView:
    entry = LogEntry(
        agent="ada-1",
        index=index,
        time_ms=1000,
        kind=EntryKind.RESPONSE,
        actor="ada-1",
        room="lobby",
        payload_sha256=hashlib.sha256(b"x").digest(),
        payload_size=1,
    )
    encoded = entry.encode()
    return EntryView(entry=entry, encoded=encoded, leaf_hash=leaf_hash(encoded), redacted=True)


def test_an_entry_is_what_its_signed_bytes_say() -> None:
    view = _entry()
    wire = convert.entry_to_pb(view)
    assert convert.entry_from_pb(wire) == view
    # The fields beside the bytes are a convenience: a client reads the bytes.
    wire.index, wire.leaf_hash, wire.kind = 99, b"\0" * 32, pb.LOG_ENTRY_KIND_ACTION
    assert convert.entry_from_pb(wire) == view
    wire.entry = view.encoded.replace(b'"index":2', b'"index": 2')
    with pytest.raises(MalformedEntry):
        convert.entry_from_pb(wire)


def test_data_that_is_not_a_json_object_is_the_runtime_s_failure() -> None:
    wire = convert.turn_to_pb(TURN)
    wire.actions[0].data_json = "[1, 2]"
    with pytest.raises(RuntimeRpcError, match=r"actions\[0\].data_json") as caught:
        convert.turn_from_pb(wire)
    assert caught.value.code == "INTERNAL"
