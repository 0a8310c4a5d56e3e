"""Spend windows, counts and rate limits, reserved in the signature's own commit.

A window sums what the agent's signatures moved of one asset over a period
(rolling: the last N seconds; calendar: this UTC hour, day or month) and counts
them. The check and the reservation run inside the same store transaction that
appends the signature's log entry (core.Signer._log_attempts), under the store's
write lock: concurrent requests are judged one after the other against committed
usage, so no two can both take the last of a window. A signature refused here is
dropped unseen and its refusal logged instead.

What counts: for "native", the value plus the worst-case fee; for a token
address, the amount of an ERC-20 transfer, approve or transferFrom sent to that
contract, and the value of an EIP-2612 Permit whose verifying contract it is, and of an EIP-3009
transfer/receive authorization (an approval, a permit or an authorization is money
the agent lets go); for "any", every signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from anima_signer_api.errors import PolicyDenied
from anima_signer_api.policy_document import ANY, NATIVE, Window
from anima_signer_api.types import UINT256_MAX, Transaction

_TOKEN_SPENDS = frozenset({"transfer", "approve", "transferFrom"})
# Typed data whose signature lets `value` of the verifying contract's token go: an
# EIP-2612 permit, and EIP-3009 authorizations (what x402 payments sign).
_SIGNED_SPENDS = frozenset({"Permit", "TransferWithAuthorization", "ReceiveWithAuthorization"})


@dataclass(frozen=True, slots=True)
class Spend:
    asset: str  # NATIVE or a lowercase token address
    chain_id: int
    amount: int


def spends(payload: object, variables: dict[str, Any]) -> list[Spend]:
    """What one request would move, by asset."""
    eth = variables["eth"]
    chain_id = int(variables["chain_id"])
    found: list[Spend] = []
    if isinstance(payload, Transaction):
        found.append(Spend(NATIVE, chain_id, int(eth["tx"]["max_cost"])))
        call = eth["call"]
        if call["function"] in _TOKEN_SPENDS:
            found.append(Spend(eth["tx"]["to"], chain_id, int(call["amount"])))
    elif variables["kind"] == "typed_data" and eth["eip_712"]["primary_type"] in _SIGNED_SPENDS:
        value = eth["eip_712"]["message"].get("value", "0")
        amount = int(value) if isinstance(value, str) and value.isdigit() else UINT256_MAX
        found.append(Spend(eth["eip_712"]["domain"]["verifying_contract"], chain_id, amount))
    return found


def window_start_ms(window: Window, now_ms: int) -> int:
    if window.rolling_seconds is not None:
        return now_ms - window.rolling_seconds * 1000 + 1
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    if window.calendar == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
    elif window.calendar == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Reservation:
    window_id: str
    amount: int


def charges(windows: tuple[Window, ...], found: list[Spend]) -> list[Reservation]:
    """Which windows one signature charges, and how much (0 for a count-only charge)."""
    reservations = []
    for window in windows:
        if window.asset == ANY:
            if window.chain_id is None or any(s.chain_id == window.chain_id for s in found):
                reservations.append(Reservation(window.id, 0))
            continue
        amount = sum(
            s.amount
            for s in found
            if s.asset == window.asset and window.chain_id in (None, s.chain_id)
        )
        matched = any(
            s.asset == window.asset and window.chain_id in (None, s.chain_id) for s in found
        )
        if matched:
            reservations.append(Reservation(window.id, amount))
    return reservations


class WindowUsage(Protocol):
    """Usage reads and charge writes; SignerStore implements it."""

    def window_usage(self, agent_id: str, window_id: str, since_ms: int) -> tuple[int, int]: ...

    def record_charges(self, time_ms: int, charges: list[tuple[str, str, int]]) -> None: ...


class _Policy(Protocol):
    version: int

    @property
    def windows(self) -> tuple[Window, ...]: ...


class Ledger:
    """The windows' usage inside one store transaction (one signing batch): each window
    read once, charged in memory request by request, written by `flush` before the
    commit. Must live inside the transaction that logs the signatures it charges."""

    def __init__(self, usage: WindowUsage, now_ms: int) -> None:
        self._usage = usage
        self._now_ms = now_ms
        self._totals: dict[tuple[str, str], list[int]] = {}  # [spent, count]
        self._charges: list[tuple[str, str, int]] = []

    def _current(self, agent_id: str, window: Window) -> list[int]:
        key = (agent_id, window.id)
        found = self._totals.get(key)
        if found is None:
            since = window_start_ms(window, self._now_ms)
            found = list(self._usage.window_usage(agent_id, window.id, since))
            self._totals[key] = found
        return found

    def check(self, agent_id: str, policy: _Policy, reservations: list[Reservation]) -> None:
        """PolicyDenied naming the first window these charges would overrun."""
        by_id = {w.id: w for w in policy.windows}
        for charge in reservations:
            window = by_id[charge.window_id]
            spent, count = self._current(agent_id, window)
            if window.max_count is not None and count + 1 > window.max_count:
                raise PolicyDenied(
                    window.id,
                    f"window {window.id} allows {window.max_count} signatures; {count} used",
                    policy_version=policy.version,
                )
            if window.max_amount is not None and spent + charge.amount > window.max_amount:
                raise PolicyDenied(
                    window.id,
                    f"window {window.id} allows {window.max_amount} of {window.asset}; "
                    f"{spent} used, this request needs {charge.amount}",
                    policy_version=policy.version,
                )

    def reserve(self, agent_id: str, policy: _Policy, reservations: list[Reservation]) -> None:
        """Check every charged window, then charge them all; on PolicyDenied nothing
        is charged."""
        self.check(agent_id, policy, reservations)
        for charge in reservations:
            current = self._totals[(agent_id, charge.window_id)]
            current[0] += charge.amount
            current[1] += 1
            self._charges.append((agent_id, charge.window_id, charge.amount))

    def undo(self, agent_id: str, reservations: list[Reservation]) -> None:
        """Take back the charges of a signature that was dropped after all."""
        for charge in reservations:
            current = self._totals[(agent_id, charge.window_id)]
            current[0] -= charge.amount
            current[1] -= 1
            self._charges.remove((agent_id, charge.window_id, charge.amount))

    def flush(self) -> None:
        if self._charges:
            self._usage.record_charges(self._now_ms, self._charges)
            self._charges = []
