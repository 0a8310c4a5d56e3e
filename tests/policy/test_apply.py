"""Applying owner-signed policies: only the owner, only higher versions, every change
logged; bad documents refused with a specific error and the active policy unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from anima_signer_api.errors import (
    InvalidRequest,
    PolicyDenied,
    PolicyNotOwnerSigned,
    PolicyRejected,
    PolicyVersionStale,
    SignerError,
)
from anima_signer_api.types import PersonalMessage, SigningPolicy, SignRequest
from anima_verify.tlog.entry import EntryKind, decode_entry
from tests.policy.conftest import (
    AGENT_ID,
    OWNER,
    STRANGER_KEY,
    Owned,
    document,
    owner_signature,
)
from tests.signer.conftest import open_signer

ALLOW_HELLO = {"id": "hello", "effect": "allow", "payloads": ["personal_message"],
               "when": "eth.message.text == 'hello'"}  # fmt: skip


def _hello(owned: Owned) -> SignRequest:
    return SignRequest(AGENT_ID, PersonalMessage(b"hello"))


def test_an_owned_agent_signs_nothing_before_its_owner_applies_a_policy(owned: Owned) -> None:
    with pytest.raises(PolicyDenied) as caught:
        owned.signer.sign(_hello(owned))
    assert caught.value.rule == "no_policy"


def test_the_owners_signed_policy_takes_effect_and_its_change_is_logged(owned: Owned) -> None:
    text = document(1, [ALLOW_HELLO])
    assert owned.apply(text) == 1
    result = owned.signer.sign(_hello(owned))
    entries = owned.signer._store.pending(AGENT_ID, 0, result.log_index + 1)
    kinds = [decode_entry(e.entry).kind for e in entries]
    assert kinds == [EntryKind.LIFECYCLE, EntryKind.LIFECYCLE, EntryKind.SIGNATURE]
    change = json.loads(entries[1].payload or b"")
    assert change["event"] == "policy_applied" and change["policy_version"] == 1
    assert change["owner"] == OWNER.lower()
    signed = json.loads(entries[2].payload or b"")
    assert (signed["decision"], signed["rule"], signed["policy_version"]) == ("allow", "hello", 1)


def test_the_creator_cannot_give_an_owned_agent_a_policy(owned: Owned) -> None:
    with pytest.raises(InvalidRequest, match="owner signs"):
        owned.signer.create_agent(
            agent_id="other-agent",
            wallet_count=1,
            owner=OWNER,
            policy=SigningPolicy(allowed_chain_ids=frozenset({1}), max_value_wei=10**30),
        )


async def test_a_policy_and_its_windows_survive_a_restart(owned: Owned) -> None:
    window = {"id": "two", "asset": "any", "rolling_seconds": 3600, "max_count": 2}
    owned.apply(document(3, [ALLOW_HELLO], windows=[window]))
    owned.signer.sign(_hello(owned))
    owned.signer.close()
    signer = await open_signer(owned.state_dir)
    owned.signer = signer
    assert signer.get_policy(AGENT_ID).version == 3
    signer.sign(_hello(owned))
    with pytest.raises(PolicyDenied) as caught:
        signer.sign(_hello(owned))
    assert (caught.value.rule, caught.value.policy_version) == ("two", "3")


def _refused(owned: Owned, error: type[SignerError], text: str, signature: bytes) -> SignerError:
    before = owned.signer.get_policy(AGENT_ID)
    with pytest.raises(error) as caught:
        owned.signer.apply_policy(AGENT_ID, text, signature)
    assert owned.signer.get_policy(AGENT_ID) == before  # the active policy is unchanged
    return caught.value


@pytest.fixture
def active(owned: Owned) -> Owned:
    owned.apply(document(5, [ALLOW_HELLO]))
    return owned


def test_an_older_or_equal_version_is_refused(active: Owned) -> None:
    for version in (5, 4, 1):
        text = document(version, [])
        error = _refused(active, PolicyVersionStale, text, owner_signature(active.agent, text))
        assert error.metadata() == {"active_version": "5"}


def test_a_policy_signed_by_someone_else_is_refused(active: Owned) -> None:
    text = document(6, [{"id": "all", "effect": "allow"}])
    _refused(active, PolicyNotOwnerSigned, text, owner_signature(active.agent, text, STRANGER_KEY))


@pytest.mark.parametrize(
    "signature", [b"", b"\x00" * 65, b"\x01" * 64 + b"\x1b", b"\x01" * 70], ids=repr
)
def test_an_unsigned_or_malformed_signature_is_refused(active: Owned, signature: bytes) -> None:
    _refused(active, PolicyNotOwnerSigned, document(6, []), signature)


def test_a_signature_over_another_document_is_refused(active: Owned) -> None:
    signed = document(6, [])
    swapped = document(6, [{"id": "all", "effect": "allow"}])
    _refused(active, PolicyNotOwnerSigned, swapped, owner_signature(active.agent, signed))


def test_a_document_for_another_agent_is_refused(active: Owned) -> None:
    text = document(6, []).replace(AGENT_ID, "someone-else")
    with pytest.raises(PolicyRejected, match="for agent 'someone-else'"):
        active.signer.apply_policy(AGENT_ID, text, b"\x00" * 65)


def _raw(**fields: Any) -> str:
    base: dict[str, Any] = {"schema": "anima.policy/v1", "agent_id": AGENT_ID, "version": 6,
                            "rules": []}  # fmt: skip
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not None})


BAD_DOCUMENTS = {
    "not json": ("{not json", "not valid JSON"),
    "a list": ("[]", "must be a JSON object"),
    "unknown top field": (_raw(max_spend="1"), "unknown field"),
    "unknown rule field": (_raw(rules=[{"id": "a", "effect": "allow", "whenn": "true"}]),
                           "unknown field"),
    "missing version": (_raw(version=None), "missing field"),
    "wrong schema": (_raw(schema="anima.policy/v0"), "schema"),
    "version zero": (_raw(version=0), "version"),
    "version above int64": (_raw(version=2**63), "version"),
    "bool version": (_raw(version=True), "version"),
    "bad effect": (_raw(rules=[{"id": "a", "effect": "maybe"}]), "effect"),
    "reserved rule id": (_raw(rules=[{"id": "default_deny", "effect": "allow"}]), "reserved"),
    "duplicate rule ids": (_raw(rules=[{"id": "a", "effect": "allow"}] * 2), "unique"),
    "rule does not compile": (_raw(rules=[{"id": "a", "effect": "allow", "when": "eth.tx.to =="}]),
                              "does not compile"),
    "unknown field in rule": (_raw(rules=[{"id": "a", "effect": "allow",
                                           "when": "eth.tx.recipient == ''"}]), "fails on"),
    "non-bool rule": (_raw(rules=[{"id": "a", "effect": "allow", "when": "eth.tx.chain_id"}]),
                      "not a bool"),
    "unknown payload kind": (_raw(rules=[{"id": "a", "effect": "allow", "payloads": ["btc"]}]),
                             "payloads"),
    "chain id zero": (_raw(rules=[{"id": "a", "effect": "allow", "chain_ids": [0]}]), "chain_ids"),
    "bad address": (_raw(lists={"x": ["0x1234"]}), "address"),
    "amount above uint256": (_raw(windows=[{"id": "w", "asset": "native", "rolling_seconds": 60,
                                            "max_amount": str(2**256)}]), "2**256"),
    "amount not decimal": (_raw(windows=[{"id": "w", "asset": "native", "rolling_seconds": 60,
                                          "max_amount": "1e18"}]), "decimal"),
    "window without period": (_raw(windows=[{"id": "w", "asset": "native", "max_count": 1}]),
                              "exactly one"),
    "window with both periods": (_raw(windows=[{"id": "w", "asset": "native", "max_count": 1,
                                                "rolling_seconds": 5, "calendar": "day"}]),
                                 "exactly one"),
    "calendar week": (_raw(windows=[{"id": "w", "asset": "native", "max_count": 1,
                                     "calendar": "week"}]), "calendar"),
    "cosign names a deny rule": (_raw(rules=[{"id": "d", "effect": "deny"}],
                                      cosign={"rule_ids": ["d"], "ttl_seconds": 60}), "cosign"),
    "NaN": ('{"version": NaN}', "not valid JSON"),
    "unknown list": (_raw(rules=[{"id": "a", "effect": "deny",
                                  "when": "eth.tx.gas == 7 && listed(eth.tx.to, 'nope')"}]),
                     "names no list"),
    "too large": (_raw(lists={"x": ["0x" + "11" * 20] * 1024, "y": ["0x" + "22" * 20] * 1024}),
                  "larger than"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD_DOCUMENTS))
def test_a_bad_document_is_refused_and_the_active_policy_stays(active: Owned, name: str) -> None:
    text, expected = BAD_DOCUMENTS[name]
    try:  # signed by the owner where it parses: rules are compiled only for the owner
        signature = owner_signature(active.agent, text)
    except PolicyRejected:
        signature = b"\x00" * 65
    error = _refused(active, PolicyRejected, text, signature)
    assert expected in str(error)
    assert active.signer.sign(_hello(active)).log_index > 0  # v5 still rules


def test_a_request_judged_under_a_replaced_policy_is_not_signed(owned: Owned) -> None:
    """The owner applies v2 between a request's judgement and its commit: the
    signature judged under v1 is dropped and the refusal logged."""
    owned.apply(document(1, [ALLOW_HELLO]))
    signer = owned.signer
    agent = signer.get_agent(AGENT_ID)
    attempt = signer._attempt(0, agent, _hello(owned), None)
    assert attempt.kind is EntryKind.SIGNATURE
    owned.apply(document(2, []))  # the owner revokes everything
    outcomes: list[object] = [None]
    signer._log_attempts([attempt], outcomes)  # type: ignore[arg-type]
    assert isinstance(outcomes[0], PolicyDenied) and outcomes[0].rule == "policy_changed"


def test_the_agents_first_log_entry_names_its_owner(owned: Owned) -> None:
    first = owned.signer._store.pending(AGENT_ID, 0, 1)[0]
    assert json.loads(first.payload or b"")["owner"] == OWNER.lower()
