"""Fixtures: a real signer core (INSECURE simulated TEE) with an owned agent, and the
owner's key signing policy documents as an owner's wallet would (eth-account)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from anima_signer.core import Signer
from anima_signer_api.policy_document import SCHEMA, owner_typed_data, parse_document
from anima_signer_api.types import Agent
from tests.signer.conftest import open_signer
from tests.signer.conftest import served as served  # the gRPC fixture, shared

DEV_CHAIN = 31337
OWNER_KEY = "0x" + "4f" * 32
OWNER = Account.from_key(OWNER_KEY).address
STRANGER_KEY = "0x" + "5e" * 32
AGENT_ID = "owned-agent"


def document(version: int, rules: list[dict[str, Any]], **extra: Any) -> str:
    return json.dumps(
        {"schema": SCHEMA, "agent_id": AGENT_ID, "version": version, "rules": rules, **extra}
    )


def owner_signature(agent: Agent, text: str, key: str = OWNER_KEY) -> bytes:
    typed = owner_typed_data(parse_document(text), agent_address=agent.wallets[0].address)
    return bytes(Account.sign_typed_data(key, full_message=typed).signature)


@dataclass
class Owned:
    signer: Signer
    agent: Agent
    state_dir: Path

    def apply(self, text: str, key: str = OWNER_KEY) -> int:
        return self.signer.apply_policy(
            self.agent.agent_id, text, owner_signature(self.agent, text, key)
        ).version


@pytest.fixture
async def owned(tmp_path: Path) -> AsyncIterator[Owned]:
    signer = await open_signer(tmp_path)
    agent = signer.create_agent(agent_id=AGENT_ID, wallet_count=2, owner=OWNER)
    yield Owned(signer=signer, agent=agent, state_dir=tmp_path)
    signer.close()
