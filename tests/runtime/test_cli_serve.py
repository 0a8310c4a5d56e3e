"""`anima runtime serve` as its own process, in front of a signer process and a memory
service process (anima_dev.local_signer, anima_dev.local_memory, anima_dev.local_runtime),
answering over HTTP and gRPC; and the exit codes of the refusals that happen before
anything is started."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import stat
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from anima_core.auth import token_digest
from anima_core.config import ConfigError, load_config
from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import LocalRuntime, local_runtime
from anima_dev.local_signer import local_signer
from anima_runtime import cli as runtime_cli
from anima_runtime.config import RuntimeConfig
from anima_runtime.log.config import LogConfig
from anima_runtime_api.client import RuntimeClient
from anima_runtime_api.endpoint import TLS_SERVER_NAME
from anima_runtime_api.errors import RuntimeRpcError
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.merkle import verify_inclusion
from anima_verify.tlog.note import parse_verifier_key
from tests.runtime.test_manager import ADA

TIMEOUT_S = 60


@pytest.mark.slow
def test_a_served_runtime_answers_over_http_and_grpc(tmp_path: Path) -> None:
    with (
        local_signer(tmp_path) as signer,
        local_memory(tmp_path) as memory,
        local_runtime(tmp_path, signer=signer, memory=memory) as runtime,
    ):
        auth = {"Authorization": f"Bearer {runtime.api_token}"}
        character = json.loads(ADA.read_text(encoding="utf-8"))
        assert httpx.get(f"{runtime.url}/v1/agents", timeout=TIMEOUT_S).status_code == 401
        created = httpx.post(
            f"{runtime.url}/v1/agents",
            json={"character": character},
            headers=auth,
            timeout=TIMEOUT_S,
        )
        assert created.status_code == 201, created.text
        agent = created.json()
        assert agent["running"] and agent["name"] == "Ada"

        said = httpx.post(
            f"{runtime.url}/v1/agents/{agent['agent_id']}/messages",
            json={"room_id": "lobby", "text": "Who are you?", "user_name": "Bob"},
            headers=auth,
            timeout=TIMEOUT_S,
        )
        assert said.status_code == 200, said.text
        turn = said.json()
        [reply] = turn["responses"]
        assert "Ada" in reply["text"] and reply["log_index"] > turn["message_log_index"]

        # The log is public, its checkpoint signed by the enclave with the agent's log key.
        checkpoint = httpx.get(
            f"{runtime.url}/v1/logs/{agent['agent_id']}/checkpoint", timeout=TIMEOUT_S
        )
        assert checkpoint.status_code == 200
        origin, size = checkpoint.text.splitlines()[:2]
        assert agent["log_verifier_key"].startswith(origin + "+")
        assert int(size) > reply["log_index"]
        memories = httpx.get(
            f"{runtime.url}/v1/agents/{agent['agent_id']}/rooms/lobby/memories",
            headers=auth,
            timeout=TIMEOUT_S,
        ).json()["memories"]
        assert [m["text"] for m in memories[:2]] == ["Who are you?", reply["text"]]

        stored = tmp_path / "runtime" / "agents" / agent["agent_id"] / "character.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600

        asyncio.run(answers_over_grpc(runtime, agent["agent_id"]))
    assert runtime.process.returncode == 0  # SIGTERM: a clean shutdown


@pytest.mark.slow
def test_turns_go_on_after_the_signer_restarts_without_restarting_the_runtime(
    tmp_path: Path,
) -> None:
    """Before, each turn after a signer restart (a new TLS key) failed its TLS handshake
    until the runtime was restarted: now the runtime re-attests the signer and re-pins."""
    with contextlib.ExitStack() as signers:
        signer = signers.enter_context(local_signer(tmp_path))
        with (
            local_memory(tmp_path) as memory,
            local_runtime(tmp_path, signer=signer, memory=memory) as runtime,
        ):
            auth = {"Authorization": f"Bearer {runtime.api_token}"}
            character = json.loads(ADA.read_text(encoding="utf-8"))
            created = httpx.post(
                f"{runtime.url}/v1/agents",
                json={"character": character},
                headers=auth,
                timeout=TIMEOUT_S,
            )
            assert created.status_code == 201, created.text
            messages = f"{runtime.url}/v1/agents/{created.json()['agent_id']}/messages"

            def turn(text: str) -> dict[str, Any]:
                said = httpx.post(
                    messages,
                    json={"room_id": "lobby", "text": text, "user_name": "Bob"},
                    headers=auth,
                    timeout=TIMEOUT_S,
                )
                assert said.status_code == 200, said.text
                answer: dict[str, Any] = said.json()
                return answer

            before = turn("Who are you?")
            signers.close()  # the signer stops ...
            signers.enter_context(  # ... and starts again: same state, a new TLS key
                local_signer(tmp_path, port=signer.port, tokens=signer.tokens)
            )
            after = turn("Still there?")
            assert after["message_log_index"] > before["responses"][-1]["log_index"]
        assert runtime.process.returncode == 0


async def answers_over_grpc(runtime: LocalRuntime, agent_id: str) -> None:
    """The agent created over HTTP, on the runtime's gRPC API (TLS pinned to the
    certificate it published): health, a turn, its entries proven in the signed log."""
    credentials = grpc.ssl_channel_credentials(root_certificates=runtime.grpc_certificate_pem)
    options = [("grpc.ssl_target_name_override", TLS_SERVER_NAME)]
    async with grpc.aio.secure_channel(runtime.grpc_address, credentials, options) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = await health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT_S)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    async with RuntimeClient.connect(
        runtime.grpc_address, certificate_pem=runtime.grpc_certificate_pem
    ) as anonymous:
        with pytest.raises(RuntimeRpcError) as caught:
            await anonymous.list_agents()
        assert caught.value.code == "UNAUTHENTICATED"
    async with runtime.grpc_client() as client:
        [agent] = await client.list_agents()
        assert agent.agent_id == agent_id and agent.running
        turn = await client.send_message(agent_id, room_id="lobby", text="What do you do?")
        assert turn.responses and turn.message_log_index > 0
        signed = open_checkpoint(
            await client.checkpoint(agent_id), [parse_verifier_key(agent.log_verifier_key)]
        ).checkpoint
        for index in turn.log_indices:
            proof = await client.inclusion_proof(agent_id, index, signed.size)
            verify_inclusion(
                leaf_hash=proof.leaf_hash,
                index=index,
                size=signed.size,
                proof=proof.proof,
                root=signed.root_hash,
            )


# ---------------------------------------------------------------- refusals before starting


def run_serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="anima")
    runtime_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


SERVE = ["runtime", "serve", "--insecure-allow-simulated", "--memory-insecure-plaintext"]
FREE_PORTS = ["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("ANIMA_SIGNER_ADMIN_TOKEN", "ANIMA_RUNTIME_API_TOKEN_SHA256S"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANIMA_SIGNER_TOKEN", "signer-token")
    monkeypatch.setenv("ANIMA_MEMORY_TOKEN", "memory-token")
    monkeypatch.setenv("ANIMA_RUNTIME_API_TOKEN_SHA256S", json.dumps([token_digest("api")]))
    monkeypatch.setenv("ANIMA_RUNTIME_DATA_DIR", str(tmp_path / "runtime"))
    return monkeypatch


def test_no_api_token_refuses_to_start(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.delenv("ANIMA_RUNTIME_API_TOKEN_SHA256S")
    assert run_serve(SERVE) == runtime_cli.EXIT_BAD_INPUT
    assert "no API token configured" in capsys.readouterr().err


def test_a_missing_service_token_is_an_environment_problem(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.delenv("ANIMA_MEMORY_TOKEN")
    assert run_serve(SERVE) == runtime_cli.EXIT_ENVIRONMENT
    assert "ANIMA_MEMORY_TOKEN" in capsys.readouterr().err


def test_an_unreachable_signer_is_an_environment_problem(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_serve([*SERVE, "--signer", "127.0.0.1:1", *FREE_PORTS])
    assert code == runtime_cli.EXIT_ENVIRONMENT
    assert "cannot reach the signer at 127.0.0.1:1" in capsys.readouterr().err


def test_a_busy_grpc_port_is_an_environment_problem(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = run_serve([*SERVE, "--listen", "127.0.0.1:0", "--grpc-listen", f"127.0.0.1:{port}"])
    assert code == runtime_cli.EXIT_ENVIRONMENT
    assert f"cannot serve gRPC on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_bad_listen_address_names_the_flag(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_serve([*SERVE, "--listen", "nowhere"]) == runtime_cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "listen" in err and "the command line" in err


async def test_memory_certificates_are_one_per_replica_or_one_for_all(tmp_path: Path) -> None:
    pem = tmp_path / "memory.pem"
    pem.write_bytes(b"not reached")
    two = ["--memory", "127.0.0.1:1", "--memory", "127.0.0.1:2"]
    parser = argparse.ArgumentParser(prog="anima")
    runtime_cli.register(parser.add_subparsers(dest="command", required=True))
    base = ["runtime", "serve", "--insecure-allow-simulated"]
    for trust in (
        ["--memory-cert", str(pem)] * 3,
        ["--memory-data-dir", str(tmp_path)],
    ):
        args = parser.parse_args([*base, *two, *trust])
        with pytest.raises(ConfigError, match="one per replica, in order"):
            async with runtime_cli.memory_replicas(args, "token"):
                pass
    single = parser.parse_args([*base, "--memory-insecure-plaintext"])
    assert single.memory is None  # the default address, one replica
    with pytest.raises(SystemExit):  # certificates and plaintext exclude each other
        parser.parse_args([*base, *two, "--memory-cert", str(pem), "--memory-insecure-plaintext"])


# ---------------------------------------------------------------- configuration


def test_logs_live_under_the_data_dir_unless_configured(tmp_path: Path) -> None:
    config = load_config(
        RuntimeConfig,
        env_prefix="ANIMA_RUNTIME",
        environ={
            "ANIMA_RUNTIME_LOG__API__PUBLIC_READS": "false",
            "ANIMA_RUNTIME_LOG__API__READ_TOKEN_SHA256": token_digest("read"),
        },
        overrides={"data_dir": tmp_path / "rt"},
    )
    assert config.log.root == tmp_path / "rt" / "logs"
    assert config.log.api.public_reads is False
    elsewhere = RuntimeConfig.model_validate({"log": {"root": str(tmp_path / "logs")}})
    assert elsewhere.log.root == tmp_path / "logs"
    assert RuntimeConfig().log.root == RuntimeConfig().data_dir / "logs"
    assert RuntimeConfig(log=LogConfig(sync_interval_s=2)).log.root == Path(".anima/runtime/logs")


def test_signing_defaults_make_the_owner_policy() -> None:
    config = RuntimeConfig.model_validate(
        {"signing": {"allowed_chain_ids": [31337], "max_value_wei": 10**16, "wallet_count": 2}}
    )
    policy = config.signing.policy()
    assert policy.allowed_chain_ids == frozenset({31337}) and policy.max_value_wei == 10**16
    assert not policy.allow_personal_messages and not policy.allow_typed_data
    with pytest.raises(ValueError, match="chain ids"):
        RuntimeConfig.model_validate({"signing": {"allowed_chain_ids": [0]}})


def test_grpc_tls_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        RuntimeConfig.model_validate({"tls_cert_file": str(tmp_path / "cert.pem")})
    with pytest.raises(ValueError, match="grpc_listen"):
        RuntimeConfig.model_validate({"grpc_listen": "nowhere"})
    production = RuntimeConfig.model_validate(
        {
            "production": True,
            "insecure_grpc_plaintext": True,
            "api_token_sha256s": [token_digest("api")],
        }
    )
    with pytest.raises(ConfigError, match="insecure_grpc_plaintext"):
        production.check_startable()
    assert RuntimeConfig(data_dir=tmp_path).certificate_path == tmp_path / "tls" / "runtime.pem"
