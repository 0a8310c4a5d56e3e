"""Every domain error's reason: well formed, one meaning per domain, registered with its
API's client, and listed in its service's proto (the contract other languages read)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from anima_chain_api import client as chain_client
from anima_chain_api import errors as chain_errors
from anima_core.errors import ERROR_TABLE, REASON_PATTERN, ErrorCatalog
from anima_core.interceptors import MalformedRequest
from anima_memory_api import client as memory_client
from anima_memory_api import errors as memory_errors
from anima_runtime.errors import AgentRuntimeError
from anima_runtime.log.errors import LogError
from anima_runtime_api import client as runtime_client
from anima_runtime_api import errors as runtime_errors
from anima_signer_api import errors as signer_errors
from anima_signer_api import failures as signer_failures
from anima_verify.errors import AnimaError, ErrorKind

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "anima_verify",
    "anima_core",
    "anima_signer_api",
    "anima_memory_api",
    "anima_runtime_api",
    "anima_chain_api",
    "anima_signer",
    "anima_memory",
    "anima_runtime",
    "anima_chain",
)
#: Each service's error families; errors outside every family (anima_verify's,
#: anima_core's) are shared: any service may send them.
FAMILIES: dict[str, tuple[type[AnimaError], ...]] = {
    "signer": (signer_errors.SignerError,),
    "memory": (memory_errors.MemoryServiceError,),
    "runtime": (AgentRuntimeError, LogError),
    "chain": (chain_errors.ChainServiceError,),
}


def _subclasses(cls: type[AnimaError]) -> Iterator[type[AnimaError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def all_errors() -> list[type[AnimaError]]:
    """AnimaError and every subclass Anima's packages define (test-made ones left out)."""
    for top in PACKAGES:
        package = importlib.import_module(top)
        for module in pkgutil.walk_packages(package.__path__, f"{top}."):
            importlib.import_module(module.name)
    found = {c for c in _subclasses(AnimaError) if c.__module__.split(".")[0] in PACKAGES}
    return [AnimaError, *sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")]


ERRORS = all_errors()


def family_of(cls: type[AnimaError]) -> str:
    for name, bases in FAMILIES.items():
        if issubclass(cls, bases):
            return name
    return "shared"


def declares_reason(cls: type[AnimaError]) -> bool:
    return "reason" in cls.__dict__


def test_the_table_covers_every_kind_and_keeps_the_http_statuses() -> None:
    assert set(ERROR_TABLE) == set(ErrorKind)
    assert {kind.name: status.http for kind, status in ERROR_TABLE.items()} == {
        "INVALID_ARGUMENT": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "ALREADY_EXISTS": 409,
        "FAILED_PRECONDITION": 409,
        "RESOURCE_EXHAUSTED": 429,
        "INTERNAL": 500,
        "UNAVAILABLE": 503,
    }
    for kind, status in ERROR_TABLE.items():
        assert status.grpc.name == kind.name


def test_the_enumeration_finds_every_family() -> None:
    names = {c.__qualname__ for c in ERRORS}
    assert {
        "PolicyDenied",
        "ImportRefused",
        "AgentNotFound",
        "LogLocked",
        "TeeUnavailable",
    } <= names
    assert {"MalformedRequest", "ConfigError", "MalformedQuote", "InvalidProof"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__qualname__)
def test_reasons_are_upper_snake_and_set_with_the_kind(cls: type[AnimaError]) -> None:
    assert REASON_PATTERN.fullmatch(cls.reason), f"{cls.__qualname__}.reason = {cls.reason!r}"
    assert len(cls.reason) <= 63  # google.rpc.ErrorInfo's limit
    if "kind" in cls.__dict__:  # a class that picks its own status names its own reason
        assert declares_reason(cls), f"{cls.__qualname__} sets kind but inherits its reason"
    for name in cls.metadata_fields:
        assert name.isidentifier()


@pytest.mark.parametrize("domain", sorted(FAMILIES))
def test_a_reason_names_one_class_in_each_domain(domain: str) -> None:
    """A service sends its family's errors and the shared ones: a reason must name one
    class among them, or a client could not tell which error it got."""
    owners: dict[str, list[str]] = {}
    for cls in ERRORS:
        if declares_reason(cls) and family_of(cls) in (domain, "shared"):
            owners.setdefault(cls.reason, []).append(f"{cls.__module__}.{cls.__qualname__}")
    clashes = {reason: names for reason, names in owners.items() if len(names) > 1}
    assert clashes == {}


def test_shared_reasons_are_unique_among_themselves() -> None:
    shared = [c.reason for c in ERRORS if declares_reason(c) and family_of(c) == "shared"]
    assert len(shared) == len(set(shared))


@dataclass(frozen=True)
class Service:
    """A service's error contract: its API package's errors, its client's catalog, its proto."""

    errors: ModuleType
    family: tuple[type[AnimaError], ...]
    client_side: tuple[type[AnimaError], ...]  # raised by the client itself, never sent
    catalog: ErrorCatalog
    proto: str
    service: str

    def sent(self) -> set[type[AnimaError]]:
        """The family's errors the server sends: its own reason, not a client-side one."""
        return {
            c
            for c in ERRORS
            if issubclass(c, self.family)
            and declares_reason(c)
            and not issubclass(c, self.client_side)
        }


SERVICES = [
    Service(
        signer_errors,
        (signer_errors.SignerError,),
        (signer_errors.SignerRpcError,),
        signer_failures.ERRORS,
        "proto/anima/signer/v1/signer.proto",
        "SignerService",
    ),
    Service(
        memory_errors,
        (memory_errors.MemoryServiceError,),
        # The router's check of its replicas, made by the caller.
        (memory_errors.MemoryRpcError, memory_errors.ReplicaMismatch),
        memory_client.ERRORS,
        "proto/anima/memory/v1/memory.proto",
        "MemoryService",
    ),
    Service(
        runtime_errors,
        # The RuntimeService serves the log reads too: their reasons share its domain.
        (runtime_errors.AgentRuntimeError, LogError),
        (runtime_errors.RuntimeRpcError,),
        runtime_client.ERRORS,
        "proto/anima/runtime/v1/runtime.proto",
        "RuntimeService",
    ),
    Service(
        chain_errors,
        (chain_errors.ChainServiceError,),
        (chain_errors.ChainRpcError,),
        chain_client.ERRORS,
        "proto/anima/chain/v1/chain.proto",
        "ChainService",
    ),
]


@pytest.mark.parametrize("api", SERVICES, ids=["signer", "memory", "runtime", "chain"])
def test_every_reason_a_service_sends_is_in_its_proto_and_its_client(api: Service) -> None:
    sent = api.sent()
    domain = api.errors.ERROR_DOMAIN
    text = (ROOT / api.proto).read_text(encoding="utf-8")
    comment = re.search(rf"((?://[^\n]*\n)+)service {api.service} \{{", text)
    assert comment is not None, f"no comment above service {api.service}"
    listed = set(re.findall(r"^//\s+([A-Z][A-Z0-9_]+)\s", comment.group(1), re.M))
    assert f'domain "{domain}"' in comment.group(1)
    assert {c.reason for c in sent} | {MalformedRequest.reason} <= listed
    # The client knows every reason its API package defines (the service's internal
    # ones, such as the enclave's TEE failures, arrive by their status code).
    assert api.catalog.domain == domain
    in_api = {c for c in sent if c.__module__ == api.errors.__name__}
    assert set(api.catalog.reasons.values()) == in_api | {MalformedRequest}
    assert listed == set(api.catalog.reasons) | {c.reason for c in sent}
