"""The witness's logic, free of any transport: check an add-checkpoint request and
cosign, or refuse with the status C2SP tlog-witness prescribes.

Order of checks, as the spec gives them: the request's syntax (400), the origin
(404), the log's signature (403), old size not above the new size (400), then,
atomically with recording the result: old size equals the latest cosigned size
(409, with that size), the empty tree's root (422), the consistency proof or, for
equal sizes, equal roots (422). A log-signed checkpoint refused by the last group
is kept as evidence: two roots for one size are an equivocation the log signed,
a failed proof a fork (or a bad proof), a checkpoint below the latest size a
stale or rolled-back log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_verify.tlog.checkpoint import Checkpoint, parse_checkpoint
from anima_verify.tlog.cosignature import add_cosignatures, cosign, cosigner_verifier_key
from anima_verify.tlog.errors import LogVerificationError, RootMismatch
from anima_verify.tlog.merkle import EMPTY_ROOT, verify_consistency
from anima_verify.tlog.note import Note, open_note, parse_note
from anima_verify.tlog.witness_protocol import AddCheckpointRequest, parse_add_checkpoint_request
from anima_witness.errors import (
    BadWitnessRequest,
    InconsistentCheckpoint,
    NotSignedByLog,
    OldSizeConflict,
    UnknownLog,
)
from anima_witness.store import Latest, WitnessStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Refusal:
    error: InconsistentCheckpoint | OldSizeConflict
    evidence: str | None  # the evidence kind, None when the refusal proves nothing


class Witness:
    """One witness key over a store of logs; thread-safe."""

    def __init__(
        self,
        *,
        name: str,
        key: Ed25519PrivateKey,
        store: WitnessStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._key = key
        self._store = store
        self._clock = clock
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier_key = cosigner_verifier_key(name, public)

    def add_checkpoint(self, body: bytes) -> bytes:
        """The cosignature line(s) for the request's checkpoint, or a WitnessError."""
        try:
            request = parse_add_checkpoint_request(body)
            note = parse_note(request.checkpoint)
            checkpoint = parse_checkpoint(note.text)
        except LogVerificationError as exc:
            raise BadWitnessRequest(exc.message) from exc
        verifier = self._store.log_verifier(checkpoint.origin)
        if verifier is None:
            raise UnknownLog(f"this witness does not know the log {checkpoint.origin!r}")
        try:
            open_note(request.checkpoint, [verifier])
        except LogVerificationError as exc:
            raise NotSignedByLog(
                f"the checkpoint is not signed by the key of {checkpoint.origin!r}: {exc.message}"
            ) from exc
        if request.old_size > checkpoint.size:
            raise BadWitnessRequest(
                f"old size {request.old_size} is above the checkpoint's size {checkpoint.size}"
            )
        refusal: list[_Refusal] = []
        seen: list[Latest] = []

        def decide(latest: Latest) -> tuple[Latest, bytes]:
            seen.append(latest)
            problem = _check(request, checkpoint, latest)
            if problem is not None:
                refusal.append(problem)
                raise problem.error
            cosignature = cosign(
                note.text, name=self.name, private_key=self._key, timestamp=int(self._clock())
            )
            # Served: the log's signature this witness verified, then its cosignature.
            log_lines = tuple(
                s for s in note.signatures if (s.name, s.key_id) == (verifier.name, verifier.key_id)
            )[:1]
            served = add_cosignatures(Note(note.text, log_lines), [cosignature])
            stored = Latest(size=checkpoint.size, root=checkpoint.root_hash, note=served.to_bytes())
            return stored, cosignature.line().encode()

        try:
            lines: bytes = self._store.advance(checkpoint.origin, decide)
            return lines
        except (InconsistentCheckpoint, OldSizeConflict) as exc:
            if refusal and refusal[0].evidence is not None:
                self._keep(checkpoint, refusal[0], body, seen[0])
            raise exc from None

    def _keep(self, checkpoint: Checkpoint, refusal: _Refusal, body: bytes, latest: Latest) -> None:
        kind = refusal.evidence or ""
        log.warning(
            "kept evidence (%s) against log %r: %s", kind, checkpoint.origin, refusal.error.message
        )
        self._store.keep_evidence(
            checkpoint.origin,
            kind=kind,
            detail=refusal.error.message,
            request=body,
            latest_note=latest.note,
        )

    def checkpoint(self, origin: str) -> bytes | None:
        """The latest cosigned checkpoint of a log, with the log's signature and ours."""
        note: bytes | None = self._store.latest(origin).note
        return note


def _check(
    request: AddCheckpointRequest, checkpoint: Checkpoint, latest: Latest
) -> _Refusal | None:
    size, root = checkpoint.size, checkpoint.root_hash
    if request.old_size != latest.size:
        evidence = None
        if size < latest.size:
            evidence = "stale"  # signed by the log, yet behind what it showed before
        elif size == latest.size and root != latest.root:
            evidence = "equivocation"
        conflict = OldSizeConflict(
            f"old size {request.old_size} is not {latest.size}, the size this witness "
            f"last cosigned for {checkpoint.origin!r}",
            latest_size=latest.size,
        )
        return _Refusal(conflict, evidence)
    if size == 0 and root != EMPTY_ROOT:
        return _Refusal(InconsistentCheckpoint("a size-0 checkpoint needs the empty root"), None)
    if request.old_size == 0:
        if request.proof:
            return _Refusal(
                InconsistentCheckpoint("a request from size 0 carries no consistency proof"), None
            )
        return None
    if request.old_size == size:
        if root != latest.root:
            message = (
                f"another root for size {size}: this witness cosigned {latest.root.hex()}, "
                f"the checkpoint says {root.hex()}"
            )
            return _Refusal(InconsistentCheckpoint(message), "equivocation")
        if request.proof:
            return _Refusal(InconsistentCheckpoint("equal sizes take an empty proof"), None)
        return None
    try:
        verify_consistency(
            size1=request.old_size,
            size2=size,
            root1=latest.root,
            root2=root,
            proof=list(request.proof),
        )
    except LogVerificationError as exc:
        kind = "fork" if isinstance(exc, RootMismatch) else None
        message = (
            f"the checkpoint of size {size} is not proven to extend the cosigned size "
            f"{latest.size}: {exc.message}"
        )
        return _Refusal(InconsistentCheckpoint(message), kind)
    return None
