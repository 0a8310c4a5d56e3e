"""A client in another language: the Node test (tests/node/) against real services on loopback.

The services run as processes, started by the dev stack's launchers; node runs
with `node --test`, finding them through ANIMA_* environment variables. Node
loads proto/ itself (no generated code) and verifies everything with the
pinned npm packages (package-lock.json).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_core.tls import TLS_SERVER_NAME
from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import LocalSigner, local_signer
from anima_runtime_api.endpoint import TLS_SERVER_NAME as RUNTIME_TLS_NAME
from anima_signer.tee.sim import ATTESTATION_KEY_FILE
from tests.contracts.conftest import REPO_ROOT

NODE_TESTS = REPO_ROOT / "tests" / "node"
SIGNER_TEST = NODE_TESTS / "signer.test.mjs"
RUNTIME_TEST = NODE_TESTS / "runtime.test.mjs"
TIMEOUT_S = 120


def run_node_tests(node: str, files: list[Path], env: dict[str, str]) -> str:
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "--test-timeout=60000", *map(str, files)],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test failed:\n{output}"
    return output


def signer_env(signer: LocalSigner, state_dir: Path) -> dict[str, str]:
    return {
        "ANIMA_SIGNER_ADDRESS": signer.address,
        "ANIMA_SIGNER_TLS_NAME": TLS_SERVER_NAME,
        "ANIMA_SIGNER_ADMIN_TOKEN": signer.tokens["admin"],
        "ANIMA_SIGNER_RUNTIME_TOKEN": signer.tokens["runtime"],
        "ANIMA_SIGNER_SIM_KEY": sim_attestation_key(state_dir / "signer"),
    }


def sim_attestation_key(signer_state: Path) -> str:
    """The development attestation key (public, hex) of the signer this test started:
    what Node trusts the simulated quote's signer to be (trusted_sim_keys in Python)."""
    seed = (signer_state / ATTESTATION_KEY_FILE).read_bytes()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_node_client_attests_the_signer_and_verifies_a_signed_transaction(
    node: str, tmp_path: Path
) -> None:
    with local_signer(tmp_path) as signer:
        output = run_node_tests(node, [SIGNER_TEST], signer_env(signer, tmp_path))
    print(output)  # shown with -rA / on failure: what the Node client checked
    assert re.search(r"^# pass [1-9]", output, re.MULTILINE), output
    assert "# fail 0" in output
    assert "# skipped 0" in output
    assert "ok 3 - a transaction the enclave signs recovers to the agent's wallet" in output


def test_node_client_creates_an_agent_and_chats_through_the_runtime(
    node: str, tmp_path: Path
) -> None:
    with (
        local_signer(tmp_path) as signer,
        local_memory(tmp_path) as memory,
        local_runtime(tmp_path, signer=signer, memory=memory) as runtime,
    ):
        certificate = tmp_path / "runtime.pem"
        certificate.write_bytes(runtime.grpc_certificate_pem)
        env = {
            **signer_env(signer, tmp_path),
            "ANIMA_RUNTIME_GRPC_ADDRESS": runtime.grpc_address,
            "ANIMA_RUNTIME_GRPC_CERT": str(certificate),
            "ANIMA_RUNTIME_TLS_NAME": RUNTIME_TLS_NAME,
            "ANIMA_RUNTIME_API_TOKEN": runtime.api_token,
        }
        output = run_node_tests(node, [RUNTIME_TEST], env)
    print(output)
    assert "# fail 0" in output
    assert "# skipped 0" in output
    assert "ok 1 - an agent created through the runtime has the keys the signer attests" in output
    assert "ok 2 - a message sent through the runtime is answered, every step logged" in output
