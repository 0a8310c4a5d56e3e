"""How the manager reports what went wrong: in a view's `problem`, in a warning, as
SignerUnavailable when the signer fails under the runtime's own request."""

from __future__ import annotations

from typing import Final

import grpc

from anima_runtime.errors import SignerUnavailable
from anima_verify.errors import AnimaError, ErrorKind

#: How a signer call fails: its gRPC client, its in-process core, the network.
SIGNER_FAILURES: Final = (grpc.aio.AioRpcError, AnimaError, OSError)

#: How an agent's start fails in ways this runtime expects; anything else is logged
#: with its traceback.
KNOWN_FAILURES: Final = (AnimaError, grpc.aio.AioRpcError, OSError)


def describe(exc: BaseException) -> str:
    """Why something failed, for a view or a warning: the runtime's own messages (they
    never carry secrets), the signer's status, or only the kind of an unknown error."""
    if isinstance(exc, AnimaError):
        return exc.message
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, OSError):
        return str(exc)
    return f"unexpected {type(exc).__name__}; see the runtime's log"


def signer_status(exc: BaseException | None) -> ErrorKind | None:
    """What the signer said, from its gRPC client or its in-process core."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return {
            grpc.StatusCode.ALREADY_EXISTS: ErrorKind.ALREADY_EXISTS,
            grpc.StatusCode.NOT_FOUND: ErrorKind.NOT_FOUND,
        }.get(exc.code())
    if isinstance(exc, AnimaError):
        return exc.kind
    return None


def signer_failure(exc: BaseException, doing: str) -> SignerUnavailable:
    """The runtime's error for a signer call that failed under `doing`."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return SignerUnavailable(f"signer, {doing}: {exc.code().name}: {exc.details()}")
    if isinstance(exc, AnimaError):
        return SignerUnavailable(f"signer, {doing}: {exc.message}")
    return SignerUnavailable(f"signer, {doing}: {exc}")
