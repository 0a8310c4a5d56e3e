"""Ethereum execution-layer data, verified without trusting the RPC node that sent it.

Pure functions: JSON-RPC objects in, verified facts out, no I/O.

- `header`: a block header re-encoded and hashed (London to Prague), ancestry
  from a trusted hash, parent links;
- `proofs`: accounts and storage slots proven against a state root (EIP-1186),
  code against a code hash;
- `receipts`: receipts and logs proven by a header's receipts root;
- `transactions`: transactions proven by a header's transactions root;
- `errors`: the ChainProofError family.

Trust starts from a block hash the caller already trusts (a checkpoint, or a
beacon light client's verified execution payload); everything else follows from
it by hashes.
"""

from anima_verify.chain.errors import (
    BrokenChainLink,
    ChainProofError,
    CodeHashMismatch,
    HeaderHashMismatch,
    InvalidTrieProof,
    MalformedChainData,
    ProvenValueMismatch,
    ReceiptsRootMismatch,
    TransactionsRootMismatch,
    UnexpectedHeader,
    UnsupportedHeader,
)
from anima_verify.chain.header import (
    BlockHeader,
    verify_ancestry,
    verify_chain_link,
    verify_header,
)
from anima_verify.chain.proofs import (
    EMPTY_ACCOUNT,
    EMPTY_CODE_HASH,
    Account,
    verify_account_proof,
    verify_code,
    verify_storage_proof,
)
from anima_verify.chain.receipts import Log, Receipt, verified_logs, verify_receipts
from anima_verify.chain.transactions import Transaction, verify_transactions

__all__ = [
    "EMPTY_ACCOUNT",
    "EMPTY_CODE_HASH",
    "Account",
    "BlockHeader",
    "BrokenChainLink",
    "ChainProofError",
    "CodeHashMismatch",
    "HeaderHashMismatch",
    "InvalidTrieProof",
    "Log",
    "MalformedChainData",
    "ProvenValueMismatch",
    "Receipt",
    "ReceiptsRootMismatch",
    "Transaction",
    "TransactionsRootMismatch",
    "UnexpectedHeader",
    "UnsupportedHeader",
    "verified_logs",
    "verify_account_proof",
    "verify_ancestry",
    "verify_chain_link",
    "verify_code",
    "verify_header",
    "verify_receipts",
    "verify_storage_proof",
    "verify_transactions",
]
