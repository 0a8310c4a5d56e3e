"""The economy part of the main job runs end to end (its own anvil, signer and chain
client processes) and every check it prints passes."""

from __future__ import annotations

import re
import subprocess
import sys


def test_economy_story_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anima_dev.economy"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"registered +ERC-8004 agent 1; its registration file's keccak256", out)
    assert "posted 100/100 (tag tee-insecure-simulated)" in out
    assert "keccak256 matches the chain" in out
    assert "attestation: INSECURE simulated TEE, fresh nonce, binds wallet" in out
    assert re.search(r"bought +/weather for 1 ADOL: .*settled in tx 0x[0-9a-f]{16}", out)
    assert "denied by policy rule 'x402-over-per-request-limit'" in out
    assert "every economy check above passed" in out
