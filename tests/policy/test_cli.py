"""`anima policy` end to end against a served signer: the owner signs a document with a
local key file, applies it, shows it and asks for a dry run; `anima agent create --owner`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from anima_dev.cli import main
from anima_signer_api.cli import TOKEN_ENV
from tests.policy.conftest import AGENT_ID, OWNER, OWNER_KEY, document
from tests.signer.conftest import TOKENS, Served

RULES = [{"id": "small", "effect": "allow", "payloads": ["transaction"],
          "when": "wei_le(eth.tx.max_cost, '1000000')"}]  # fmt: skip
REQUEST = {"transaction": {"type": "TRANSACTION_TYPE_EIP1559", "chainId": "31337",
           "gasLimit": "21000", "to": "0x" + "11" * 20, "value": "{value}",
           "maxFeePerGas": "1", "maxPriorityFeePerGas": "1"}}  # fmt: skip


async def _anima(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


async def test_the_owner_signs_applies_shows_and_explains(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trust = ["--signer", served.address, "--insecure-allow-simulated"]
    monkeypatch.setenv(TOKEN_ENV, TOKENS["admin"])
    code, out, err = await _anima(
        capsys, "agent", "create", AGENT_ID, "--owner", OWNER, "--json", *trust
    )
    assert code == 0, err
    agent = json.loads(out)
    assert agent["owner"] == OWNER.lower()

    key_file = tmp_path / "owner.key"
    key_file.write_text(OWNER_KEY)
    key_file.chmod(0o644)
    policy = tmp_path / "policy.json"
    policy.write_text(document(1, RULES))
    sign = ["policy", "sign", str(policy), "--agent-address", agent["wallets"][0]["address"]]
    with pytest.raises(SystemExit, match="chmod 600"):
        await _anima(capsys, *sign, "--key-file", str(key_file))
    key_file.chmod(0o600)
    code, out, err = await _anima(capsys, *sign, "--key-file", str(key_file))
    assert code == 0 and (tmp_path / "policy.json.sig").exists(), err

    monkeypatch.setenv(TOKEN_ENV, TOKENS["runtime"])
    code, out, err = await _anima(capsys, "policy", "apply", AGENT_ID, str(policy), *trust)
    assert code == 0 and json.loads(out)["applied_version"] == 1, err
    code, out, err = await _anima(capsys, "policy", "apply", AGENT_ID, str(policy), *trust)
    assert code == 1 and "not above the active version 1" in err

    code, out, _ = await _anima(capsys, "policy", "show", AGENT_ID, *trust)
    assert json.loads(out)["document"]["rules"] == RULES

    for value, allowed, rule in (("1000", True, "small"), ("5000000", False, "default_deny")):
        request = tmp_path / f"request-{value}.json"
        request.write_text(json.dumps(REQUEST).replace("{value}", value))
        code, out, err = await _anima(capsys, "policy", "explain", AGENT_ID, str(request), *trust)
        explained = json.loads(out)
        assert (code, explained["allowed"], explained["rule"]) == (0, allowed, rule), err
