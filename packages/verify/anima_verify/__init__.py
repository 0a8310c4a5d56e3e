"""anima-verify: what a third party installs to check an Anima agent's claims.

- `anima_verify.tlog`: RFC 9162 proofs, C2SP signed notes, checkpoints, tiles,
  whole-log verification and checkpoint audits (fetching over HTTP needs the
  `http` extra);
- `anima_verify.attestation`: TDX quote verification (dcap-qvl) and measurement
  policies, with simulated evidence refused unless explicitly allowed;
- `anima_verify.eth`: canonical Ethereum signature recovery;
- `anima_verify.chain`: Ethereum block headers, EIP-1186 account and storage
  proofs, receipts and transactions checked against a trusted block hash.

No gRPC and no server code; the checks take bytes and return verified facts.
"""
