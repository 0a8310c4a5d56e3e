"""Checking the owner's EIP-712 signatures (secp256k1): on policy documents and on
co-signature approvals."""

from __future__ import annotations

import json
from typing import Any

from anima_signer import eth
from anima_signer_api.errors import PolicyNotOwnerSigned
from anima_signer_api.policy_document import PolicyDocument, owner_typed_data
from anima_verify.errors import AnimaError
from anima_verify.eth import recover_address


def check_signed_by_owner(
    typed: dict[str, Any], signature: bytes, *, owner: str, what: str
) -> None:
    """Raise PolicyNotOwnerSigned unless `signature` (r || s || v) is `owner`'s over `typed`."""
    if len(signature) != 65:
        raise PolicyNotOwnerSigned(f"the owner's signature on the {what} must be 65 bytes")
    digest, _ = eth.typed_data_digest(json.dumps(typed))
    try:
        recovered = recover_address(digest, signature)
    except AnimaError as exc:
        raise PolicyNotOwnerSigned(
            f"the owner's signature on the {what} is malformed: {exc.message}"
        ) from exc
    if recovered.lower() != owner.lower():
        raise PolicyNotOwnerSigned(
            f"the {what} is not signed by the agent's owner {owner} "
            f"(the signature recovers to {recovered})"
        )


def check_owner_signature(
    document: PolicyDocument, signature: bytes, *, owner: str, agent_address: str
) -> None:
    """The owner's approval of `document` for this agent (owner_typed_data)."""
    typed = owner_typed_data(document, agent_address=agent_address)
    check_signed_by_owner(typed, signature, owner=owner, what="policy document")
