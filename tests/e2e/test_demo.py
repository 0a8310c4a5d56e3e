"""The README's main job runs end to end and every check it prints passes."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_runs_the_story() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anima_dev.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "INSECURE" in out
    # Step 2: the agent came from the character file, its keys attested.
    assert "(Ada, from ada.character.json)" in out
    assert "binds the wallet and log key the runtime reported: True" in out
    # Step 3: it learned a fact in the first turn and used it in the last.
    assert "[agent] You told me you live in Lisbon." in out
    assert "FACT_EXTRACTION: added 2" in out
    # Step 3c: a real dev chain behind the verifying chain client, under the owner's policy.
    assert re.search(r"holds 2 ETH and 100 ATT \(verified against block \d+\)", out)
    assert re.search(r"\[on chain\] 0x[0-9a-f]{64} in block \d+", out)
    assert "the owner's policy refused to sign it (rule no-large-transfers)" in out
    assert "nothing reached the chain" in out
    assert re.search(r"holds 1\.98\d* ETH and 97 ATT \(verified against block \d+\)", out)
    assert "match anvil" in out
    assert "sender recovered by eth-account: True" in out
    assert "EIP-191 signer recovered: True" in out
    # The owner's signed policy governs it: applied, explained, and refusing by its rule.
    assert re.search(r"\[owner policy\] v1 signed by the owner 0x[0-9a-f]{40}, applied", out)
    assert "[dry run] allowed=False rule=no-large-transfers" in out
    assert "POLICY_DENIED rule=no-large-transfers v1" in out
    # Step 4: the log, verified offline by `anima log` in its own processes.
    assert "[anima log verify] origin=anima.local/agents/ada-" in out
    # 4 + 5 wallet turns; the transfer turns add the action's own reply.
    assert re.search(r"'message_in': 9, 'response': 12, 'action': 9, 'evaluator': 9", out)
    assert "'signature': 4, 'policy_decision': 2" in out
    assert "consistent: True" in out
    assert "signature and witness cosignature checked" in out
    assert "the message that taught the fact: entry 1 (message_in, actor sam) proven" in out
    assert "payload hash matches and names the transaction" in out
    # Step 5: the agent economy (anima_dev.economy; its own checks raise if they fail).
    assert "posted 100/100 (tag tee-insecure-simulated)" in out
    assert "denied by policy rule 'x402-over-per-request-limit'" in out
    # Step 5: escrowed at creation, synced and anchored, node A killed, node B recovered.
    assert "at creation, in the enclave: the agent root split 2-of-2" in out
    assert re.search(r"\[sync\] manifest v1: .* anchored in AgentAnchor 0x[0-9a-f]+", out)
    assert "[kill -9] node A's signer, memory and runtime are gone" in out
    assert "proven from genesis" in out and "(by B's enclave too)" in out
    wallet = re.search(r"\[wallet\] (0x[0-9a-fA-F]{40})", out)
    assert wallet is not None and f"wallet {wallet.group(1)} same as node A's" in out
    assert re.search(r"\[handover\] anchor v2 at recovery epoch 1 \(was 0\)", out)
    assert re.search(r"anchored checkpoint (\d+) -> node B's \d+ .* consistent: True", out)
    # Node B's memory service and runtime took the agent over; it chats there, from the
    # restored memories (the fact node A learned), through node B's chat API.
    assert re.search(r"\[node B takes over\] memory service imported [1-9]\d* memories", out)
    assert "runtime: agent restored, running True" in out
    assert "[you -> node B] Where do I live?" in out
    answer = re.search(r"\[agent on node B\] (.*)", out)
    assert answer is not None and "Lisbon" in answer.group(1)
    assert "node B's agent answered from them: 'Lisbon' (node B)" in out
    assert out.rstrip().endswith("every check above passed")
