"""Each service runs from an environment of its own distribution and what it declares.

For the signer, the memory service, the runtime and the chain client, a fresh
virtual environment gets that service's wheel and the workspace wheels its
pyproject.toml names (directly or through them), the rest from the package index
(uv, cached). The four run together from their own environments, each started by
its own entry point, and serve one conversation (an agent created, a message
answered: keys, signatures, log, memories) and one proven read (the chain client,
on anvil). At exit each process lists the modules it loaded.

Asserted: what each environment holds (`pip list`) and what each process loaded
leave out the other services and what only they need; the signer, inside the
enclave, carries no web server, no model runtime, no vector store. And the
verification library installs and verifies alone, without gRPC or httpx.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from anima_chain_api.client import ChainClient
from anima_dev.local_chain import local_chain
from anima_dev.local_chain_client import LocalChainClient, local_chain_client
from anima_dev.local_memory import local_memory
from anima_dev.local_process import ready_process
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import local_signer
from anima_dev.service_env import (
    build_wheels,
    closure,
    create_env,
    installed_distributions,
    module_dump_program,
    top_level,
    workspace_members,
)
from tests.runtime.test_manager import ADA
from tests.vectors import require_vectors

pytestmark = pytest.mark.slow

TIMEOUT_S = 60
# Distributions and the modules they install, by what needs them.
WEB = {"fastapi": "fastapi", "uvicorn": "uvicorn", "starlette": "starlette"}
MODEL = {
    "onnxruntime": "onnxruntime",
    "onnx": "onnx",
    "tokenizers": "tokenizers",
    "safetensors": "safetensors",
}
VECTORS = {"qdrant-edge-py": "qdrant_edge", "qdrant-client": "qdrant_client"}
NUMPY = {"numpy": "numpy"}
SHARED = {"anima", "anima_core", "anima_verify"}  # stubs, core, verification library


@dataclass(frozen=True)
class Expectation:
    distribution: str
    entry_point: str  # module:function, as its pyproject.toml's [project.scripts]
    anima_packages: frozenset[str]  # the only anima* packages it may load
    forbidden: dict[str, str]  # distribution -> top-level module: neither installed nor loaded


EXPECTED = {
    "signer": Expectation(
        distribution="anima-signer",
        entry_point="anima_signer.main:main",
        anima_packages=frozenset({*SHARED, "anima_signer", "anima_signer_api"}),
        forbidden={**WEB, **MODEL, **VECTORS, **NUMPY},
    ),
    "memory": Expectation(
        distribution="anima-memory",
        entry_point="anima_memory.main:main",
        anima_packages=frozenset({*SHARED, "anima_memory", "anima_memory_api"}),
        forbidden=WEB,
    ),
    "runtime": Expectation(
        distribution="anima-runtime",
        entry_point="anima_runtime.main:main",
        anima_packages=frozenset(
            {
                *SHARED,
                "anima_runtime",
                "anima_signer_api",
                "anima_memory_api",
                "anima_runtime_api",
                "anima_chain_api",  # the EVM plugin's client (runtime serve --chain)
                "anima_web",  # the log explorer's static files, which it serves
                "anima_economy",  # the x402 plugin's payer (runtime serve --x402-asset)
            }
        ),
        forbidden={**MODEL, **VECTORS},
    ),
    "chain": Expectation(
        distribution="anima-chain",
        entry_point="anima_chain.main:main",
        anima_packages=frozenset({*SHARED, "anima_chain", "anima_chain_api", "anima_signer_api"}),
        forbidden={**WEB, **MODEL, **VECTORS, **NUMPY},
    ),
}
OTHER_SERVICES = {
    "anima-signer",
    "anima-memory",
    "anima-runtime",
    "anima-chain",
    "anima-witness",
    "anima-dasync",
    "anima-dev",
}


@dataclass(frozen=True)
class ServiceRun:
    python: Path
    distributions: dict[str, str]
    modules: list[str]


@pytest.fixture(scope="module")
def make_env(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A function: requirement ("anima-verify", "anima-memory") -> the python of a fresh
    environment of that member, its workspace closure as wheels, and the rest."""
    root = tmp_path_factory.mktemp("envs")
    members = workspace_members()
    wheels: dict[str, Path] = {}

    def make(requirement: str, *, without_dependencies: tuple[str, ...] = ()) -> Path:
        needed = closure(members, [requirement])
        wheels.update(build_wheels([m for m in needed if m.name not in wheels], root / "wheels"))
        return create_env(
            root / requirement,
            [wheels[m.name] for m in needed],
            without_dependencies=without_dependencies,
        )

    return make


@pytest.fixture(scope="module")
def runs(
    make_env: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceRun]]:
    # Imported here: it loads ONNX Runtime, which this module's other tests need not.
    from anima_memory.embeddings.minilm import MODEL_PACKAGE

    pythons = {
        "signer": make_env("anima-signer"),
        "memory": make_env("anima-memory", without_dependencies=(MODEL_PACKAGE,)),
        "runtime": make_env("anima-runtime"),
        "chain": make_env("anima-chain"),
    }
    state = tmp_path_factory.mktemp("stack")
    dumps = {name: state / f"{name}.modules" for name in pythons}

    def program(name: str) -> tuple[str, ...]:
        return module_dump_program(pythons[name], EXPECTED[name].entry_point, dumps[name])

    with (
        local_chain(state / "anvil") as chain,
        local_signer(state, program=program("signer")) as signer,
        local_memory(state, program=program("memory")) as memory,
        local_runtime(state, signer=signer, memory=memory, program=program("runtime")) as runtime,
        local_chain_client(state, chain=chain, signer=signer, program=program("chain")) as verifier,
    ):
        _converse(runtime.url, runtime.api_token)
        asyncio.run(_read_balance(verifier))
    for process in (signer.process, memory.process, runtime.process, verifier.process):
        assert process.returncode == 0  # SIGTERM: a clean shutdown, which wrote the list
    yield {
        name: ServiceRun(
            python=python,
            distributions=installed_distributions(python),
            modules=dumps[name].read_text().split(),
        )
        for name, python in pythons.items()
    }


async def _read_balance(verifier: LocalChainClient) -> None:
    """One proven read, so the chain client has loaded its verification code."""
    async with ChainClient.connect(
        verifier.address, verifier.token, certificate_pem=verifier.certificate_pem
    ) as client:
        account = await client.account(b"\x01" * 20)
    assert account.balance == 0


def _converse(url: str, api_token: str) -> None:
    auth = {"Authorization": f"Bearer {api_token}"}
    character = json.loads(ADA.read_text(encoding="utf-8"))
    created = httpx.post(
        f"{url}/v1/agents", json={"character": character}, headers=auth, timeout=TIMEOUT_S
    )
    assert created.status_code == 201, created.text
    said = httpx.post(
        f"{url}/v1/agents/{created.json()['agent_id']}/messages",
        json={"room_id": "lobby", "text": "Who are you?", "user_name": "Bob"},
        headers=auth,
        timeout=TIMEOUT_S,
    )
    assert said.status_code == 200, said.text
    assert said.json()["responses"], said.text


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_a_service_environment_holds_its_own_distributions_only(
    runs: dict[str, ServiceRun], service: str
) -> None:
    expected, run = EXPECTED[service], runs[service]
    assert expected.distribution in run.distributions
    others = OTHER_SERVICES - {expected.distribution}
    present = sorted((set(expected.forbidden) | others) & set(run.distributions))
    assert not present, f"the {service} environment holds {present}"


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_a_running_service_loads_its_own_code_only(
    runs: dict[str, ServiceRun], service: str
) -> None:
    expected, loaded = EXPECTED[service], top_level(runs[service].modules)
    anima = {name for name in loaded if name.startswith("anima")}
    assert anima <= expected.anima_packages, f"the {service} process loaded {sorted(anima)}"
    assert f"anima_{service}" in anima
    forbidden = sorted(set(expected.forbidden.values()) & loaded)
    assert not forbidden, f"the {service} process loaded {forbidden}"


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_a_service_environment_has_its_command(runs: dict[str, ServiceRun], service: str) -> None:
    command = runs[service].python.parent / f"anima-{service}"
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


def test_the_signer_loads_no_model_runtime_web_server_or_vector_store(
    runs: dict[str, ServiceRun],
) -> None:
    # The enclave's image: the issue's own list, spelled out.
    loaded = top_level(runs["signer"].modules)
    host_only = {"fastapi", "uvicorn", "starlette", "onnxruntime", "numpy"}
    host_only |= {"qdrant_edge", "qdrant_client", "tokenizers", "anima_runtime", "anima_memory"}
    assert not host_only & loaded


def test_the_witness_runs_alone(make_env: Callable[..., Path], tmp_path: Path) -> None:
    """A third party installs anima-witness and nothing of the other services, and
    it serves the C2SP protocol (a log it does not know: 404)."""
    python = make_env("anima-witness")
    installed = installed_distributions(python)
    present = (OTHER_SERVICES - {"anima-witness"}) | set(MODEL) | set(VECTORS) | set(NUMPY)
    assert "anima-witness" in installed
    assert not present & set(installed), sorted(present & set(installed))
    command = python.parent / "anima-witness"
    key = subprocess.run(
        [command, "key", "--state-dir", str(tmp_path), "--name", "w.example"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert key.returncode == 0, key.stderr
    assert key.stdout.startswith("w.example+")
    ready = tmp_path / "ready"
    serve = [command, "serve", "--state-dir", str(tmp_path), "--name", "w.example"]
    serve += ["--listen", "127.0.0.1:0", "--ready-file", str(ready)]
    with ready_process(serve, ready_file=ready, name="witness") as (_process, found):
        assert found["verifier_key"] == key.stdout.strip()
        answer = httpx.post(
            f"http://127.0.0.1:{found['port']}/add-checkpoint",
            content=b"old 0\n\nunknown.example/log\n0\n"
            b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\xe2\x80\x94 unknown.example/log "
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
            timeout=TIMEOUT_S,
        )
        assert answer.status_code == 404, answer.text


def test_dasync_installs_alone_and_fails_closed(make_env: Callable[..., Path]) -> None:
    """anima-dasync's own environment: none of the other services, no model or vector
    store; its entry point loads the whole service and refuses to start unconfigured."""
    python = make_env("anima-dasync")
    installed = installed_distributions(python)
    present = (OTHER_SERVICES - {"anima-dasync"}) | set(MODEL) | set(VECTORS)
    assert "anima-dasync" in installed
    assert not present & set(installed), sorted(present & set(installed))
    started = subprocess.run(
        [python.parent / "anima-dasync", "serve", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert started.returncode == 1, started.stderr
    assert "no callers configured" in started.stderr


def test_the_verification_library_verifies_alone(
    make_env: Callable[..., Path], tmp_path: Path
) -> None:
    vectors = require_vectors("note", "example.note", "example.vkey")
    python = make_env("anima-verify")
    installed = installed_distributions(python)
    assert set(installed) & {"grpcio", "protobuf", "httpx", "anima-core", "anima-stubs"} == set()
    command = python.parent / "anima-verify"
    vkey = ["--vkey", str(vectors / "example.vkey")]
    note = [command, "log", "verify-note", str(vectors / "example.note"), *vkey]
    verified = subprocess.run(note, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified   yes")
    # A URL needs the HTTP extra; without it the command says which, and reads nothing.
    remote = [command, "log", "verify", "http://127.0.0.1:9/log", *vkey, "--insecure-unwitnessed"]
    refused = subprocess.run(remote, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "anima-verify[http]" in refused.stderr
