"""The agent's own ERC-8004 actions, each signed in the enclave under the owner's policy:
registering its registration file's URI and hash, asking a validator to validate it,
and authorizing a client's feedback (an EIP-191 signature over the reputation
registry's feedbackAuth hash)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from anima_chain_api.client import ChainClient
from anima_chain_api.types import TransactionIntent
from anima_economy.erc8004 import register_call, registered_agent_id, validation_request_call
from anima_economy.errors import EconomyError, SigningRefused
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import SignerError
from anima_signer_api.types import EthSignature, PersonalMessage, SignRequest


@dataclass(frozen=True, slots=True)
class Registered:
    agent_id: int  # the ERC-8004 id
    transaction: bytes
    block_number: int


async def register(
    chain: ChainClient, *, signer_agent_id: str, identity: bytes, uri: str, file: bytes
) -> Registered:
    data = register_call(uri, keccak(file))
    outcome = await chain.send_transaction(
        TransactionIntent(
            agent_id=signer_agent_id,
            to=identity,
            data=data,
            idempotency_key="erc8004-register:" + keccak(data).hex(),  # a retry: the same
        )
    )
    if not outcome.receipt.success:
        raise EconomyError("the identity registry reverted the registration")
    return Registered(
        registered_agent_id(outcome.receipt, identity),
        outcome.receipt.transaction_hash,
        outcome.block.number,
    )


async def request_validation(
    chain: ChainClient,
    *,
    signer_agent_id: str,
    registry: bytes,
    validator: str,
    agent_id: int,
    request_uri: str,
    request: bytes,
) -> bytes:
    """Ask `validator` to validate; the request's keccak256 (its id on chain)."""
    request_hash = keccak(request)
    outcome = await chain.send_transaction(
        TransactionIntent(
            agent_id=signer_agent_id,
            to=registry,
            data=validation_request_call(validator, agent_id, request_uri, request_hash),
            idempotency_key="erc8004-validation:" + request_hash.hex(),
        )
    )
    if not outcome.receipt.success:
        raise EconomyError("the validation registry reverted the request")
    return request_hash


def feedback_auth_hash(
    *, agent_id: int, client: str, index_limit: int, expiry: int, chain_id: int,
    registry: str, signer: str,
) -> bytes:  # fmt: skip
    """ReputationRegistry.feedbackAuthHash, computed off chain."""
    return keccak(
        encode(
            ["uint256", "address", "uint64", "uint256", "uint256", "address", "address"],
            [agent_id, client, index_limit, expiry, chain_id, registry, signer],
        )
    )


async def authorize_feedback(
    signer: SignerClient,
    *,
    signer_agent_id: str,
    wallet: str,
    agent_id: int,
    client: str,
    index_limit: int,
    expiry: int,
    chain_id: int,
    registry: str,
) -> bytes:
    """The `feedbackAuth` bytes a client passes to giveFeedback, signed in the enclave."""
    digest = feedback_auth_hash(agent_id=agent_id, client=client, index_limit=index_limit,
                                expiry=expiry, chain_id=chain_id, registry=registry,
                                signer=wallet)  # fmt: skip
    try:
        signed = await signer.sign(SignRequest(signer_agent_id, PersonalMessage(digest)))
    except SignerError as exc:
        raise SigningRefused(
            f"the enclave refused the feedback authorization: {exc.message}"
        ) from None
    assert isinstance(signed, EthSignature)
    return encode(["uint64", "uint256", "address", "bytes"],
                  [index_limit, expiry, wallet, signed.signature])  # fmt: skip
