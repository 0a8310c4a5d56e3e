"""The chain client's core: verified headers, proven reads and transactions, no transport."""

from __future__ import annotations

from dataclasses import dataclass

from anima_chain.headers import HeaderStore, block_ref
from anima_chain.reads import ProvenReads
from anima_chain.transactions import TransactionSender
from anima_chain_api.errors import WrongChain
from anima_chain_api.types import VerifiedHead


@dataclass
class ChainService:
    headers: HeaderStore
    reads: ProvenReads
    sender: TransactionSender

    async def head(self, chain_id: int = 0) -> VerifiedHead:
        if chain_id not in (0, self.headers.chain_id):
            raise WrongChain(f"this client follows chain {self.headers.chain_id}, not {chain_id}")
        header = await self.headers.refresh()
        return VerifiedHead(
            block=block_ref(header),
            chain_id=self.headers.chain_id,
            timestamp=header.timestamp,
            base_fee_per_gas=header.base_fee_per_gas,
            checkpoint_hash=self.headers.checkpoint,
            reorgs_seen=self.headers.reorgs_seen,
        )
