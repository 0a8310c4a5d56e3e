"""Fuzzing the policy parsers: documents, rule conditions and calldata fail only with
their own errors (PolicyRejected, MalformedCalldata), whatever the bytes."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_signer.policy import calldata
from anima_signer.policy.engine import CompiledPolicy
from anima_signer_api.errors import PolicyRejected
from anima_signer_api.policy_document import SCHEMA, parse_document
from tests.policy.adversarial.conftest import OWNER_POLICY

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutate(text: str, position: int, insert: str) -> str:
    position %= len(text) + 1
    return text[:position] + insert + text[position + 1 :]


@FAST
@given(st.integers(min_value=0), st.text(max_size=5))
def test_a_mutated_document_is_parsed_or_rejected(position: int, insert: str) -> None:
    with contextlib.suppress(PolicyRejected):
        CompiledPolicy(parse_document(_mutate(OWNER_POLICY, position, insert)))


@FAST
@given(st.dictionaries(st.sampled_from(["schema", "agent_id", "version", "rules", "lists",
                                         "windows", "cosign", "extra"]), JSON))  # fmt: skip
def test_any_json_object_is_parsed_or_rejected(fields: dict[str, object]) -> None:
    with contextlib.suppress(PolicyRejected):
        parse_document(json.dumps(fields))


@FAST
@given(st.text(max_size=200))
def test_any_condition_compiles_or_is_rejected(condition: str) -> None:
    text = json.dumps({"schema": SCHEMA, "agent_id": "a", "version": 1,
                       "rules": [{"id": "r", "effect": "deny", "when": condition}]})  # fmt: skip
    with contextlib.suppress(PolicyRejected):
        CompiledPolicy(parse_document(text))


@FAST
@given(st.sampled_from(sorted(calldata.SELECTORS)), st.binary(max_size=400))
def test_calldata_decodes_or_is_malformed(selector: bytes, arguments: bytes) -> None:
    with contextlib.suppress(calldata.MalformedCalldata):
        calldata.decode(selector + arguments)
