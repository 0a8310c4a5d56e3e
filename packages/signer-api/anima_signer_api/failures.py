"""What a failed signer call, or a refused item of a batch or stream, becomes on the client.

A status the signer sends carries its reason (google.rpc.ErrorInfo), which ERRORS
maps back to the typed error; a status without one becomes SignerUnreachable or
SignerRpcError by its code. An UNAVAILABLE from the transport is a lost
connection, which SignerClient may renew (anima_signer_api.connection).
"""

from __future__ import annotations

import grpc

from anima.signer.v1 import signer_pb2 as pb
from anima_core.errors import ErrorCatalog, RemoteStatus
from anima_core.interceptors import MalformedRequest
from anima_signer_api import convert
from anima_signer_api.errors import (
    ERROR_DOMAIN,
    SERVER_ERRORS,
    SignerRpcError,
    SignerUnreachable,
)
from anima_signer_api.types import SignResult
from anima_verify.errors import AnimaError

#: The signer's reasons and their errors: what a failed call raises.
ERRORS = ErrorCatalog(
    domain=ERROR_DOMAIN,
    errors=(*SERVER_ERRORS, MalformedRequest),
    rpc_error=SignerRpcError,
    unreachable=SignerUnreachable,
)


class SignFailure(Exception):
    """One item of a batch or stream that the signer refused: `error` is the typed error
    the item would have raised alone (PolicyDenied, UnknownAgent, ...), `code` its
    grpc.StatusCode."""

    def __init__(self, code: grpc.StatusCode, error: AnimaError) -> None:
        super().__init__(f"{code.name}: {error.message}")
        self.code = code
        self.error = error
        self.message = error.message

    @property
    def reason(self) -> str:
        return self.error.reason


def item_outcome(item: pb.SignBatchItem) -> SignResult | SignFailure:
    if item.WhichOneof("outcome") == "error":
        status = RemoteStatus.of_number(
            item.error.code,
            item.error.message,
            domain=ERROR_DOMAIN,
            reason=item.error.reason,
            metadata=item.error.metadata,
        )
        return SignFailure(status.code, ERRORS.error_for(status))
    return convert.result_from_proto(item.response)


#: The text grpc gives a call that failed before it left: no connection could be made
#: (the signer is down, or its TLS key is no longer the pinned one). Any other lost
#: connection may have carried the request.
NOT_CONNECTED = "failed to connect to all addresses"


def lost_connection(status: RemoteStatus) -> bool:
    """UNAVAILABLE from the transport, not an answer of the signer (which names its domain)."""
    return status.code is grpc.StatusCode.UNAVAILABLE and status.domain != ERROR_DOMAIN


__all__ = ["ERRORS", "NOT_CONNECTED", "SignFailure", "item_outcome", "lost_connection"]
