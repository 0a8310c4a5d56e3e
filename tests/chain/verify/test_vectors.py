"""The recorded anvil vectors (record_vectors.py) verify offline: the block, its
receipts and transactions, the contract's account and storage, the absent account."""

from __future__ import annotations

from anima_verify.chain.header import verify_header
from anima_verify.chain.proofs import EMPTY_ACCOUNT, verify_account_proof, verify_storage_proof
from anima_verify.chain.receipts import verified_logs, verify_receipts
from anima_verify.chain.transactions import verify_transactions
from tests.chain.verify.record_vectors import ABSENT, load


def test_the_recorded_vectors_verify() -> None:
    vectors = load()
    block = vectors["block"]
    header = verify_header(block, bytes.fromhex(block["hash"][2:]))
    assert len(verify_transactions(header, block["transactions"])) == 4
    assert len(verified_logs(verify_receipts(header, vectors["receipts"]))) == 3
    proof = vectors["contract_proof"]
    account = verify_account_proof(header.state_root, bytes.fromhex(proof["address"][2:]), proof)
    entries = zip((3, 4), proof["storageProof"], strict=True)
    assert [verify_storage_proof(account.storage_root, s, e) for s, e in entries] == [7, 0]
    absent = verify_account_proof(
        header.state_root, bytes.fromhex(ABSENT[2:]), vectors["absent_proof"]
    )
    assert absent == EMPTY_ACCOUNT
