"""The minimal policy gate: deny by default, name the rule that refused.

The full owner-signed policy engine (spend windows, selectors, co-signatures)
replaces this in a later issue; the contract stays: check before signing, and
a denial names its rule.
"""

from __future__ import annotations

from anima_signer_api.errors import PolicyDenied
from anima_signer_api.types import (
    Ed25519Message,
    Payload,
    PersonalMessage,
    SigningPolicy,
    Transaction,
    TypedData,
)


def _check_chain(policy: SigningPolicy, chain_id: int) -> None:
    if chain_id not in policy.allowed_chain_ids:
        allowed = sorted(policy.allowed_chain_ids) or "none"
        raise PolicyDenied("allowed_chain_ids", f"chain {chain_id} is not allowed ({allowed})")


def check(
    policy: SigningPolicy, payload: Payload, *, typed_data_chain_id: int | None = None
) -> None:
    """Raise PolicyDenied unless the policy allows signing this payload."""
    if isinstance(payload, Transaction):
        _check_chain(policy, payload.chain_id)
        if payload.value > policy.max_value_wei:
            raise PolicyDenied(
                "max_value_wei",
                f"value {payload.value} wei exceeds the maximum {policy.max_value_wei} wei",
            )
        # Fees leave the wallet too: bound the worst case, not just the value.
        fee_per_gas = (
            payload.gas_price if payload.gas_price is not None else payload.max_fee_per_gas
        )
        worst_case = payload.value + payload.gas_limit * (fee_per_gas or 0)
        if worst_case > policy.max_value_wei:
            raise PolicyDenied(
                "max_value_wei",
                f"value plus the maximum fee (gas_limit x fee per gas) is {worst_case} wei, "
                f"above the maximum {policy.max_value_wei} wei",
            )
    elif isinstance(payload, PersonalMessage):
        if not policy.allow_personal_messages:
            raise PolicyDenied("allow_personal_messages", "personal messages are not allowed")
    elif isinstance(payload, TypedData):
        if not policy.allow_typed_data:
            raise PolicyDenied("allow_typed_data", "EIP-712 typed data is not allowed")
        if typed_data_chain_id is None:
            # Without a chainId the signature is valid on every chain.
            raise PolicyDenied(
                "allowed_chain_ids",
                "typed data without a domain chainId is replayable on any chain",
            )
        _check_chain(policy, typed_data_chain_id)
    elif isinstance(payload, Ed25519Message):
        if not policy.allow_raw_ed25519:
            raise PolicyDenied("allow_raw_ed25519", "raw Ed25519 signatures are not allowed")
    else:  # pragma: no cover - the type union is closed
        raise PolicyDenied("default_deny", f"no rule allows {type(payload).__name__}")
