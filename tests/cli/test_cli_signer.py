"""`anima signer` and `anima agent` against a signer running as its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from anima_dev.local_signer import LocalSigner, local_signer


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigner]:
    with local_signer(tmp_path_factory.mktemp("signer")) as running:
        yield running


def anima(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ANIMA_SIGNER_TOKEN"}
    if token is not None:
        env["ANIMA_SIGNER_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "anima_dev.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_agent_create_then_show_prints_the_same_attested_keys(signer: LocalSigner) -> None:
    common = ["--signer", signer.address, "--insecure-allow-simulated", "--json"]
    created = anima(
        "agent",
        "create",
        "cli-agent",
        "--chain-id",
        "31337",
        "--wallets",
        "2",
        *common,
        token=signer.tokens["admin"],
    )
    assert created.returncode == 0, created.stderr
    shown = anima("agent", "show", "cli-agent", *common, token=signer.tokens["runtime"])
    assert shown.returncode == 0, shown.stderr
    a, b = json.loads(created.stdout), json.loads(shown.stdout)
    assert a["wallets"] == b["wallets"] and len(a["wallets"]) == 2
    assert a["log_verifier_key"] == b["log_verifier_key"]
    assert b["attestation"]["tee"] == "sim" and b["attestation"]["insecure"] is True
    assert a["attestation"]["report_data"] != b["attestation"]["report_data"]  # fresh nonce
    assert a["policy"]["allowed_chain_ids"] == [31337]


def test_agent_commands_refuse_a_simulated_tee_by_default(
    signer: LocalSigner, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"mrtd": ["00" * 48]}))
    result = anima(
        "agent",
        "show",
        "cli-agent",
        "--signer",
        signer.address,
        "--measurement-policy",
        str(policy),
        token=signer.tokens["admin"],
    )
    assert result.returncode == 1
    assert "simulated" in result.stderr.lower()


def test_runtime_token_cannot_create_agents(signer: LocalSigner) -> None:
    result = anima(
        "agent",
        "create",
        "not-allowed",
        "--signer",
        signer.address,
        "--insecure-allow-simulated",
        token=signer.tokens["runtime"],
    )
    assert result.returncode == 1
    assert "PERMISSION_DENIED" in result.stderr


def test_missing_token_is_a_clear_error(signer: LocalSigner) -> None:
    result = anima(
        "agent", "show", "x-agent", "--signer", signer.address, "--insecure-allow-simulated"
    )
    assert result.returncode != 0
    assert "ANIMA_SIGNER_TOKEN" in result.stderr


def test_token_never_appears_in_output(signer: LocalSigner) -> None:
    token = signer.tokens["admin"]
    result = anima(
        "agent",
        "show",
        "no-such-agent",
        "--signer",
        signer.address,
        "--insecure-allow-simulated",
        token=token,
    )
    assert result.returncode == 1 and "no-such-agent" in result.stderr
    assert token not in result.stdout + result.stderr


def test_serve_without_callers_fails_closed(tmp_path: Path) -> None:
    result = anima("signer", "serve", "--listen", "127.0.0.1:0", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no callers configured" in result.stderr


def test_new_token_prints_a_matching_digest() -> None:
    import hashlib

    result = anima("signer", "new-token", "runtime")
    assert result.returncode == 0
    token = result.stdout.split("ANIMA_SIGNER_TOKEN): ")[1].split()[0]
    assert hashlib.sha256(token.encode()).hexdigest() in result.stdout
