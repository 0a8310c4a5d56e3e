"""Witnessed checkpoints: nothing leaves the enclave until a quorum of witnesses has
cosigned a checkpoint that contains it.

Where the calls happen: here, in the enclave, over plain HTTP that the host
carries. The host can delay or drop the calls (it can stop the signer anyway)
but cannot forge an answer: every cosignature is verified against the witness
keys configured at start-up before anything is released, and the consistency
proof is computed here, from the frontier at the last witnessed size and the
entries since, so the host holds nothing a witness needs.

Why it stops a rollback: a host that restores an older state directory gets a
signer whose log is behind what the witnesses cosigned. Its next checkpoint
cannot be proven to extend theirs (same size, another root; or a proof from
their size that fails), so they refuse it (409/422, and keep it as evidence),
no quorum forms, and no signature or checkpoint from the forked log is released.

Grouping: one round per log at a time, and a round takes the latest committed
checkpoint, so every batch that committed while the previous round ran is
witnessed by the next one (one round of witness calls per batch, not per
signature). Entries are committed before the round: what a witness cosigns is
always durable here, so a crash between the two cannot fork the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from anima_signer.store import SignerStore
from anima_signer_api.errors import LogNotWitnessed
from anima_verify.tlog.cosignature import (
    Cosignature,
    CosignerKey,
    WitnessPolicy,
    add_cosignatures,
    parse_cosignature_lines,
)
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.extension import consistency_proof_from_frontier
from anima_verify.tlog.merkle import CompactRange, leaf_hash
from anima_verify.tlog.note import parse_note
from anima_verify.tlog.witness_protocol import (
    ADD_CHECKPOINT_PATH,
    AddCheckpointRequest,
    parse_size_body,
)

log = logging.getLogger(__name__)

#: (agent, start) -> (latest committed checkpoint, its frontier, leaf hashes [start,
#: size)) held in memory by the sequencer (EnclaveLogs.leaves_since), or None.
LeafSource = Callable[[str, int], "tuple[bytes, bytes, list[bytes]] | None"]

#: Path of the Anima witness's log registration (anima_witness.http).
REGISTER_LOG_PATH = "/anima/v1/logs"
_MAX_TRIES = 3  # a 404 (register) or a 409 (start from the witness's size), then the real try


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness the signer calls: its key, its submission URL, and the bearer token
    with which the signer registers new logs there (None: registered by its operator)."""

    key: CosignerKey
    url: str
    registration_token: str | None = None


@dataclass(slots=True)
class _Witnessed:
    frontier: CompactRange
    note: bytes | None  # None before the first witnessed checkpoint

    @property
    def size(self) -> int:
        return self.frontier.size


class LogWitnessing:
    """Rounds of add-checkpoint calls per agent log; thread-safe."""

    def __init__(
        self,
        *,
        store: SignerStore,
        endpoints: Sequence[WitnessEndpoint],
        quorum: int,
        timeout_s: float = 5.0,
    ) -> None:
        self._policy = WitnessPolicy(tuple(e.key for e in endpoints), quorum)
        self._store = store
        self._endpoints = tuple(endpoints)
        self._http = httpx.Client(timeout=timeout_s)
        self._pool = ThreadPoolExecutor(len(endpoints), thread_name_prefix="witness")
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._cache: dict[str, _Witnessed] = {}
        self._leaf_source: LeafSource | None = None

    def use_leaf_source(self, source: LeafSource) -> None:
        """Take each round's leaf hashes from the sequencer's memory where it holds them,
        rather than reading the entries back from the store and hashing them again."""
        self._leaf_source = source

    @property
    def policy(self) -> WitnessPolicy:
        return self._policy

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def witnessed_size(self, agent_id: str) -> int:
        with self._lock(agent_id):
            return self._state(agent_id).size

    def catch_up(self, agent_id: str, *, log_verifier_key: str) -> int:
        """The witnessed size after a round for whatever was committed and is not yet
        witnessed (a log from before witnesses were configured, say)."""
        with self._lock(agent_id):
            state = self._state(agent_id)
            record = self._store.log_state(agent_id)
            committed = 0 if record is None else CompactRange.from_bytes(record.frontier).size
            if committed > state.size or state.note is None:
                state = self._round(agent_id, state, log_verifier_key)
            return state.size

    def ensure(self, agent_id: str, size: int, *, log_verifier_key: str) -> tuple[int, bytes]:
        """(size, cosigned checkpoint) of a witnessed checkpoint of at least `size`
        entries; LogNotWitnessed when no quorum cosigns the latest one."""
        with self._lock(agent_id):
            state = self._state(agent_id)
            if state.size < size or state.note is None:
                state = self._round(agent_id, state, log_verifier_key)
            if state.note is None or state.size < size:  # pragma: no cover - a round sets both
                raise RuntimeError("a witness round ended below the size asked for")
            return state.size, state.note

    def _lock(self, agent_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(agent_id, threading.Lock())

    def _state(self, agent_id: str) -> _Witnessed:
        state = self._cache.get(agent_id)
        if state is None:
            stored = self._store.witnessed(agent_id)
            if stored is None:
                state = _Witnessed(CompactRange(), None)
            else:
                state = _Witnessed(CompactRange.from_bytes(stored[0]), stored[1])
            self._cache[agent_id] = state
        return state

    def _since(self, agent_id: str, start: int) -> tuple[bytes, CompactRange, list[bytes]]:
        """(latest committed checkpoint, its frontier, leaf hashes [start, size))."""
        held = None if self._leaf_source is None else self._leaf_source(agent_id, start)
        if held is not None:
            checkpoint, frontier_bytes, leaves = held
            return checkpoint, CompactRange.from_bytes(frontier_bytes), leaves
        checkpoint, frontier_bytes, entries = self._store.log_since(agent_id, start)
        frontier = CompactRange.from_bytes(frontier_bytes)  # the checkpoint's own frontier
        if len(entries) != frontier.size - start:
            raise LogNotWitnessed(
                agent_id,
                f"the entries since the witnessed size {start} are no longer held "
                "here, so no consistency proof can be built",
            )
        return checkpoint, frontier, [leaf_hash(e.entry) for e in entries]

    def _round(self, agent_id: str, state: _Witnessed, log_vkey: str) -> _Witnessed:
        checkpoint, frontier, leaves = self._since(agent_id, state.size)
        size = frontier.size
        note = parse_note(checkpoint)
        # The same proof for every witness (only one that answers 409 needs another).
        proof = consistency_proof_from_frontier(state.frontier, leaves)
        calls = [
            self._pool.submit(
                _Call(self, e, agent_id, log_vkey).run, state, leaves, note.text, checkpoint, proof
            )
            for e in self._endpoints
        ]
        cosignatures: list[Cosignature] = []
        refusals: list[str] = []
        for endpoint, call in zip(self._endpoints, calls, strict=True):
            outcome = call.result()
            if isinstance(outcome, Cosignature):
                cosignatures.append(outcome)
            else:
                refusals.append(f"{endpoint.key.name}: {outcome}")
        cosigned = add_cosignatures(note, cosignatures)
        try:
            self._policy.check(cosigned)
        except LogVerificationError:
            detail = "; ".join(refusals) or "no answer"
            log.warning("log of agent %r not witnessed at size %d: %s", agent_id, size, detail)
            raise LogNotWitnessed(
                agent_id,
                f"{len(cosignatures)} of {len(self._endpoints)} witnesses cosigned size {size}, "
                f"{self._policy.quorum} needed ({detail})",
            ) from None
        note_bytes = cosigned.to_bytes()
        self._store.put_witnessed(agent_id, frontier.to_bytes(), note_bytes)
        fresh = _Witnessed(frontier, note_bytes)
        self._cache[agent_id] = fresh
        return fresh


class _Call:
    """One witness's part of a round: a cosignature, or why there is none."""

    def __init__(
        self, owner: LogWitnessing, endpoint: WitnessEndpoint, agent_id: str, log_vkey: str
    ) -> None:
        self._http = owner._http
        self._endpoint = endpoint
        self._agent_id = agent_id
        self._log_vkey = log_vkey

    def run(
        self,
        state: _Witnessed,
        leaves: list[bytes],
        body_text: str,
        checkpoint: bytes,
        proof: list[bytes],
    ) -> Cosignature | str:
        try:
            return self._run(state, leaves, body_text, checkpoint, proof)
        except httpx.HTTPError as exc:
            return f"unreachable ({type(exc).__name__})"
        except LogVerificationError as exc:
            return f"answered out of protocol: {exc.message}"

    def _run(
        self,
        state: _Witnessed,
        leaves: list[bytes],
        body_text: str,
        checkpoint: bytes,
        proof: list[bytes],
    ) -> Cosignature | str:
        endpoint = self._endpoint
        frontier, rest = state.frontier, leaves
        registered = False
        for _ in range(_MAX_TRIES):
            request = AddCheckpointRequest(frontier.size, tuple(proof), checkpoint)
            response = self._http.post(
                endpoint.url.rstrip("/") + ADD_CHECKPOINT_PATH, content=request.to_bytes()
            )
            if response.status_code == 200:
                for cosignature in parse_cosignature_lines(response.content):
                    if endpoint.key.matches(cosignature):
                        if endpoint.key.verify(body_text, cosignature):
                            return cosignature
                        return "its cosignature does not verify"
                return "its answer holds no cosignature by its key"
            if response.status_code == 404 and endpoint.registration_token and not registered:
                registered = True
                if not self._register():
                    return "does not know the log, and registering it failed"
                continue
            if response.status_code == 409:
                witness_size = parse_size_body(response.content)
                start = _restart(state.frontier, leaves, witness_size)
                if start is None:
                    return (
                        f"refused: it cosigned size {witness_size}, which this log "
                        f"(witnessed {state.size}, now {state.size + len(leaves)}) cannot "
                        "extend: rolled back or forked"
                    )
                frontier, rest = start
                proof = consistency_proof_from_frontier(frontier, rest)
                continue
            return f"refused with HTTP {response.status_code}: {_excerpt(response.content)}"
        return "gave no cosignature after retrying"

    def _register(self) -> bool:
        token = self._endpoint.registration_token
        response = self._http.post(
            self._endpoint.url.rstrip("/") + REGISTER_LOG_PATH,
            content=self._log_vkey.encode(),
            headers={"authorization": f"Bearer {token}"},
        )
        return response.status_code in (200, 201)


def _restart(
    frontier: CompactRange, leaves: list[bytes], witness_size: int
) -> tuple[CompactRange, list[bytes]] | None:
    """The frontier at the witness's size and the leaves after it, when this log
    holds that size: 0 (no proof needed) or between the witnessed size and now."""
    if witness_size == 0:
        return CompactRange(), []
    if not frontier.size <= witness_size <= frontier.size + len(leaves):
        return None
    moved = frontier.copy()
    moved.extend(leaves[: witness_size - frontier.size])
    return moved, leaves[witness_size - frontier.size :]


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return "".join(c if c.isprintable() else "?" for c in text)
