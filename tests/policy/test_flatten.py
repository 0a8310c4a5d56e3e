"""Flat CEL contexts decide exactly as nested ones: the same rules, rewritten or not,
give the same decisions; string literals are never rewritten."""

from __future__ import annotations

import pytest

from anima_signer.policy.engine import CompiledPolicy
from anima_signer.policy.facts import facts, target
from anima_signer.policy.flatten import flatten
from anima_signer_api.policy_document import parse_document
from anima_signer_api.types import Payload, PersonalMessage, Transaction, TxType, TypedData
from tests.policy.conftest import document


def test_string_literals_are_left_alone() -> None:
    rewritten = flatten("eth.message.text == 'eth.tx.to' || eth.tx.to == \"raw.size\"")
    assert rewritten is not None
    assert rewritten[0] == "_f_eth_message_text == 'eth.tx.to' || _f_eth_tx_to == \"raw.size\""


@pytest.mark.parametrize(
    "source",
    ["has(eth.tx.to)", "eth.tx == {}", "eth.tx.recipient == ''", "eth.message.text == 'open"],
)
def test_what_cannot_be_rewritten_safely_is_not(source: str) -> None:
    assert flatten(source) is None


CONDITIONS = [
    "eth.message.text == 'eth.tx.to'",
    "eth.message.text.matches('^gm [a-z]+$')",
    "wei_le(eth.tx.max_cost, '100000') && eth.tx.data == '0x'",
    "'spender' in eth.eip_712.message && eth.eip_712.message.spender == '0x" + "11" * 20 + "'",
    "kind == 'raw_ed25519' && raw.size < 4",
]
REQUESTS: list[Payload] = [
    PersonalMessage(b"eth.tx.to"),
    PersonalMessage(b"gm sam"),
    Transaction(TxType.EIP1559, 1, 0, 21000, "0x" + "22" * 20, 5, b"", None, 1, 1),
    TypedData(
        '{"types":{"EIP712Domain":[],"P":[{"name":"spender","type":"address"}]},'
        '"primaryType":"P","domain":{},"message":{"spender":"0x' + "11" * 20 + '"}}'
    ),
]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_flat_and_nested_contexts_decide_alike(condition: str) -> None:
    rules = [{"id": "r", "effect": "allow", "when": condition}]
    flat = CompiledPolicy(parse_document(document(1, rules)))
    # has() keeps a policy nested: the same rule beside one that never holds.
    nested_rules = [*rules, {"id": "n", "effect": "deny", "when": "has(eth.tx.to) && false"}]
    nested = CompiledPolicy(parse_document(document(1, nested_rules)))
    assert flat._flat is not None and nested._flat is None
    for request in REQUESTS:
        chain = 1 if isinstance(request, Transaction) else None
        variables = facts(request, chain_id=chain)
        there = target(request, variables)
        assert (
            flat.evaluate(variables, target=there).allowed
            == nested.evaluate(variables, target=there).allowed
        ), (condition, request)
