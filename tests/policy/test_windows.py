"""Spend windows and rate limits: reserved in the signature's own commit, so hundreds
of concurrent requests at a window's edge never pass it; rolling and calendar."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from eth_utils.address import to_checksum_address

from anima_signer.core import Signer
from anima_signer.keys import KeyRing
from anima_signer.policy.windows import Ledger, Reservation, window_start_ms
from anima_signer.store import SignerStore
from anima_signer_api.errors import PolicyDenied, SignerError
from anima_signer_api.policy_document import Window
from anima_signer_api.types import SignRequest, SignResult, Transaction, TxType
from anima_verify.tlog.entry import EntryKind, decode_entry
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, Owned, document

FRIEND = to_checksum_address("0x" + "f1" * 20)
ALLOW_ALL_PAYMENTS = {"id": "payments", "effect": "allow", "payloads": ["transaction"]}


def payment(value: int, nonce: int = 0, key: str = "") -> SignRequest:
    return SignRequest(
        AGENT_ID,
        Transaction(TxType.EIP1559, DEV_CHAIN, nonce, 21000, FRIEND, value, b"", None, 1, 1),
        idempotency_key=key,
    )


FEE = 21000  # gas_limit x 1 wei per gas: charged with the value


def _fire(signer: Signer, requests: list[SignRequest]) -> list[SignResult | SignerError]:
    def one(request: SignRequest) -> SignResult | SignerError:
        try:
            return signer.sign(request)
        except SignerError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(one, requests))


def test_hundreds_of_concurrent_requests_never_pass_a_spend_window(owned: Owned) -> None:
    unit = 1000 + FEE
    window = {"id": "daily", "asset": "native", "chain_id": DEV_CHAIN, "calendar": "day",
              "max_amount": str(unit * 37)}  # fmt: skip
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[window]))
    outcomes = _fire(owned.signer, [payment(1000, nonce=i) for i in range(300)])
    signed = [o for o in outcomes if not isinstance(o, SignerError)]
    refused = [o for o in outcomes if isinstance(o, PolicyDenied)]
    assert len(signed) == 37 and len(refused) == 263
    assert {r.rule for r in refused} == {"daily"}
    # The log agrees: 37 signatures and 263 denials, each naming the window.
    size = owned.signer._log._committed(AGENT_ID).size
    entries = owned.signer._store.pending(AGENT_ID, 0, size)
    kinds = [decode_entry(e.entry).kind for e in entries]
    assert kinds.count(EntryKind.SIGNATURE) == 37
    assert kinds.count(EntryKind.POLICY_DECISION) == 263


def test_concurrent_requests_never_pass_a_count_limit(owned: Owned) -> None:
    window = {"id": "rate", "asset": "any", "rolling_seconds": 60, "max_count": 5}
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[window]))
    outcomes = _fire(owned.signer, [payment(1, nonce=i) for i in range(200)])
    assert sum(not isinstance(o, SignerError) for o in outcomes) == 5


def test_a_batch_is_charged_item_by_item(owned: Owned) -> None:
    window = {"id": "cap", "asset": "native", "rolling_seconds": 60,
              "max_amount": str(3 * (10 + FEE))}  # fmt: skip
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[window]))
    outcomes = owned.signer.sign_many([payment(10, nonce=i) for i in range(5)])
    assert [isinstance(o, PolicyDenied) for o in outcomes] == [False, False, False, True, True]


def test_a_retried_idempotent_request_is_charged_once(owned: Owned) -> None:
    window = {"id": "cap", "asset": "native", "rolling_seconds": 60,
              "max_amount": str(2 * (10 + FEE))}  # fmt: skip
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[window]))
    first = owned.signer.sign(payment(10, key="k1"))
    outcomes = _fire(owned.signer, [payment(10, key="k1")] * 50)
    assert all(o == first for o in outcomes)
    owned.signer.sign(payment(10, nonce=1))  # the second unit is still free
    with pytest.raises(PolicyDenied):
        owned.signer.sign(payment(10, nonce=2))


def test_a_rolling_window_frees_spend_as_it_ages(owned: Owned) -> None:
    now = [1_700_000_000_000]
    owned.signer._clock_ms = lambda: now[0]
    window = {"id": "hour", "asset": "native", "rolling_seconds": 3600,
              "max_amount": str(10 + FEE)}  # fmt: skip
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[window]))
    owned.signer.sign(payment(10))
    now[0] += 3599_000
    with pytest.raises(PolicyDenied):
        owned.signer.sign(payment(10, nonce=1))
    now[0] += 1_000
    assert owned.signer.sign(payment(10, nonce=1)).log_index > 0


@pytest.mark.parametrize(
    ("calendar", "at", "start"),
    [
        ("hour", "2026-12-06T22:59:59", "2026-12-06T22:00:00"),
        ("day", "2026-12-06T22:59:59", "2026-12-06T00:00:00"),
        ("month", "2026-12-06T22:59:59", "2026-12-01T00:00:00"),
    ],
)
def test_calendar_windows_start_at_the_utc_period(calendar: str, at: str, start: str) -> None:
    def ms(text: str) -> int:
        return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)

    window = Window("w", "native", None, None, calendar, 1, None)
    assert window_start_ms(window, ms(at)) == ms(start)


def test_token_approvals_and_permits_share_the_tokens_window(owned: Owned) -> None:
    token = to_checksum_address("0x" + "70" * 20)
    rules = [{"id": "token", "effect": "allow", "to": [token]}]
    window = {"id": "token-day", "asset": token.lower(), "calendar": "day", "max_amount": "100"}
    owned.apply(document(1, rules, windows=[window]))
    approve = (
        bytes.fromhex("095ea7b3") + int(FRIEND, 16).to_bytes(32, "big") + (60).to_bytes(32, "big")
    )
    request = SignRequest(
        AGENT_ID,
        Transaction(TxType.EIP1559, DEV_CHAIN, 0, 60000, token, 0, approve, None, 1, 1),
    )
    owned.signer.sign(request)
    permit = {
        "types": {
            "EIP712Domain": [{"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "Permit": [{"name": "spender", "type": "address"},
                       {"name": "value", "type": "uint256"}],
        },
        "primaryType": "Permit",
        "domain": {"chainId": DEV_CHAIN, "verifyingContract": token},
        "message": {"spender": FRIEND, "value": 41},
    }  # fmt: skip
    from anima_signer_api.types import TypedData

    with pytest.raises(PolicyDenied) as caught:
        owned.signer.sign(SignRequest(AGENT_ID, TypedData(json.dumps(permit))))
    assert caught.value.rule == "token-day"


def test_a_dropped_signature_gives_its_charge_back(tmp_path: Path) -> None:
    """A signature dropped after its charge (a full log tail) is not counted."""
    store = SignerStore(path=tmp_path / "s.sqlite3", keyring=KeyRing(root_secret=bytes(32)))
    window = Window("w", "native", None, 60, None, 100, 5)
    policy = SimpleNamespace(version=1, windows=(window,))
    with store.transaction():
        ledger = Ledger(store, 1_000_000)
        ledger.reserve("agent-a", policy, [Reservation("w", 60)])
        ledger.reserve("agent-a", policy, [Reservation("w", 30)])
        ledger.undo("agent-a", [Reservation("w", 30)])
        ledger.flush()
    with store.transaction():
        assert store.window_usage("agent-a", "w", 0) == (60, 1)
    store.close()
