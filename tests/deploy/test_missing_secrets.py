"""A pod whose Secret is missing or wrong does not start: it exits naming what is wrong.

Each service's own entry point is run as the image runs it (`anima-<svc> serve`,
configured by environment variables only), with one secret the manifests
reference left out or malformed. It must exit non-zero before serving, name the
variable, and never echo the value it was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from anima_core.auth import token_digest

pytestmark = pytest.mark.slow  # a process start per case

BIN = Path(sys.executable).parent
SECRET_LOOKING = "s3cr3t-value-that-must-not-be-echoed"


def _serve(service: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANIMA_", "OTEL_"))}
    return subprocess.run(
        [BIN / f"anima-{service}", "serve", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0, result.stdout
    for word in words:
        assert word in result.stderr, result.stderr
    assert SECRET_LOOKING not in result.stderr + result.stdout
    assert "serving" not in result.stdout


def test_the_signer_without_its_callers_secret(tmp_path: Path) -> None:
    env = {"ANIMA_SIGNER_STATE_DIR": str(tmp_path), "ANIMA_SIGNER_LISTEN": "127.0.0.1:0"}
    _refused(_serve("signer", env), "no callers configured")


def test_the_signer_with_a_malformed_callers_secret(tmp_path: Path) -> None:
    env = {
        "ANIMA_SIGNER_STATE_DIR": str(tmp_path),
        "ANIMA_SIGNER_CALLERS": json.dumps({"runtime": SECRET_LOOKING}),
    }
    _refused(_serve("signer", env), "ANIMA_SIGNER_CALLERS")


def test_the_production_signer_refuses_the_simulated_tee(tmp_path: Path) -> None:
    env = {
        "ANIMA_SIGNER_STATE_DIR": str(tmp_path),
        "ANIMA_SIGNER_CALLERS": json.dumps({"runtime": token_digest("t")}),
        "ANIMA_SIGNER_PRODUCTION": "true",
        "ANIMA_SIGNER_TEE": "sim",
    }
    _refused(_serve("signer", env), "production refuses the insecure simulated TEE")


def test_memory_without_its_callers_secret(tmp_path: Path) -> None:
    env = {"ANIMA_MEMORY_DATA_DIR": str(tmp_path), "ANIMA_MEMORY_LISTEN": "127.0.0.1:0"}
    _refused(_serve("memory", env), "no callers configured")


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("ANIMA_RUNTIME_API_TOKEN_SHA256S", "no API token configured"),
        ("ANIMA_SIGNER_TOKEN", "ANIMA_SIGNER_TOKEN"),
        ("ANIMA_MEMORY_TOKEN", "ANIMA_MEMORY_TOKEN"),
    ],
)
def test_the_runtime_without_one_of_its_secrets(tmp_path: Path, missing: str, named: str) -> None:
    env = {
        "ANIMA_RUNTIME_DATA_DIR": str(tmp_path),
        "ANIMA_RUNTIME_API_TOKEN_SHA256S": json.dumps([token_digest(SECRET_LOOKING)]),
        "ANIMA_SIGNER_TOKEN": SECRET_LOOKING,
        "ANIMA_MEMORY_TOKEN": SECRET_LOOKING,
    }
    del env[missing]
    # Nothing listens on port 9: had it got past its secrets, it would fail differently.
    args = ("--signer=127.0.0.1:9", "--insecure-allow-simulated", "--memory=127.0.0.1:9")
    _refused(_serve("runtime", env, *args, "--memory-insecure-plaintext"), named)


def test_the_runtime_with_a_chain_but_without_its_token(tmp_path: Path) -> None:
    env = {
        "ANIMA_RUNTIME_DATA_DIR": str(tmp_path),
        "ANIMA_RUNTIME_API_TOKEN_SHA256S": json.dumps([token_digest(SECRET_LOOKING)]),
        "ANIMA_SIGNER_TOKEN": SECRET_LOOKING,
        "ANIMA_MEMORY_TOKEN": SECRET_LOOKING,
    }
    # Refused before connecting: nothing listens on port 9, yet the chain token is named.
    args = ("--signer=127.0.0.1:9", "--insecure-allow-simulated", "--memory=127.0.0.1:9")
    chain = ("--chain=127.0.0.1:9", "--chain-insecure-plaintext")
    _refused(
        _serve("runtime", env, *args, "--memory-insecure-plaintext", *chain), "ANIMA_CHAIN_TOKEN"
    )


def _chain_env(tmp_path: Path) -> dict[str, str]:
    return {
        "ANIMA_CHAIN_DATA_DIR": str(tmp_path),
        "ANIMA_CHAIN_LISTEN": "127.0.0.1:0",
        "ANIMA_CHAIN_CHAIN_ID": "31337",
        "ANIMA_CHAIN_CHECKPOINT_HASH": "0x" + "ab" * 32,
        "ANIMA_CHAIN_CALLERS": json.dumps({"runtime": token_digest("t")}),
        "ANIMA_SIGNER_TOKEN": SECRET_LOOKING,
    }


def test_the_chain_client_without_its_callers_secret(tmp_path: Path) -> None:
    env = _chain_env(tmp_path)
    del env["ANIMA_CHAIN_CALLERS"]
    _refused(_serve("chain", env, "--insecure-allow-simulated"), "no callers configured")


def test_the_chain_client_with_a_malformed_callers_secret(tmp_path: Path) -> None:
    env = {**_chain_env(tmp_path), "ANIMA_CHAIN_CALLERS": json.dumps({"runtime": SECRET_LOOKING})}
    _refused(_serve("chain", env, "--insecure-allow-simulated"), "ANIMA_CHAIN_CALLERS")


def test_the_chain_client_without_its_signer_token(tmp_path: Path) -> None:
    env = _chain_env(tmp_path)
    del env["ANIMA_SIGNER_TOKEN"]
    _refused(_serve("chain", env, "--insecure-allow-simulated"), "ANIMA_SIGNER_TOKEN")


def test_the_chain_client_without_a_pinned_checkpoint(tmp_path: Path) -> None:
    env = {**_chain_env(tmp_path), "ANIMA_CHAIN_CHECKPOINT_HASH": ""}  # as the overlays ship
    _refused(_serve("chain", env, "--insecure-allow-simulated"), "no checkpoint_hash")


def test_dasync_reading_the_runtime_without_its_runtime_token(tmp_path: Path) -> None:
    """As the manifests run it (--runtime, pinned certificate) with
    anima-dasync-tokens' runtime-token left out: it exits naming the variable."""
    env = {
        "ANIMA_DASYNC_STATE_DIR": str(tmp_path),
        "ANIMA_DASYNC_LISTEN": "127.0.0.1:0",
        "ANIMA_DASYNC_CALLERS": json.dumps({"admin": token_digest(SECRET_LOOKING)}),
        "ANIMA_DASYNC_SIGNER_TOKEN": SECRET_LOOKING,
    }
    args = (
        "--runtime=anima-runtime:7460",
        f"--runtime-certificate={tmp_path / 'runtime.pem'}",
        "--insecure-allow-simulated-signer",
    )
    _refused(_serve("dasync", env, *args), "ANIMA_DASYNC_RUNTIME_TOKEN")
