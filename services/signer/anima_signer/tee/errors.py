"""Errors a TEE backend raises when its source of secrets and evidence fails.

Two failures need different answers from an operator: the backend cannot be
reached (mount the socket, restart the agent, retry) or it answered with
something that is not what the protocol promises (a version mismatch or a
broken agent; retrying will not help). Messages never carry key material.
"""

from __future__ import annotations

from anima_signer_api.errors import SignerError
from anima_verify.errors import ErrorKind


class TeeError(SignerError):
    """Base of every failure of a TEE backend."""


class TeeUnavailable(TeeError):
    """The backend could not be reached, or it reported a failure on its side."""

    kind = ErrorKind.UNAVAILABLE
    reason = "TEE_UNAVAILABLE"


class TeeProtocolError(TeeError):
    """The backend answered, but not in the shape its protocol documents."""

    kind = ErrorKind.INTERNAL
    reason = "TEE_PROTOCOL_ERROR"
