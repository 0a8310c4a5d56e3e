"""The owner's policy over real gRPC: owned agents, ApplyPolicy relayed by either role,
GetPolicy, ExplainSign, and the typed errors a client gets back."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from anima_signer_api.errors import (
    PolicyDenied,
    PolicyNotOwnerSigned,
    PolicyRejected,
    PolicyVersionStale,
    SignerRpcError,
)
from anima_signer_api.types import PersonalMessage, SignRequest, Transaction, TxType
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, OWNER, STRANGER_KEY, document
from tests.policy.conftest import owner_signature as sign_as_owner
from tests.signer.conftest import Served

FRIEND = to_checksum_address("0x" + "f1" * 20)
RULES: list[dict[str, Any]] = [
    {"id": "small", "effect": "allow", "payloads": ["transaction"], "chain_ids": [DEV_CHAIN],
     "when": "wei_le(eth.tx.max_cost, '1000000')"},
]  # fmt: skip


def payment(value: int) -> SignRequest:
    return SignRequest(
        AGENT_ID, Transaction(TxType.EIP1559, DEV_CHAIN, 0, 21000, FRIEND, value, b"", None, 1, 1)
    )


async def test_an_owner_policy_travels_over_grpc(served: Served) -> None:
    async with await served.client("admin") as admin:
        agent = await admin.create_agent(AGENT_ID, owner=OWNER)
        assert agent.owner == OWNER.lower()
    async with await served.client("runtime") as runtime:
        assert (await runtime.get_policy(AGENT_ID)).version == 0
        with pytest.raises(PolicyDenied) as caught:
            await runtime.sign(payment(1))
        assert caught.value.rule == "no_policy"

        text = document(1, RULES)
        status = await runtime.apply_policy(AGENT_ID, text, sign_as_owner(agent, text))
        assert (status.version, status.document) == (1, text)
        assert (await runtime.get_policy(AGENT_ID)).owner_signature == status.owner_signature

        assert (await runtime.sign(payment(1000))).log_index > 0
        with pytest.raises(PolicyDenied) as caught:
            await runtime.sign(payment(10**6))
        assert caught.value.metadata() == {"rule": "default_deny", "policy_version": "1"}

        explained = await runtime.explain_sign(payment(1000))
        assert (explained.allowed, explained.rule, explained.policy_version) == (True, "small", 1)

        with pytest.raises(PolicyVersionStale) as stale:
            await runtime.apply_policy(AGENT_ID, text, sign_as_owner(agent, text))
        assert stale.value.active_version == "1"
        forged = document(2, [{"id": "all", "effect": "allow"}])
        with pytest.raises(PolicyNotOwnerSigned):
            await runtime.apply_policy(AGENT_ID, forged, sign_as_owner(agent, forged, STRANGER_KEY))
        with pytest.raises(PolicyRejected):
            await runtime.apply_policy(AGENT_ID, "{", b"")
        with pytest.raises(PolicyDenied):
            await runtime.sign(SignRequest(AGENT_ID, PersonalMessage(b"x")))


async def test_the_runtime_cannot_create_agents_or_set_their_owner(served: Served) -> None:
    async with await served.client("runtime") as runtime:
        with pytest.raises(SignerRpcError):
            await runtime.create_agent("rogue-agent", owner=OWNER)


async def test_a_cosigned_request_travels_over_grpc(served: Served) -> None:
    from eth_account import Account

    from anima_signer_api.errors import ApprovalUnavailable, CosignRequired
    from anima_signer_api.policy_document import approval_typed_data
    from tests.policy.conftest import OWNER_KEY

    async with await served.client("admin") as admin:
        agent = await admin.create_agent(AGENT_ID, owner=OWNER)
    rules = [*RULES, {"id": "large", "effect": "allow", "payloads": ["transaction"]}]
    text = document(1, rules, cosign={"rule_ids": ["large"], "ttl_seconds": 60})
    async with await served.client("runtime") as runtime:
        await runtime.apply_policy(AGENT_ID, text, sign_as_owner(agent, text))
        with pytest.raises(CosignRequired) as caught:
            await runtime.sign(payment(10**18))
        [pending] = await runtime.list_approvals(AGENT_ID)
        assert pending.approval_id == caught.value.approval_id
        assert pending.payload == payment(10**18).payload
        typed = approval_typed_data(
            agent_id=AGENT_ID,
            agent_address=agent.wallets[0].address,
            approval_id=pending.approval_id,
            request_hash=pending.request_hash,
        )
        signature = bytes(Account.sign_typed_data(OWNER_KEY, full_message=typed).signature)
        assert (await runtime.approve(AGENT_ID, pending.approval_id, signature)).log_index > 0
        with pytest.raises(ApprovalUnavailable):
            await runtime.approve(AGENT_ID, pending.approval_id, signature)
