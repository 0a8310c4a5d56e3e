"""The owner's policy engine: evaluation latency with 100 rules, and signing throughput
with the engine against the same benchmark under the minimal gate.

Evaluation is what the gate adds per request before signing: the request's facts
(decoded calldata included), the candidate rules, the CEL context and conditions.
Two 100-rule policies: "targeted" (most rules name the contracts or recipients they
concern, as allow-lists do) and "worst" (no rule filters: every condition runs).
Signing compares transactions signed through Signer.sign_many (batches, so the
durable commit does not hide the gate's cost) and one-by-one Signer.sign (a commit
each), minimal gate vs engine (the targeted policy plus a daily spend window and a
rate limit, reserved in the commit). Prints figures and the machine; not a test.
Usage: python bench/policy_bench.py [--seconds N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from machine import machine  # bench/machine.py, beside this script

from anima_signer.core import Signer
from anima_signer.policy.engine import CompiledPolicy
from anima_signer.policy.facts import facts, target
from anima_signer.tee.sim import InsecureSimulatedTee
from anima_signer_api.policy_document import SCHEMA, owner_typed_data, parse_document
from anima_signer_api.types import SigningPolicy, SignRequest, Transaction, TxType

CHAIN = 31337
OWNER_KEY = "0x" + "4f" * 32
TOKEN = "0x" + "70" * 20
RECIPIENT = "0xf1f1f1F1f1f1F1F1f1F1f1F1F1F1F1f1F1f1f1F1"


def _address(i: int) -> str:
    return "0x" + f"{i:040x}"


def rules_100(*, targeted: bool) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"id": f"deny-{i}", "effect": "deny",
         "when": f"listed(eth.tx.to, 'blocked') && eth.tx.nonce == {i}"}
        for i in range(5)
    ]  # fmt: skip
    for i in range(94):
        rule: dict[str, Any] = {
            "id": f"allow-{i}",
            "effect": "allow",
            "payloads": ["transaction"],
            "chain_ids": [CHAIN],
            "when": f"eth.call.function == 'transfer' && wei_le(eth.call.amount, '{10**20 + i}') "
            f"&& eth.call.recipient == '{_address(1000 + i)}'",
        }
        if targeted:
            rule["to"] = [_address(i + 1)]
        rules.append(rule)
    rules.append(
        {"id": "payments", "effect": "allow", "payloads": ["transaction"], "chain_ids": [CHAIN],
         "when": f"eth.tx.data == '0x' && wei_le(eth.tx.max_cost, '{10**24}')"}
    )  # fmt: skip
    return rules


def document(rules: list[dict[str, Any]], windows: list[dict[str, Any]] | None = None) -> str:
    return json.dumps(
        {"schema": SCHEMA, "agent_id": "bench", "version": 1, "rules": rules,
         "lists": {"blocked": [_address(0xDEAD)]}, "windows": windows or []}
    )  # fmt: skip


def payment(i: int) -> Transaction:
    return Transaction(TxType.EIP1559, CHAIN, i, 21000, RECIPIENT, 10**15, b"", None, 10**9, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def evaluation(seconds: float) -> dict[str, dict[str, float]]:
    out = {}
    for name in ("targeted", "worst"):
        policy = CompiledPolicy(parse_document(document(rules_100(targeted=name == "targeted"))))
        assert len(policy.document.rules) == 100
        requests = [payment(i) for i in range(512)]
        latencies: list[float] = []
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds:
            request = requests[i % 512]
            t0 = time.perf_counter()
            variables = facts(request, chain_id=CHAIN)
            decision = policy.evaluate(variables, target=target(request, variables))
            latencies.append(time.perf_counter() - t0)
            assert decision.allowed and decision.rule == "payments"
            i += 1
        out[name] = {
            "p50_us": statistics.median(latencies) * 1e6,
            "p99_us": percentile(latencies, 0.99) * 1e6,
            "n": len(latencies),
        }
    return out


async def _open(state: Path, gate: str) -> Signer:
    signer = await Signer.open(
        tee=InsecureSimulatedTee(state_dir=state), state_dir=state, log_origin_prefix="b"
    )
    if gate == "minimal":
        policy = SigningPolicy(allowed_chain_ids=frozenset({CHAIN}), max_value_wei=10**24)
        signer.create_agent(agent_id="bench", wallet_count=1, policy=policy)
        return signer
    owner = Account.from_key(OWNER_KEY).address
    agent = signer.create_agent(agent_id="bench", wallet_count=1, owner=owner)
    windows: list[dict[str, Any]] = [
        {"id": "day", "asset": "native", "calendar": "day", "max_amount": str(10**30)},
        {"id": "rate", "asset": "any", "rolling_seconds": 60, "max_count": 10**9},
    ]
    text = document(rules_100(targeted=True), windows)
    typed = owner_typed_data(parse_document(text), agent_address=agent.wallets[0].address)
    signature = bytes(Account.sign_typed_data(OWNER_KEY, full_message=typed).signature)
    signer.apply_policy("bench", text, signature)
    return signer


async def signing(seconds: float, batch: int, rounds: int = 20) -> dict[str, float]:
    """Median rate per gate and mode over `rounds` rounds, the gates alternating so
    both see the same load on a shared machine."""
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        signers = {g: await _open(Path(tmp) / g, g) for g in ("minimal", "engine")}
        host_size = dict.fromkeys(signers, 0)
        nonce = dict.fromkeys(signers, 0)
        try:
            for _ in range(rounds):
                for mode in ("sign_many", "sign"):
                    for gate, signer in signers.items():
                        signed, start = 0, time.perf_counter()
                        while time.perf_counter() - start < seconds / rounds:
                            n = nonce[gate]
                            if mode == "sign_many":
                                requests = [
                                    SignRequest("bench", payment(n + k)) for k in range(batch)
                                ]
                                for outcome in signer.sign_many(requests):
                                    assert not isinstance(outcome, Exception), outcome
                                signed += batch
                            else:
                                signer.sign(SignRequest("bench", payment(n)))
                                signed += 1
                            nonce[gate] += batch if mode == "sign_many" else 1
                            host_size[gate] = signer.append_log("bench", host_size[gate], []).size
                        rate = signed / (time.perf_counter() - start)
                        rates.setdefault(f"{gate}_{mode}", []).append(rate)
        finally:
            for signer in signers.values():
                signer.close()
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for name, figures in evaluation(args.seconds).items():
        print(
            f"evaluate, 100 rules ({name}): p50 {figures['p50_us']:.1f} us, "
            f"p99 {figures['p99_us']:.1f} us ({figures['n']:.0f} requests)"
        )
    rates = asyncio.run(signing(args.seconds, args.batch))
    for mode in ("sign_many", "sign"):
        minimal, engine = rates[f"minimal_{mode}"], rates[f"engine_{mode}"]
        print(
            f"{mode} transactions/s: minimal gate {minimal:.0f}, engine {engine:.0f} "
            f"({(engine / minimal - 1) * 100:+.1f}%)"
        )


if __name__ == "__main__":
    main()
