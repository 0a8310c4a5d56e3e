"""The rich status both ways: what a server sends for a domain error, and how an API
package's catalog turns a status back into a typed error (or its fallback by code)."""

from __future__ import annotations

from typing import ClassVar

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from anima_core.errors import ErrorCatalog, RemoteStatus, rich_status
from anima_memory_api.client import ERRORS as MEMORY_ERRORS
from anima_memory_api.errors import MemoryNotFound, MemoryRpcError, MemoryUnreachable
from anima_signer_api.errors import (
    PolicyDenied,
    SignerRpcError,
    SignerUnreachable,
    UnknownAgent,
)
from anima_signer_api.failures import ERRORS as SIGNER_ERRORS
from anima_verify.errors import AnimaError, ErrorKind


class Parked(AnimaError):
    kind = ErrorKind.FAILED_PRECONDITION
    reason = "PARKED"
    metadata_fields = ("spot",)

    def __init__(self, spot: str) -> None:
        super().__init__(f"parked in {spot}")
        self.spot = spot


class Fallback(AnimaError):
    reason = "FALLBACK"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


CATALOG = ErrorCatalog(domain="test.anima", errors=[Parked], rpc_error=Fallback)


def test_rich_status_carries_code_message_and_error_info() -> None:
    status = rich_status(Parked("bay 7"), domain="test.anima")
    assert status.code is grpc.StatusCode.FAILED_PRECONDITION
    assert status.details == "parked in bay 7"
    [(key, value)] = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    decoded = status_pb2.Status.FromString(value)
    assert (decoded.code, decoded.message) == (9, "parked in bay 7")
    info = error_details_pb2.ErrorInfo()
    assert decoded.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "PARKED",
        "test.anima",
        {"spot": "bay 7"},
    )


def test_a_known_reason_rebuilds_its_class_with_the_servers_message() -> None:
    status = RemoteStatus(
        grpc.StatusCode.FAILED_PRECONDITION,
        "parked in bay 9 (said the server)",
        "test.anima",
        "PARKED",
        {"spot": "bay 9"},
    )
    error = CATALOG.error_for(status)
    assert isinstance(error, Parked)
    assert (error.message, str(error), error.spot) == (
        "parked in bay 9 (said the server)",
        "parked in bay 9 (said the server)",
        "bay 9",
    )
    assert error.metadata() == {"spot": "bay 9"}


@pytest.mark.parametrize(
    "status",
    [
        RemoteStatus(grpc.StatusCode.FAILED_PRECONDITION, "m", "test.anima", "NEWER_REASON"),
        RemoteStatus(grpc.StatusCode.FAILED_PRECONDITION, "m", "other.anima", "PARKED"),
        RemoteStatus(grpc.StatusCode.NOT_FOUND, "m", "test.anima", "PARKED"),  # wrong code
        RemoteStatus(grpc.StatusCode.FAILED_PRECONDITION, "m"),  # no ErrorInfo at all
    ],
    ids=["unknown reason", "other domain", "code mismatch", "no error info"],
)
def test_anything_else_falls_back_by_code(status: RemoteStatus) -> None:
    error = CATALOG.error_for(status)
    assert isinstance(error, Fallback)
    assert (error.code, error.message) == (status.code.name, f"{status.code.name}: m")


def test_a_catalog_refuses_a_reason_twice_or_malformed() -> None:
    class Twin(Parked):
        pass  # inherits PARKED: the catalog could not tell the two apart

    with pytest.raises(ValueError, match="PARKED"):
        ErrorCatalog(domain="d", errors=[Parked, Twin], rpc_error=Fallback)

    class Lower(AnimaError):
        reason: ClassVar[str] = "not-snake"

    with pytest.raises(ValueError, match="UPPER_SNAKE"):
        ErrorCatalog(domain="d", errors=[Lower], rpc_error=Fallback)


def test_an_unknown_numeric_code_is_unknown() -> None:
    assert RemoteStatus.of_number(99, "m").code is grpc.StatusCode.UNKNOWN
    assert RemoteStatus.of_number(7, "m").code is grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- the API catalogs


def test_the_signer_catalog_types_its_reasons_and_falls_back_by_code() -> None:
    denied = SIGNER_ERRORS.error_for(
        RemoteStatus(
            grpc.StatusCode.PERMISSION_DENIED,
            "denied by policy rule 'max_value_wei': too much",
            "signer.anima",
            "POLICY_DENIED",
            {"rule": "max_value_wei"},
        )
    )
    assert isinstance(denied, PolicyDenied) and denied.rule == "max_value_wei"
    unknown = SIGNER_ERRORS.error_for(
        RemoteStatus(
            grpc.StatusCode.NOT_FOUND, "unknown agent 'x'", "signer.anima", "UNKNOWN_AGENT"
        )
    )
    assert isinstance(unknown, UnknownAgent) and unknown.agent_id == ""  # none was sent
    for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        gone = SIGNER_ERRORS.error_for(RemoteStatus(code, "connection refused"))
        assert isinstance(gone, SignerUnreachable) and gone.kind is ErrorKind.UNAVAILABLE
    tee = SIGNER_ERRORS.error_for(
        RemoteStatus(grpc.StatusCode.INTERNAL, "bad answer", "signer.anima", "TEE_PROTOCOL_ERROR")
    )
    assert type(tee) is SignerRpcError and tee.code == "INTERNAL"
    assert tee.message == "INTERNAL: bad answer"


def test_the_memory_catalog_types_its_reasons_and_falls_back_by_code() -> None:
    missing = MEMORY_ERRORS.error_for(
        RemoteStatus(grpc.StatusCode.NOT_FOUND, "no memory m1", "memory.anima", "MEMORY_NOT_FOUND")
    )
    assert isinstance(missing, MemoryNotFound) and missing.message == "no memory m1"
    gone = MEMORY_ERRORS.error_for(RemoteStatus(grpc.StatusCode.UNAVAILABLE, "down"))
    assert isinstance(gone, MemoryUnreachable)
    refused = MEMORY_ERRORS.error_for(RemoteStatus(grpc.StatusCode.UNAUTHENTICATED, "who?"))
    assert type(refused) is MemoryRpcError and refused.code == "UNAUTHENTICATED"
