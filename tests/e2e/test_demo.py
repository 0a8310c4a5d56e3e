"""The README's main job runs end to end and every check it prints passes."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_the_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anima_cli.main", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "sender recovered by eth-account: True" in out
    assert "EIP-191 signer recovered: True" in out
    assert "PERMISSION_DENIED: denied by policy rule 'max_value_wei'" in out
    assert "INSECURE" in out
    # Step 4: the agent's log, verified offline by `anima log` in its own processes.
    assert "'lifecycle': 1, 'signature': 2, 'policy_decision': 1" in out
    assert "[anima log verify] origin=anima.local/agents/demo-" in out
    assert "size=6" in out
    assert "consistent: True" in out
    assert "payload hash matches" in out
