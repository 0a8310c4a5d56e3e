"""`anima log serve` as its own process, in front of a signer process: the enclave's
signature entries reach the served log, and `anima log verify` checks it over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anima_dev.cli import main
from anima_dev.local_signer import LocalSigner, local_signer
from anima_signer_api.client import SignerClient
from anima_signer_api.types import PersonalMessage, SigningPolicy, SignRequest
from tests.signer.conftest import SIM_TRUST

AGENT = "serve-agent"
TOKEN_ENV = "ANIMA_SIGNER_TOKEN"
READY_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSigner]:
    with local_signer(tmp_path_factory.mktemp("signer")) as running:
        yield running


async def _create_agent(signer: LocalSigner) -> str:
    """The new agent's log verifier key."""
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["admin"], policy=SIM_TRUST
    ) as admin:
        agent = await admin.create_agent(AGENT, policy=SigningPolicy(allow_personal_messages=True))
    return agent.log_verifier_key


async def _sign(signer: LocalSigner, message: bytes) -> int:
    """The log index of the signature's entry."""
    async with await SignerClient.connect_attested(
        address=signer.address, token=signer.tokens["runtime"], policy=SIM_TRUST
    ) as runtime:
        result = await runtime.sign(SignRequest(AGENT, PersonalMessage(message)))
    return result.log_index


Ready = dict[str, Any]  # the --ready-file document: url, port, logs


def _start_serve(signer: LocalSigner, tmp_path: Path) -> tuple[subprocess.Popen[str], Ready]:
    ready = tmp_path / "log.ready"
    command = [sys.executable, "-m", "anima_dev.cli", "log", "serve"]
    command += ["--signer", signer.address, "--insecure-allow-simulated"]
    command += ["--dir", str(tmp_path / "logs"), "--agent", AGENT]
    command += ["--listen", "127.0.0.1:0", "--ready-file", str(ready)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMA_LOG_")}
    env[TOKEN_ENV] = signer.tokens["runtime"]
    env["ANIMA_LOG_SYNC_INTERVAL_S"] = "0.2"  # LogConfig from the environment
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if process.poll() is not None:
            raise AssertionError(f"anima log serve exited: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("anima log serve did not become ready in time")
        time.sleep(0.05)
    return process, json.loads(ready.read_text())


def test_served_log_verifies_and_lists_the_signature(
    signer: LocalSigner, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vkey = asyncio.run(_create_agent(signer))
    signature_index = asyncio.run(_sign(signer, b"before serving"))
    process, ready = _start_serve(signer, tmp_path)
    try:
        assert process.stdout is not None
        url = ready["logs"][AGENT]
        assert url == f"{ready['url']}/v1/logs/{AGENT}"
        assert process.stdout.readline().strip() == (
            f"log API serving on {ready['url']}; tlog-tiles: {AGENT}={url}"
        )
        assert main(["log", "verify", url, "--vkey", vkey, "--insecure-unwitnessed", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["verified"] and report["log"]["size"] >= 2  # creation + signature
        assert report["log"]["size"] > signature_index
        page = httpx.get(f"{url}/entries", timeout=10).json()
        entries = {e["index"]: e for e in page["entries"]}
        assert entries[signature_index]["kind"] == "signature"
        assert entries[signature_index]["actor"] == "signer"
        assert entries[0]["kind"] == "lifecycle"

        # Signed while serving: the background sync collects the enclave's entry.
        later = asyncio.run(_sign(signer, b"while serving"))
        deadline = time.monotonic() + 5
        while httpx.get(f"{url}/entries", params={"start": later}).json()["size"] <= later:
            assert time.monotonic() < deadline, "the signature entry was not collected"
            time.sleep(0.05)
        [entry] = httpx.get(f"{url}/entries", params={"start": later, "end": later + 1}).json()[
            "entries"
        ]
        assert entry["kind"] == "signature"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_serve_refuses_without_a_token(
    signer: LocalSigner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    args = ["log", "serve", "--signer", signer.address, "--insecure-allow-simulated"]
    with pytest.raises(SystemExit, match=f"set {TOKEN_ENV}"):
        main([*args, "--dir", str(tmp_path), "--agent", AGENT, "--listen", "127.0.0.1:0"])
    assert not (tmp_path / AGENT).exists()


def test_serve_refuses_a_simulated_tee_unless_allowed(
    signer: LocalSigner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(TOKEN_ENV, signer.tokens["runtime"])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"mrtd": ["00" * 48]}))
    args = ["log", "serve", "--signer", signer.address, "--measurement-policy", str(policy)]
    code = main([*args, "--dir", str(tmp_path), "--agent", AGENT, "--listen", "127.0.0.1:0"])
    assert code == 1
    assert "simulated" in capsys.readouterr().err.lower()
    assert not (tmp_path / AGENT).exists()


def test_served_log_collects_again_after_the_signer_restarts(tmp_path: Path) -> None:
    """Before, `anima log serve` kept failing its TLS handshake with a restarted signer
    (a new TLS key) until it was restarted itself; now it re-attests and re-pins."""
    with local_signer(tmp_path / "first") as first:
        asyncio.run(_create_agent(first))
        process, ready = _start_serve(first, tmp_path)
    try:
        url = ready["logs"][AGENT]
        with local_signer(tmp_path / "first", port=first.port, tokens=first.tokens) as again:
            later = asyncio.run(_sign(again, b"after the restart"))
            deadline = time.monotonic() + 15
            while httpx.get(f"{url}/entries", params={"start": later}).json()["size"] <= later:
                assert time.monotonic() < deadline, "the signature entry was not collected"
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
