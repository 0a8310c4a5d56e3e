"""ERC-8004 on a real anvil: the agent registers its registration file (hash on chain)
through the enclave, a TEE validator verifies fresh evidence and posts its verdict,
discovery re-checks everything from proven reads; feedback needs the agent's
authorization. Bad input: a file that does not match its hash, a validation for
another agent, evidence of another agent, a request for another validator."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from fastapi import Response

from anima_dev.contracts import dev_account, send_from_dev_account, set_balance
from anima_dev.economy import SIM_TRUST
from anima_economy.agent_identity import authorize_feedback, register, request_validation
from anima_economy.discovery import discover
from anima_economy.erc8004 import AgentCard, read_identity, read_validation
from anima_economy.errors import RegistrationMismatch, ValidationRejected
from anima_economy.validator import TAG_INSECURE, TeeValidator
from anima_runtime.log.http import create_log_app
from anima_runtime.log.registry import LogRegistry
from anima_runtime.log.sequencer import signer_attestation
from anima_signer_api.types import SigningPolicy
from anima_verify.attestation import MeasurementPolicy
from tests.economy.conftest import AGENT, CHAIN_ID, Economy

HOST = "http://agent.test"
CARD_PATH = "/.well-known/agent-registration.json"
VALIDATOR = "tee-validator"


@dataclass
class Registry8004:
    economy: Economy
    http: httpx.AsyncClient  # reaches the agent's host (registration, log, attestation)
    files: dict[str, bytes]  # what the host serves at each registration path
    card: AgentCard
    validator: TeeValidator
    validator_address: str

    @property
    def identity(self) -> bytes:
        return bytes.fromhex(self.economy.contracts.identity[2:])

    @property
    def validations(self) -> bytes:
        return bytes.fromhex(self.economy.contracts.validation[2:])

    async def register(self, path: str = CARD_PATH, card: AgentCard | None = None) -> int:
        file = (card or self.card).to_bytes()
        self.files[path] = file
        done = await register(self.economy.chain, signer_agent_id=AGENT,
                              identity=self.identity, uri=HOST + path, file=file)  # fmt: skip
        return done.agent_id

    async def ask(self, agent_id: int, note: str = "") -> bytes:
        request = json.dumps({"agentId": agent_id, "trust": "tee-attestation", "n": note})
        return await request_validation(
            self.economy.chain, signer_agent_id=AGENT, registry=self.validations,
            validator=self.validator_address, agent_id=agent_id, request_uri="",
            request=request.encode(),
        )  # fmt: skip


@pytest.fixture
async def erc8004(economy: Economy, tmp_path: Path) -> AsyncIterator[Registry8004]:
    logs = LogRegistry(root=tmp_path / "logs", sequencer=economy.signer, sync_interval_s=None)
    await logs.open(AGENT)
    app = create_log_app(logs, attestation=signer_attestation(economy.signer))
    files: dict[str, bytes] = {}

    @app.get("/.well-known/{name}")
    async def registration(name: str) -> Response:
        found = files.get(f"/.well-known/{name}")
        return Response(found or b"", status_code=200 if found else 404,
                        media_type="application/json")  # fmt: skip

    agent = await economy.admin.get_agent(AGENT)
    card = AgentCard(
        name="Anima test agent",
        description="an Anima agent on the dev chain",
        wallet=f"eip155:{CHAIN_ID}:{economy.wallet}",
        log_url=f"{HOST}/v1/logs/{AGENT}",
        log_verifier_key=agent.log_verifier_key,
        attestation_url=f"{HOST}/v1/logs/{AGENT}/attestation",
    )
    validator = await economy.admin.create_agent(
        VALIDATOR, policy=SigningPolicy(allowed_chain_ids=frozenset({CHAIN_ID}),
                                        max_value_wei=10**17),
    )  # fmt: skip
    validator_address = to_checksum_address(validator.wallets[0].address)
    set_balance(economy.anvil, bytes.fromhex(validator_address[2:]), 10**18)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST)
    checker = TeeValidator(
        chain=economy.chain, http=http,
        identity_registry=bytes.fromhex(economy.contracts.identity[2:]),
        validation_registry=bytes.fromhex(economy.contracts.validation[2:]),
        policy=SIM_TRUST, signer_agent_id=VALIDATOR, address=validator_address,
    )  # fmt: skip
    try:
        yield Registry8004(economy, http, files, card, checker, validator_address)
    finally:
        await http.aclose()
        await logs.close()


async def test_register_validate_and_discover(erc8004: Registry8004) -> None:
    agent_id = await erc8004.register()
    identity = await read_identity(erc8004.economy.chain, erc8004.identity, agent_id)
    assert identity.owner == erc8004.economy.wallet
    assert identity.uri == HOST + CARD_PATH
    assert identity.registration_hash == keccak(erc8004.card.to_bytes())

    request_hash = await erc8004.ask(agent_id)
    outcome = await erc8004.validator.validate(request_hash)
    assert (outcome.response, outcome.reason) == (100, "verified")
    status = await read_validation(erc8004.economy.chain, erc8004.validations, request_hash)
    assert status.response == 100 and status.agent_id == agent_id
    assert status.validator == erc8004.validator_address
    assert status.response_hash == keccak(outcome.evidence)  # anyone can re-check it
    assert status.tag.rstrip(b"\0") == TAG_INSECURE  # a simulated TEE says so on chain
    evidence = json.loads(outcome.evidence)
    assert evidence["insecure"] is True and erc8004.economy.wallet in evidence["wallets"]

    report = await discover(
        erc8004.economy.chain, erc8004.http, identity_registry=erc8004.identity,
        validation_registry=erc8004.validations, agent_id=agent_id, policy=SIM_TRUST,
        validations=[request_hash],
    )  # fmt: skip
    assert report.registration_hash_matches and report.attestation.quote.insecure
    assert report.card == erc8004.card and report.checkpoint.size >= 1
    summary = "\n".join(report.summary())
    assert "INSECURE simulated TEE" in summary and "100/100" in summary


async def test_a_registration_file_that_does_not_match_its_hash_is_refused(
    erc8004: Registry8004,
) -> None:
    agent_id = await erc8004.register()
    honest = erc8004.files[CARD_PATH]
    erc8004.files[CARD_PATH] = honest.replace(b"Anima test agent", b"Anima fake agent")
    with pytest.raises(RegistrationMismatch, match=r"hashes to .* on-chain hash is"):
        await discover(
            erc8004.economy.chain, erc8004.http, identity_registry=erc8004.identity,
            validation_registry=erc8004.validations, agent_id=agent_id, policy=SIM_TRUST,
        )  # fmt: skip
    # The validator records the failure on chain instead of vouching.
    outcome = await erc8004.validator.validate(await erc8004.ask(agent_id))
    assert outcome.response == 0 and "hashes to" in outcome.reason
    status = await read_validation(erc8004.economy.chain, erc8004.validations,
                                   outcome.request_hash)  # fmt: skip
    assert status.response == 0


async def test_a_validation_for_another_agent_is_refused_by_discovery(
    erc8004: Registry8004,
) -> None:
    first = await erc8004.register()
    second = await erc8004.register("/.well-known/second.json")
    other = await erc8004.ask(second)
    await erc8004.validator.validate(other)
    with pytest.raises(ValidationRejected, match=f"is for agent {second}, not agent {first}"):
        await discover(
            erc8004.economy.chain, erc8004.http, identity_registry=erc8004.identity,
            validation_registry=erc8004.validations, agent_id=first, policy=SIM_TRUST,
            validations=[other],
        )  # fmt: skip


async def test_evidence_of_another_agent_or_under_a_strict_policy_is_not_vouched_for(
    erc8004: Registry8004,
) -> None:
    # A card that claims this agent's log and attestation for a wallet it does not hold
    # cannot be registered by that wallet, so: the same wallet, another agent's log key.
    forged = dataclasses.replace(erc8004.card, log_verifier_key="someone+00000000+AAAA")
    agent_id = await erc8004.register("/.well-known/forged.json", forged)
    outcome = await erc8004.validator.validate(await erc8004.ask(agent_id, "forged"))
    assert outcome.response == 0 and "log key" in outcome.reason

    strict = MeasurementPolicy(mrtd=frozenset({"00" * 48}))
    honest = await erc8004.register()
    with pytest.raises(ValidationRejected, match="simulated"):
        await discover(
            erc8004.economy.chain, erc8004.http, identity_registry=erc8004.identity,
            validation_registry=erc8004.validations, agent_id=honest, policy=strict,
        )  # fmt: skip


async def test_a_request_for_another_validator_is_not_answered(erc8004: Registry8004) -> None:
    agent_id = await erc8004.register()
    elsewhere = await request_validation(
        erc8004.economy.chain, signer_agent_id=AGENT, registry=erc8004.validations,
        validator=dev_account(erc8004.economy.anvil, 5), agent_id=agent_id, request_uri="",
        request=b"for someone else",
    )  # fmt: skip
    with pytest.raises(ValidationRejected, match="not this one"):
        await erc8004.validator.validate(elsewhere)


async def test_feedback_needs_the_agents_authorization(erc8004: Registry8004) -> None:
    economy = erc8004.economy
    agent_id = await erc8004.register()
    client = dev_account(economy.anvil, 4)
    reputation = economy.contracts.reputation
    auth = await authorize_feedback(
        economy.signer, signer_agent_id=AGENT, wallet=economy.wallet, agent_id=agent_id,
        client=client, index_limit=1, expiry=int(time.time()) + 600, chain_id=CHAIN_ID,
        registry=reputation,
    )  # fmt: skip

    def give(feedback_auth: bytes, index: int) -> None:
        data = keccak(text="giveFeedback(uint256,uint8,bytes32,bytes32,string,bytes32,bytes)")[:4]
        data += encode(
            ["uint256", "uint8", "bytes32", "bytes32", "string", "bytes32", "bytes"],
            [agent_id, 90, b"x402".ljust(32, b"\0"), bytes(32), "", bytes(32), feedback_auth],
        )
        send_from_dev_account(economy.anvil, {"to": reputation, "data": "0x" + data.hex(),
                                              "gas": hex(300_000)}, index=index)  # fmt: skip

    give(auth, 4)
    with pytest.raises(RuntimeError, match="failed"):  # index 2 > the authorized limit of 1
        give(auth, 4)
    with pytest.raises(RuntimeError, match="failed"):  # the authorization names account 4
        give(auth, 6)
    expired = await authorize_feedback(
        economy.signer, signer_agent_id=AGENT, wallet=economy.wallet, agent_id=agent_id,
        client=dev_account(economy.anvil, 6), index_limit=5, expiry=int(time.time()) - 1,
        chain_id=CHAIN_ID, registry=reputation,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="failed"):  # past its expiry
        give(expired, 6)


async def test_an_oversized_registration_file_is_refused(erc8004: Registry8004) -> None:
    agent_id = await erc8004.register()
    erc8004.files[CARD_PATH] = b" " * (64 * 1024 + 1)
    with pytest.raises(RegistrationMismatch, match="over 65536 bytes"):
        await discover(
            erc8004.economy.chain, erc8004.http, identity_registry=erc8004.identity,
            validation_registry=erc8004.validations, agent_id=agent_id, policy=SIM_TRUST,
        )  # fmt: skip
