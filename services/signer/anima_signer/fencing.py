"""The agent's anchor as the enclave reads it: from a header chain that starts at a block
the enclave trusts and a storage proof under the last header's state root.

The host supplies the blocks and the proof and can change neither; what it can
still do is withhold newer blocks, so the enclave may see an older anchor than the
chain's latest (closing that needs finality from the beacon light client,
anima_verify.beacon). Signer.apply_anchor acts on the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from anima_signer_api.errors import InvalidRequest
from anima_verify.chain.header import verify_chain_link, verify_header
from anima_verify.lifedata import AnchorState, verify_anchor

#: Headers walked per check at most (a host cannot make the enclave walk forever).
MAX_HEADERS = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AnchorSource:
    """Enclave configuration: the AgentAnchor contract and a block hash it trusts."""

    contract: bytes
    trusted_checkpoint: bytes


def proven_anchor(
    source: AnchorSource,
    *,
    agent: bytes,
    blocks: Sequence[Mapping[str, Any]],
    proof: Mapping[str, Any],
) -> AnchorState:
    """The agent's anchor (20-byte anchor key address) at the last of `blocks`, which
    must run from the trusted checkpoint, each the parent of the next."""
    if not blocks or len(blocks) > MAX_HEADERS:
        raise InvalidRequest(f"give 1 to {MAX_HEADERS} blocks from the trusted checkpoint on")
    header = verify_header(blocks[0], expected_hash=source.trusted_checkpoint)
    for block in blocks[1:]:
        child = verify_header(block)
        verify_chain_link(header, child)
        header = child
    return verify_anchor(
        header.state_root, contract=source.contract, agent=agent, eip1186_response=proof
    )
