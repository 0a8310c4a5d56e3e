"""The log sequencer in the signer core: indices, checkpoints, the host's tail, caps, restarts.

Every checkpoint is opened with the agent's published verifier key and its
root recomputed from the entries, as a third-party verifier would.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from anima_signer.core import Signer
from anima_signer.keys import KeyRing
from anima_signer.store import STATE_FILE, SignerStore
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.binding import bound_keys
from anima_signer_api.errors import (
    InvalidRequest,
    LogChangedElsewhere,
    LogStateMismatch,
    LogTailFull,
)
from anima_signer_api.types import (
    MAX_APPEND_ENTRIES,
    MAX_ENCLAVE_PAYLOAD_BYTES,
    MAX_PENDING_LOG_ENTRIES,
    Agent,
    Ed25519Message,
    LogAppendResult,
    LogEntryInput,
    SigningPolicy,
    SignRequest,
)
from anima_verify.errors import ErrorKind
from anima_verify.tlog.checkpoint import Checkpoint, open_checkpoint
from anima_verify.tlog.entry import EntryKind, LogEntry, decode_entry
from anima_verify.tlog.errors import UnknownKey
from anima_verify.tlog.merkle import (
    consistency_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
)
from anima_verify.tlog.note import parse_verifier_key
from tests.signer.conftest import OPEN_POLICY, open_signer


def host_input(
    payload: bytes = b"hello", *, kind: EntryKind = EntryKind.MESSAGE_IN, **changes: object
) -> LogEntryInput:
    fields: dict[str, object] = {
        "kind": kind,
        "actor": "user:42",
        "room": "room-1",
        "payload_sha256": hashlib.sha256(payload).digest(),
        "payload_size": len(payload),
    }
    fields.update(changes)
    return LogEntryInput(**fields)  # type: ignore[arg-type]


def open_note(agent: Agent, note: bytes) -> Checkpoint:
    verifier = parse_verifier_key(agent.log_verifier_key)
    return open_checkpoint(note, [verifier]).checkpoint


class MemoryHashes:
    """A HashReader over leaf hashes held in memory (what the host's tiles hold)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._levels = [list(leaves)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            self._levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def node(self, level: int, index: int) -> bytes:
        return self._levels[level][index]


class HostLog:
    """What a host does with AppendLog answers: store the tail, check the checkpoint."""

    def __init__(self, signer: Signer, agent: Agent) -> None:
        self.signer = signer
        self.agent = agent
        self.entries: list[bytes] = []
        self.payloads: dict[int, bytes] = {}
        self.checkpoints: list[Checkpoint] = []

    def absorb(self, result: LogAppendResult) -> Checkpoint:
        """Store the tail the enclave returned and verify its checkpoint against it."""
        for item in result.entries:
            entry = decode_entry(item.entry)
            assert entry.index == len(self.entries), "the tail must continue the host's log"
            assert entry.agent == self.agent.agent_id
            if item.payload is not None:
                assert entry.matches_payload(item.payload)
                self.payloads[entry.index] = item.payload
            self.entries.append(item.entry)
        assert result.size == len(self.entries)
        checkpoint = open_note(self.agent, result.checkpoint)
        assert checkpoint.origin == self.signer.log_origin(self.agent.agent_id)
        assert checkpoint.size == result.size
        assert checkpoint.root_hash == root_from_leaf_hashes(leaf_hash(e) for e in self.entries)
        self.checkpoints.append(checkpoint)
        return checkpoint

    def append(self, inputs: Sequence[LogEntryInput] = ()) -> LogAppendResult:
        result = self.signer.append_log(self.agent.agent_id, len(self.entries), inputs)
        self.absorb(result)
        return result

    def decoded(self, index: int) -> LogEntry:
        return decode_entry(self.entries[index])

    def payload_json(self, index: int) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.payloads[index])
        return document


@pytest.fixture
def agent(signer: Signer) -> Agent:
    return signer.create_agent(agent_id="alice", wallet_count=2, policy=OPEN_POLICY)


@pytest.fixture
def host(signer: Signer, agent: Agent) -> HostLog:
    return HostLog(signer, agent)


def messages(count: int, start: int = 0) -> list[LogEntryInput]:
    return [host_input(f"message {start + i}".encode()) for i in range(count)]


# ---------------------------------------------------------------- creation


def test_a_new_agent_log_starts_with_its_creation(host: HostLog, agent: Agent) -> None:
    result = host.append()
    assert (result.first_index, result.size) == (1, 1)
    entry = host.decoded(0)
    assert entry.kind is EntryKind.LIFECYCLE
    assert (entry.actor, entry.room) == ("signer", "")
    assert host.payload_json(0) == {
        "v": 1,
        "event": "agent_created",
        "agent_id": "alice",
        "wallets": [{"index": w.index, "address": w.address} for w in agent.wallets],
        "log_verifier_key": agent.log_verifier_key,
        "signing_public_key": agent.signing_public_key.hex(),
        "key_derivation_version": agent.key_derivation_version,
    }
    # Canonical: sorted keys, no whitespace.
    assert (
        host.payloads[0]
        == json.dumps(host.payload_json(0), sort_keys=True, separators=(",", ":")).encode()
    )
    assert b"max_value" not in host.payloads[0] and b"allowed_chain" not in host.payloads[0]


def test_the_creation_payload_stays_within_the_bound(signer: Signer) -> None:
    signer.create_agent(agent_id="wide", wallet_count=16, policy=OPEN_POLICY)
    result = signer.append_log("wide", 0, [])
    payload = result.entries[0].payload
    assert payload is not None and len(payload) < MAX_ENCLAVE_PAYLOAD_BYTES


# ---------------------------------------------------------------- appends


def test_append_sequences_entries_and_signs_a_checkpoint(host: HostLog) -> None:
    host.append()
    inputs = [
        host_input(b"hi"),
        host_input(b"hello back", kind=EntryKind.RESPONSE, actor="agent"),
        host_input(b"{}", kind=EntryKind.ACTION, actor="agent", room=""),
    ]
    result = host.append(inputs)
    assert (result.first_index, result.size) == (1, 4)
    assert [e.payload for e in result.entries] == [None, None, None]
    for offset, item in enumerate(inputs):
        entry = host.decoded(1 + offset)
        assert (entry.index, entry.kind, entry.actor, entry.room) == (
            1 + offset,
            item.kind,
            item.actor,
            item.room,
        )
        assert (entry.payload_sha256, entry.payload_size) == (
            item.payload_sha256,
            item.payload_size,
        )


def test_the_tail_runs_from_the_host_size(signer: Signer, host: HostLog) -> None:
    host.append()
    first = signer.append_log("alice", 1, messages(3))
    assert [decode_entry(e.entry).index for e in first.entries] == [1, 2, 3]
    # The host did not store them: the next answer repeats them before the new ones.
    second = signer.append_log("alice", 1, messages(2, start=3))
    assert second.first_index == 4
    assert [decode_entry(e.entry).index for e in second.entries] == [1, 2, 3, 4, 5]
    assert second.entries[:3] == first.entries
    host.absorb(second)


def test_an_append_sent_again_with_the_same_host_size_is_logged_twice(
    signer: Signer, host: HostLog
) -> None:
    """Why SignerClient never sends an AppendLog with entries a second time after a
    broken connection: host_size confirms storage, it does not key the append."""
    host.append()
    first = signer.append_log("alice", 1, messages(1))
    again = signer.append_log("alice", 1, messages(1))
    assert (first.first_index, again.first_index, again.size) == (1, 2, 3)
    # Collecting the tail (no entries) is the same however often it is sent.
    assert signer.append_log("alice", 1, []) == signer.append_log("alice", 1, [])


def test_a_sync_signs_nothing_new(signer: Signer, host: HostLog) -> None:
    host.append()
    result = host.append(messages(2))
    # A sync that confirms part of the tail, then one that confirms all of it.
    partial = signer.append_log("alice", 2, [])
    assert (partial.checkpoint, partial.entries) == (result.checkpoint, result.entries[1:])
    again = signer.append_log("alice", 3, [])
    assert again.checkpoint == result.checkpoint
    assert (again.first_index, again.size, again.entries) == (3, 3, ())


def test_a_host_ahead_of_the_log_is_refused(signer: Signer, host: HostLog) -> None:
    host.append(messages(2))
    with pytest.raises(LogStateMismatch, match=r"host_size 9 .* 3 entries"):
        signer.append_log("alice", 9, messages(1))
    assert signer.append_log("alice", 3, []).size == 3


def test_a_host_that_lost_confirmed_entries_is_refused(signer: Signer, host: HostLog) -> None:
    host.append(messages(4))
    host.append()  # confirms 5
    with pytest.raises(LogStateMismatch, match=r"host_size 2 is below 5,.*lost entries \[2, 5\)"):
        signer.append_log("alice", 2, [])


def test_confirmed_entries_are_released(signer: Signer, host: HostLog) -> None:
    host.append(messages(4))
    store = signer._store  # the enclave's own view, for the check only
    assert len(store.pending("alice", 0, 10)) == 5
    host.append()
    assert store.pending("alice", 0, 10) == []
    signer.append_log("alice", 5, messages(2))
    assert len(store.pending("alice", 0, 10)) == 2


def test_more_than_the_append_limit_is_invalid(signer: Signer, host: HostLog) -> None:
    host.append()
    with pytest.raises(InvalidRequest, match=f"limit is {MAX_APPEND_ENTRIES}"):
        signer.append_log("alice", 1, messages(MAX_APPEND_ENTRIES + 1))
    assert signer.append_log("alice", 1, []).size == 1


def test_a_full_tail_refuses_appends_and_signs_until_the_host_collects(
    signer: Signer, host: HostLog
) -> None:
    host.append()
    size = 1
    while size < MAX_PENDING_LOG_ENTRIES + 1:
        count = min(MAX_APPEND_ENTRIES, MAX_PENDING_LOG_ENTRIES + 1 - size)
        size = signer.append_log("alice", 1, messages(count)).size
    with pytest.raises(LogTailFull, match="must collect") as info:
        signer.append_log("alice", 1, messages(1))
    assert info.value.kind.value == "resource_exhausted"
    with pytest.raises(LogTailFull):
        signer.sign(SignRequest("alice", Ed25519Message(b"not without its entry")))
    full = signer.append_log("alice", 1, [])
    assert len(full.entries) == MAX_PENDING_LOG_ENTRIES
    host.absorb(full)
    assert host.append(messages(1)).size == size + 1
    assert signer.sign(SignRequest("alice", Ed25519Message(b"now"))).log_index == size + 1


BAD_INPUTS = {
    "short hash": (host_input(payload_sha256=b"\x01" * 31), "payload_sha256 must be 32 bytes"),
    "long actor": (host_input(actor="a" * 257), "actor must be a string of at most 256"),
    "long room": (host_input(room="r" * 257), "room must be a string of at most 256"),
    "negative size": (host_input(payload_size=-1), "payload_size must be"),
    "huge size": (host_input(payload_size=1 << 63), "payload_size must be"),
    "signature kind": (host_input(kind=EntryKind.SIGNATURE), "written by the signer only"),
    "decision kind": (host_input(kind=EntryKind.POLICY_DECISION), "written by the signer only"),
    "signer actor": (host_input(actor="signer"), "reserved"),
    "not a kind": (host_input(kind="message_in"), "not a log entry kind"),
    "lone surrogate": (host_input(room="\ud800"), "not valid Unicode"),
    "entry too large": (
        host_input(actor="\U0001f600" * 256, room="\U0001f600" * 256),
        "above 2048",
    ),
    # Names that imitate the enclave's actor, refused by the enclave itself.
    "Signer": (host_input(actor="Signer"), "'Signer' imitates 'signer'"),
    "SIGNER": (host_input(actor="SIGNER"), "imitates 'signer'"),
    "fullwidth signer": (host_input(actor="\uff53\uff49\uff47\uff4e\uff45\uff52"), "imitates"),
    "long-s signer": (host_input(actor="\u017figner"), "imitates 'signer'"),
    "Cyrillic signer": (host_input(actor="\u0455\u0456gn\u0435r"), "look-alike letters"),
    "Greek SIGNER": (host_input(actor="S\u0399G\u039d\u0395R"), "look-alike letters"),
    "signer and a space": (host_input(actor="signer "), "imitates 'signer'"),
    "zero-width space": (host_input(actor="signer\u200b"), "U\\+200B \\(ZERO WIDTH SPACE\\)"),
    "zero-width joiner": (host_input(actor="sig\u200dner"), "U\\+200D"),
    "soft hyphen": (host_input(actor="sig\u00adner"), "U\\+00AD"),
    "right-to-left override": (host_input(actor="rengis\u202e"), "U\\+202E"),
    "variation selector": (host_input(actor="signer\ufe0f"), "U\\+FE0F"),
    "Hangul filler": (host_input(actor="\u3164signer"), "U\\+3164"),
    "tag characters": (host_input(actor="signer\U000e0073"), "U\\+E0073"),
    "control in room": (host_input(room="room\x00"), "room holds U\\+0000"),
    "line separator in room": (host_input(room="a\u2028b"), "room holds U\\+2028"),
    "not NFKC": (host_input(actor="bo\uff42"), "not in NFKC form; send 'bob'"),
    "decomposed accent": (host_input(room="e\u0301"), "room 'e\u0301' is not in NFKC form"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_an_invalid_input_is_named_and_nothing_is_appended(
    signer: Signer, host: HostLog, case: str
) -> None:
    before = host.append(messages(2))
    bad, reason = BAD_INPUTS[case]
    with pytest.raises(InvalidRequest, match=reason) as info:
        signer.append_log("alice", 3, [*messages(2), bad, *messages(1)])
    assert "entries[2]" in info.value.message
    after = signer.append_log("alice", 3, [])
    assert (after.size, after.checkpoint, after.entries) == (3, before.checkpoint, ())


def test_unusual_labels_encode_canonically(host: HostLog) -> None:
    labels = ['quote " and \\ slash', "emoji 😀 and é", "</script>", "\u4e16\u754c", "signers"]
    host.append([host_input(actor=label, room=label[::-1]) for label in labels])
    for offset, label in enumerate(labels, start=1):
        assert host.decoded(offset).actor == label  # decode_entry re-encodes byte for byte


# ---------------------------------------------------------------- history


def test_successive_checkpoints_are_consistent(host: HostLog) -> None:
    for count in (0, 1, 2, 5, 1, 8, 13, 3, 64):
        host.append(messages(count))
    reader = MemoryHashes([leaf_hash(e) for e in host.entries])
    checkpoints = host.checkpoints
    for older in checkpoints:
        for newer in checkpoints:
            if older.size <= newer.size:
                verify_consistency(
                    size1=older.size,
                    size2=newer.size,
                    root1=older.root_hash,
                    root2=newer.root_hash,
                    proof=consistency_proof(reader, older.size, newer.size),
                )


async def test_entry_time_never_goes_backwards(tmp_path: Path) -> None:
    now = [1_000_000]
    signer = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=tmp_path),
        state_dir=tmp_path,
        log_origin_prefix="test.anima/agents",
        clock_ms=lambda: now[0],
    )
    try:
        agent = signer.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
        host = HostLog(signer, agent)
        host.append(messages(2))
        now[0] = 999_000  # the clock steps back
        host.append(messages(2))
        now[0] = 1_000_500
        host.append(messages(1))
        times = [host.decoded(i).time_ms for i in range(len(host.entries))]
        assert times == [1_000_000] * 5 + [1_000_500]
    finally:
        signer.close()


async def test_the_log_survives_a_restart(tmp_path: Path) -> None:
    first = await open_signer(tmp_path)
    agent = first.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    host = HostLog(first, agent)
    host.append(messages(3))
    unconfirmed = first.append_log("alice", 4, messages(2))  # the host "crashes" before storing
    first.close()

    second = await open_signer(tmp_path)
    try:
        again = second.append_log("alice", 4, [])
        assert again.checkpoint == unconfirmed.checkpoint
        assert again.entries == unconfirmed.entries
        host.signer = second
        host.absorb(again)
        host.append(messages(3))
        reader = MemoryHashes([leaf_hash(e) for e in host.entries])
        old, new = host.checkpoints[-2], host.checkpoints[-1]
        verify_consistency(
            size1=old.size,
            size2=new.size,
            root1=old.root_hash,
            root2=new.root_hash,
            proof=consistency_proof(reader, old.size, new.size),
        )
        with pytest.raises(LogStateMismatch, match="lost entries"):
            second.append_log("alice", 3, [])
    finally:
        second.close()


async def test_agents_from_before_the_log_get_one_on_open(tmp_path: Path) -> None:
    first = await open_signer(tmp_path)
    first.create_agent(agent_id="alice", wallet_count=1, policy=SigningPolicy())
    state = first._store._state
    with state.transaction():  # as a signer without the log left it (a sealed write)
        state.delete("alice", "log", b"")
        state.delete_many("alice", "log_entries", state.keys("alice", "log_entries"))
    first.close()
    second = await open_signer(tmp_path)
    try:
        result = second.append_log("alice", 0, [])
        assert result.size == 1
        payload = result.entries[0].payload
        assert payload is not None and json.loads(payload)["event"] == "log_started"
        open_note(second.get_agent("alice"), result.checkpoint)
    finally:
        second.close()


def test_logs_of_two_agents_are_independent(signer: Signer, host: HostLog) -> None:
    other = HostLog(signer, signer.create_agent(agent_id="bob", wallet_count=1, policy=OPEN_POLICY))
    host.append(messages(3))
    other.append(messages(1))
    assert (len(host.entries), len(other.entries)) == (4, 2)
    with pytest.raises(UnknownKey):
        open_note(host.agent, other.append().checkpoint)


# ---------------------------------------------------------------- two writers


async def unlocked_signer(state_dir: Path, prefix: str = "test.anima/agents") -> Signer:
    """A second signer on a state directory, past the lock Signer.open takes."""
    tee = InsecureSimulatedTee(state_dir=state_dir)
    keyring = KeyRing(root_secret=await tee.root_secret())
    return Signer(
        tee=tee,
        keyring=keyring,
        store=SignerStore(path=state_dir / STATE_FILE, keyring=keyring),
        log_origin_prefix=prefix,
    )


async def test_a_stale_frontier_cannot_sign_a_second_root_for_one_size(tmp_path: Path) -> None:
    a = await open_signer(tmp_path)
    agent = a.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    host = HostLog(a, agent)
    b = await unlocked_signer(tmp_path)
    try:
        assert b.append_log("alice", 0, []).size == 1  # b caches size 1
        host.append([host_input(b"x")])
        confirmed = host.append()  # size 2 is checkpointed and stored
        with pytest.raises(LogChangedElsewhere, match=r"last saw 1 entries.*holds 2") as info:
            b.append_log("alice", 1, [host_input(b"y")])
        assert info.value.kind is ErrorKind.FAILED_PRECONDITION
        # Nothing was written: size 2 has the one checkpoint a signed.
        assert a.append_log("alice", 2, []).checkpoint == confirmed.checkpoint
        # b reloaded the log: it continues a's, consistent with a's checkpoint.
        host.signer = b
        result = host.append([host_input(b"y")])
        assert (result.first_index, result.size) == (2, 3)
        assert host.decoded(1).payload_sha256 == hashlib.sha256(b"x").digest()
        old, new = host.checkpoints[-2], host.checkpoints[-1]
        verify_consistency(
            size1=old.size,
            size2=new.size,
            root1=old.root_hash,
            root2=new.root_hash,
            proof=consistency_proof(MemoryHashes([leaf_hash(e) for e in host.entries]), 2, 3),
        )
        # Now a's cache is the stale one: a sign is refused once, then sequenced after b's.
        with pytest.raises(LogChangedElsewhere):
            a.sign(SignRequest("alice", Ed25519Message(b"gm")))
        assert a.sign(SignRequest("alice", Ed25519Message(b"gm"))).log_index == 3
    finally:
        b.close()
        a.close()


# ---------------------------------------------------------------- origins


async def open_with_prefix(state_dir: Path, prefix: str) -> Signer:
    return await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state_dir),
        state_dir=state_dir,
        log_origin_prefix=prefix,
    )


async def _attested_keys(signer: Signer, agent_id: str) -> bytes:
    bundle = await signer.attest(nonce=b"n" * 32, tls_public_key=b"tls", agent_id=agent_id)
    return bundle.bound_keys


async def test_a_new_origin_prefix_renames_no_existing_log(tmp_path: Path) -> None:
    first = await open_with_prefix(tmp_path, "one.test/agents")
    alice = first.create_agent(agent_id="alice", wallet_count=1, policy=OPEN_POLICY)
    host = HostLog(first, alice)
    host.append(messages(2))
    attested = await _attested_keys(first, "alice")
    first.close()

    second = await open_with_prefix(tmp_path, "two.test/agents")
    try:
        assert second.log_origin("alice") == "one.test/agents/alice"
        assert second.get_agent("alice") == alice
        assert await _attested_keys(second, "alice") == attested == bound_keys(alice)
        host.signer = second
        checkpoint = host.absorb(second.append_log("alice", 3, messages(1)))  # alice's old vkey
        assert (checkpoint.origin, checkpoint.size) == ("one.test/agents/alice", 4)
        bob = second.create_agent(agent_id="bob", wallet_count=1, policy=OPEN_POLICY)
        assert second.log_origin("bob") == "two.test/agents/bob"
        assert bob.log_verifier_key.startswith("two.test/agents/bob+")
        assert open_note(bob, second.append_log("bob", 0, []).checkpoint).origin == (
            "two.test/agents/bob"
        )
    finally:
        second.close()
