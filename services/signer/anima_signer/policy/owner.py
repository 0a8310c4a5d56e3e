"""Checking the owner's signature on a policy document (EIP-712, secp256k1)."""

from __future__ import annotations

import json

from anima_signer import eth
from anima_signer_api.errors import PolicyNotOwnerSigned
from anima_signer_api.policy_document import PolicyDocument, owner_typed_data
from anima_verify.errors import AnimaError
from anima_verify.eth import recover_address


def check_owner_signature(
    document: PolicyDocument, signature: bytes, *, owner: str, agent_address: str
) -> None:
    """Raise PolicyNotOwnerSigned unless `signature` (r || s || v) is `owner`'s over the
    document's EIP-712 approval for this agent."""
    if len(signature) != 65:
        raise PolicyNotOwnerSigned("the owner's signature must be 65 bytes (r || s || v)")
    typed = owner_typed_data(document, agent_address=agent_address)
    digest, _ = eth.typed_data_digest(json.dumps(typed))
    try:
        recovered = recover_address(digest, signature)
    except AnimaError as exc:
        raise PolicyNotOwnerSigned(f"the owner's signature is malformed: {exc.message}") from exc
    if recovered.lower() != owner.lower():
        raise PolicyNotOwnerSigned(
            f"the policy document is not signed by the agent's owner {owner} "
            f"(the signature recovers to {recovered})"
        )
