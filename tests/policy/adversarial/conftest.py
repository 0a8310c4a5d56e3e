"""The hostile runtime: an owned agent under a realistic owner policy, attacked with
the runtime's own capabilities (every sign call the runtime may make).

The runtime has no signing action yet, so a prompt injection that a model obeys
ends as exactly these calls: each attack is named after the injection or trick
that would produce it. Every attack asserts what the enclave let through; the
session's count of signatures made outside the owner's policy is printed at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from anima_signer_api.types import SignResult
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, OWNER, Owned, document
from tests.signer.conftest import open_signer

TOKEN = to_checksum_address("0x" + "70" * 20)
NFT = to_checksum_address("0x" + "71" * 20)
APP = to_checksum_address("0x" + "a9" * 20)
FRIEND = to_checksum_address("0x" + "f1" * 20)
STRANGER = to_checksum_address("0x" + "5a" * 20)
THIEF = to_checksum_address("0x" + "dd" * 20)
PER_TX_WEI = 10**16  # 0.01 ETH, fee included
DAILY_WEI = 3 * 10**16
TOKEN_PER_TX = 100
TOKEN_DAILY = 250
RATE_PER_MINUTE = 10

RULES: list[dict[str, Any]] = [
    {"id": "no-thieves", "effect": "deny",
     "when": "listed(eth.tx.to, 'blocked') || listed(eth.call.recipient, 'blocked') || "
             "(has(eth.eip_712.message.spender) && "
             "listed(eth.eip_712.message.spender, 'blocked'))"},
    {"id": "small-payments", "effect": "allow", "payloads": ["transaction"],
     "chain_ids": [DEV_CHAIN],
     "when": f"eth.tx.to != '' && eth.tx.data == '0x' && wei_le(eth.tx.max_cost, '{PER_TX_WEI}')"},
    {"id": "token-to-friends", "effect": "allow", "payloads": ["transaction"],
     "chain_ids": [DEV_CHAIN], "to": [TOKEN],
     "when": "eth.tx.value == '0' && eth.call.function == 'transfer' && "
             f"listed(eth.call.recipient, 'friends') && wei_le(eth.call.amount, '{TOKEN_PER_TX}')"},
    {"id": "login", "effect": "allow", "payloads": ["personal_message"],
     "when": "eth.message.text.matches('^anima-login:[a-z0-9]{8,64}$')"},
    {"id": "app-mail", "effect": "allow", "payloads": ["typed_data"], "chain_ids": [DEV_CHAIN],
     "to": [APP], "when": "eth.eip_712.primary_type == 'Mail'"},
]  # fmt: skip
WINDOWS = [
    {"id": "eth-daily", "asset": "native", "chain_id": DEV_CHAIN, "calendar": "day",
     "max_amount": str(DAILY_WEI)},
    {"id": "token-daily", "asset": TOKEN.lower(), "calendar": "day",
     "max_amount": str(TOKEN_DAILY)},
    {"id": "rate", "asset": "any", "rolling_seconds": 60, "max_count": RATE_PER_MINUTE},
]  # fmt: skip
OWNER_POLICY = document(
    1, RULES, windows=WINDOWS, lists={"blocked": [THIEF.lower()], "friends": [FRIEND.lower()]}
)

# Signatures the enclave made that the owner's policy does not allow, over the session.
OUTSIDE_POLICY: list[str] = []
ATTACKS: list[str] = []


def outside_policy(attack: str, signed: list[SignResult]) -> None:
    """Record the signatures an attack obtained that the policy forbids."""
    OUTSIDE_POLICY.extend(f"{attack}: {s!r}"[:200] for s in signed)


@pytest.fixture
async def victim(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Owned]:
    signer = await open_signer(tmp_path)
    agent = signer.create_agent(agent_id=AGENT_ID, wallet_count=2, owner=OWNER)
    owned = Owned(signer=signer, agent=agent, state_dir=tmp_path)
    owned.apply(OWNER_POLICY)
    if "owners_intent" not in request.node.name:  # the control is no attack
        ATTACKS.append(request.node.name)
    yield owned
    signer.close()


@pytest.fixture(scope="session", autouse=True)
def report_figures() -> Iterator[None]:
    yield
    if ATTACKS:
        print(
            f"\nadversarial suite: {len(ATTACKS)} attacks, "
            f"{len(OUTSIDE_POLICY)} signatures outside the owner's policy"
        )
        for line in OUTSIDE_POLICY:
            print("  OUTSIDE POLICY:", line)
