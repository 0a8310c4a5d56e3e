"""Each charged window's sealed row is opened once per signing commit: record_charges
reuses the row window_usage read in the same transaction (one AES-GCM open per
window per batch, not two), and a rolled-back transaction leaves nothing behind."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from anima_signer.keys import KeyRing
from anima_signer.policy.windows import Ledger, Reservation
from anima_signer.sealed_state.rows import SealedState
from anima_signer.store import SignerStore
from anima_signer_api.errors import PolicyDenied, SignerError
from anima_signer_api.policy_document import Window
from tests.policy.conftest import AGENT_ID, DEV_CHAIN, Owned, document
from tests.policy.test_windows import ALLOW_ALL_PAYMENTS, FEE, payment


def count_window_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    opened: list[str] = []
    original = SealedState._opened

    def counted(self: SealedState, agent_id: str, table: str, *rest: object) -> bytes:
        if table == "policy_window":
            opened.append(agent_id)
        return original(self, agent_id, table, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(SealedState, "_opened", counted)
    return opened


def test_a_batch_opens_each_charged_window_once(
    owned: Owned, monkeypatch: pytest.MonkeyPatch
) -> None:
    daily = {"id": "daily", "asset": "native", "chain_id": DEV_CHAIN, "calendar": "day",
             "max_amount": str(7 * (10 + FEE))}  # fmt: skip
    rate = {"id": "rate", "asset": "any", "rolling_seconds": 60, "max_count": 100}
    owned.apply(document(1, [ALLOW_ALL_PAYMENTS], windows=[daily, rate]))
    owned.signer.sign_many([payment(10, nonce=i) for i in range(5)])  # rows now exist
    opened = count_window_opens(monkeypatch)
    outcomes = owned.signer.sign_many([payment(10, nonce=5 + i) for i in range(4)])
    assert len(opened) == 2, "one open per window for the whole batch"
    # The charges of both batches are kept: 7 fit the daily window, the 8th and 9th not.
    assert sum(not isinstance(o, SignerError) for o in outcomes) == 2
    assert all(isinstance(o, PolicyDenied) and o.rule == "daily" for o in outcomes[2:])


def test_charges_of_a_rolled_back_transaction_are_not_seen_later(tmp_path: Path) -> None:
    store = SignerStore(path=tmp_path / "s.sqlite3", keyring=KeyRing(root_secret=bytes(32)))
    window = Window("w", "native", None, 60, None, 100, 5)
    policy = SimpleNamespace(version=1, windows=(window,))
    with store.transaction():
        ledger = Ledger(store, 1_000_000)
        ledger.reserve(AGENT_ID, policy, [Reservation("w", 60)])
        ledger.flush()
    with pytest.raises(RuntimeError, match="abandoned"), store.transaction():
        ledger = Ledger(store, 1_000_000)
        ledger.reserve(AGENT_ID, policy, [Reservation("w", 30)])
        ledger.flush()
        assert store.window_usage(AGENT_ID, "w", 0) == (90, 2)
        raise RuntimeError("abandoned")
    with store.transaction():
        assert store.window_usage(AGENT_ID, "w", 0) == (60, 1)
    assert store.window_usage(AGENT_ID, "w", 0) == (60, 1)  # outside a transaction: the row
    store.close()
