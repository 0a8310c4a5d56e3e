"""The beacon-chain light client: from one weak-subjectivity checkpoint (a trusted
beacon block root) to verified finalized and optimistic headers, and so to verified
execution payload headers (block hash, state root, receipts root, number).

Pure protocol code (no I/O): config (presets, forks, domains), ssz (containers,
upgrades), codec (SSZ and beacon-API JSON off the wire), merkle, bls, sync (the
store and the spec's validate/process functions). Around it: spectest (runs
consensus-spec-tests cases from files), rest (a beacon node's light-client REST API,
extra anima-verify[http]), state_file (persisted store), client (the trusted-head
source the chain client uses).
"""
