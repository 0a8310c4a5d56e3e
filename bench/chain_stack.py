"""What the chain benchmarks share: anvil, the signer (INSECURE simulated TEE) and
`anima chain serve` as their own processes in a temporary directory, and the way they
print latencies."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from anima_dev.local_chain import LocalChain, local_chain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_signer import LocalSigner, local_signer

Run = Callable[[LocalChain, LocalSigner, LocalChainClient], Awaitable[None]]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, n={len(ordered)}"


def run_on_local_chain(run: Run) -> None:
    """Start the three processes, run `run` against them, and stop them."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        with (
            local_chain(state / "anvil") as chain,
            local_signer(state) as signer,
            local_chain_client(state, chain=chain, signer=signer) as verifier,
        ):
            asyncio.run(run(chain, signer, verifier))
