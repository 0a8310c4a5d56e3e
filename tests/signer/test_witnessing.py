"""The signer with witnesses (anima_signer.witnessing), against real witnesses served
over HTTP in this process (their core wrapped to count calls, go down or forge):
grouping, quorum, a lagging witness caught up, forged cosignatures ignored, and
nothing released while a quorum is missing."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_signer.core import Signer
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer.witnessing import WitnessEndpoint
from anima_signer_api.errors import LogNotWitnessed, LogStateMismatch
from anima_signer_api.types import PersonalMessage, SignRequest
from anima_verify.tlog.cosignature import (
    WitnessPolicy,
    parse_cosignature_lines,
    parse_cosigner_key,
)
from anima_verify.tlog.note import parse_note
from anima_witness.core import Witness
from anima_witness.errors import WitnessError
from anima_witness.http import build_app
from anima_witness.store import WitnessStore
from tests.signer.conftest import OPEN_POLICY

AGENT = "agent-w"
TOKEN = "registration-token-for-tests"


class Unavailable(WitnessError):
    reason = "TEST_WITNESS_DOWN"
    http_status = 503


class FlakyWitness(Witness):
    """The real witness, counting add-checkpoint calls; `down` answers 503, `forge`
    alters its cosignature (same name and key id, a signature that fails)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.calls = 0
        self.down = False
        self.forge = False

    def add_checkpoint(self, body: bytes) -> bytes:
        self.calls += 1
        if self.down:
            raise Unavailable("down for the test")
        lines = super().add_checkpoint(body)
        if self.forge:
            cosignature = parse_cosignature_lines(lines)[0]
            bad = bytes([cosignature.signature[0] ^ 1]) + cosignature.signature[1:]
            return dataclasses.replace(cosignature, signature=bad).line().encode()
        return lines


@contextlib.contextmanager
def served_witness(state: Path, name: str) -> Iterator[tuple[FlakyWitness, WitnessEndpoint]]:
    store = WitnessStore(path=state / f"{name}.sqlite3")
    witness = FlakyWitness(name=name, key=Ed25519PrivateKey.generate(), store=store)
    app = build_app(witness=witness, store=store, registrars={"signer": _digest(TOKEN)})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.01)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        key = parse_cosigner_key(witness.verifier_key)
        yield witness, WitnessEndpoint(key=key, url=url, registration_token=TOKEN)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        store.close()


def _digest(token: str) -> str:
    from anima_core.tokens import token_digest

    return token_digest(token)


async def open_signer(state: Path, endpoints: list[WitnessEndpoint], quorum: int) -> Signer:
    return await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state),
        state_dir=state,
        log_origin_prefix="test.anima/agents",
        witnesses=endpoints,
        witness_quorum=quorum,
        witness_timeout_s=5,
    )


def request(i: int, key: str = "") -> SignRequest:
    return SignRequest(AGENT, PersonalMessage(b"message %d" % i), idempotency_key=key)


@pytest.fixture
def two(tmp_path: Path) -> Iterator[list[tuple[FlakyWitness, WitnessEndpoint]]]:
    with (
        served_witness(tmp_path / "w", "w1.test") as one,
        served_witness(tmp_path / "w", "w2.test") as other,
    ):
        yield [one, other]


@pytest.fixture(autouse=True)
def _witness_dir(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()


async def test_a_batch_is_witnessed_in_one_round_and_released_cosigned(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]]
) -> None:
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        results = signer.sign_many([request(i) for i in range(40)])
        assert all(not isinstance(r, Exception) for r in results)
        # First contact: 404, registration, then the checkpoint: two calls per witness.
        assert [w.calls for w, _ in two] == [2, 2]
        tail = signer.append_log(AGENT, 0, [])
        assert [w.calls for w, _ in two] == [2, 2], "already witnessed: no new round"
        assert tail.size == 41 and len(tail.entries) == 41
        policy = WitnessPolicy(tuple(e.key for _, e in two), 2)
        assert policy.check(parse_note(tail.checkpoint)) == ("w1.test", "w2.test")
        signer.sign_many([request(i) for i in range(40, 50)])
        assert [w.calls for w, _ in two] == [3, 3]
    finally:
        signer.close()


async def test_without_a_quorum_nothing_is_released_and_a_lagging_witness_catches_up(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]]
) -> None:
    (first, _), (second, _) = two
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        signer.sign(request(0))
        second.down = True
        with pytest.raises(LogNotWitnessed, match="1 of 2 witnesses cosigned"):
            signer.sign(request(1, key="k1"))
        with pytest.raises(LogNotWitnessed):
            signer.append_log(AGENT, 0, [])
        # Nor can the host confirm entries no quorum witnessed.
        with pytest.raises(LogNotWitnessed):
            signer.append_log(AGENT, 3, [])
        second.down = False
        # The first witness is now ahead of the signer's witnessed size: it answers 409
        # with its size, and the signer proves its checkpoint from there.
        replayed = signer.sign(request(1, key="k1"))
        assert replayed.log_index == 2
        tail = signer.append_log(AGENT, 0, [])
        policy = WitnessPolicy(tuple(e.key for _, e in two), 2)
        assert policy.check(parse_note(tail.checkpoint))
        assert first.checkpoint(tail.checkpoint.split(b"\n")[0].decode()) is not None
    finally:
        signer.close()


async def test_a_forged_cosignature_does_not_count(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]]
) -> None:
    two[1][0].forge = True
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        with pytest.raises(LogNotWitnessed, match="does not verify"):
            signer.sign(request(0))
    finally:
        signer.close()
    # Quorum 1 of the same two: the honest witness is enough.
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 1)
    try:
        result = signer.sign(request(1))
        assert result.log_index == 2
    finally:
        signer.close()


async def test_a_signature_waiting_for_witnesses_is_replayed_once_they_answer(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]]
) -> None:
    """A signer that could not reach its witnesses keeps the signature it logged; a
    retry with the same idempotency key after a restart gets it, witnessed."""
    for witness, _ in two:
        witness.down = True
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 1)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        with pytest.raises(LogNotWitnessed, match="503"):
            signer.sign(request(0, key="retry-me"))
    finally:
        signer.close()
    for witness, _ in two:
        witness.down = False
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        result = signer.sign(request(0, key="retry-me"))
        assert result.log_index == 1
        assert signer.append_log(AGENT, 0, []).size == 2
    finally:
        signer.close()


async def test_a_log_from_before_witnesses_is_witnessed_when_the_host_confirms_it(
    tmp_path: Path, two: list[tuple[FlakyWitness, WitnessEndpoint]]
) -> None:
    """Witnesses configured on an existing signer: the host's stored size, above the
    (empty) witnessed size, is accepted once its entries are witnessed."""
    signer = await open_signer(tmp_path / "s", [], 0)
    try:
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=OPEN_POLICY)
        signer.sign_many([request(i) for i in range(5)])
        host = signer.append_log(AGENT, 0, []).size
    finally:
        signer.close()
    signer = await open_signer(tmp_path / "s", [e for _, e in two], 2)
    try:
        tail = signer.append_log(AGENT, host, [])
        assert tail.size == host == 6 and tail.entries == ()
        policy = WitnessPolicy(tuple(e.key for _, e in two), 2)
        assert policy.check(parse_note(tail.checkpoint))
        with pytest.raises(LogStateMismatch):
            signer.append_log(AGENT, host + 1, [])
    finally:
        signer.close()


def test_the_configuration_names_an_unwitnessed_log_and_checks_the_quorum(
    tmp_path: Path,
) -> None:
    from pydantic import ValidationError

    from anima_signer.config import SignerConfig
    from anima_signer_api.errors import SignerMisconfigured
    from tests.signer.conftest import signer_config

    production = signer_config(tmp_path, production=True, tee="dstack")
    with pytest.raises(SignerMisconfigured, match="unwitnessed log"):
        production.check_startable()
    signer_config(
        tmp_path, production=True, tee="dstack", insecure_unwitnessed_log=True
    ).check_startable()
    key = "w1.test+" + "00000000" + "+" + "BA" + "A" * 42 + "="
    witness = {"url": "http://127.0.0.1:1", "verifier_key": key}
    with pytest.raises(ValidationError, match="witness key id"):
        SignerConfig.model_validate({"witnesses": [witness], "witness_quorum": 1})
    from anima_verify.tlog.cosignature import cosigner_verifier_key

    good = {**witness, "verifier_key": cosigner_verifier_key("w1.test", bytes(32))}
    with pytest.raises(ValidationError, match="between 1 and the 1 witnesses"):
        SignerConfig.model_validate({"witnesses": [good], "witness_quorum": 2})
    with pytest.raises(ValidationError, match="no witnesses"):
        SignerConfig.model_validate({"witness_quorum": 1})
    with pytest.raises(ValidationError, match="configured once"):
        SignerConfig.model_validate({"witnesses": [good, good], "witness_quorum": 1})
    production = signer_config(
        tmp_path, production=True, tee="dstack", witnesses=[good], witness_quorum=1
    )
    production.check_startable()
