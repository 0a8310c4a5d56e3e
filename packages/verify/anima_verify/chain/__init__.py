"""Ethereum execution-layer data, verified without trusting the RPC node that sent it.

Pure functions: JSON-RPC objects in, verified facts out, no I/O.

- `header`: a block header re-encoded and hashed (London to Prague), parent links;
- `proofs`: accounts and storage slots proven against a state root (EIP-1186),
  code against a code hash;
- `receipts`: receipts and logs proven by a header's receipts root;
- `transactions`: transactions proven by a header's transactions root;
- `errors`: the ChainProofError family.

Trust starts from a block hash the caller already trusts (a checkpoint, or a
beacon light client's verified execution payload); everything else follows from
it by hashes.
"""
