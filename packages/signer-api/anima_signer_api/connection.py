"""A client's connection to one signer, re-pinned (never trusted more) when the signer restarts.

The signer makes a new TLS key each time it starts, so after a restart the channel
pinned to the old certificate fails every handshake. `SignerConnection.renew` then
fetches the certificate the signer now presents and has a channel pinned to it
opened and verified (fresh evidence binding that key, under the same measurement
policy: anima_signer_api.attested_channel) before any call uses it. Evidence that fails
raises its AttestationError, and the old channel stays in place: it can reach only
the key it was pinned to, so calls keep failing (and keep checking again) until a
signer the policy accepts answers; nothing, the bearer token included, goes to
the one refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc.aio

from anima_core.tls import fetch_server_certificate, public_key_der
from anima_signer_api.errors import SignerUnreachable
from anima_verify.attestation import AttestationError, VerifiedQuote

log = logging.getLogger(__name__)

#: How long a call waits for a signer that went away to come back (then SignerUnreachable).
DEFAULT_RECONNECT_WITHIN_S = 5.0
_FIRST_DELAY_S = 0.1
_MAX_DELAY_S = 1.0


@dataclass(frozen=True, eq=False)
class PinnedChannel:
    """A channel pinned to one TLS certificate, with the verified evidence that binds
    its key (both None on an INSECURE plaintext channel)."""

    channel: grpc.aio.Channel
    stub: Any  # anima.signer.v1.signer_pb2_grpc.SignerServiceStub (untyped generated code)
    tls_public_key: bytes | None
    attestation: VerifiedQuote | None


#: Opens a channel pinned to this certificate (PEM) and verifies the signer behind it.
OpenPinned = Callable[[bytes], Awaitable[PinnedChannel]]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"signer address must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


def key_id(tls_public_key: bytes | None) -> str:
    """A short public name for a TLS key, for logs."""
    return "none" if tls_public_key is None else hashlib.sha256(tls_public_key).hexdigest()[:16]


class SignerConnection:
    """The pinned channel in use, and the one way to replace it (renew).

    `open_pinned` None: the channel is never replaced (INSECURE plaintext: nothing is
    pinned, grpc reconnects by itself).
    """

    def __init__(
        self,
        *,
        address: str,
        first: PinnedChannel,
        open_pinned: OpenPinned | None = None,
        timeout: float,
        reconnect_within_s: float = DEFAULT_RECONNECT_WITHIN_S,
    ) -> None:
        self.address = address
        self._current = first
        self._open_pinned = open_pinned
        self._timeout = timeout
        self._reconnect_within_s = reconnect_within_s
        self._renewal: asyncio.Task[PinnedChannel] | None = None

    @property
    def current(self) -> PinnedChannel:
        return self._current

    @property
    def renewable(self) -> bool:
        return self._open_pinned is not None

    async def settled(self) -> PinnedChannel:
        """The channel to use now: the one the renewal under way (if any) ends with,
        or its error."""
        if self._renewal is not None:
            return await asyncio.shield(self._renewal)
        return self._current

    async def renew(self, failed: PinnedChannel) -> PinnedChannel:
        """The channel to use after `failed` could not reach the signer.

        One renewal at a time: every caller that finds one under way waits for it
        and gets its outcome. The signer is given `reconnect_within_s` to answer
        again (SignerUnreachable after that); the same TLS key as before means the
        same signer (no restart), and `failed` is kept. A new key is used only once
        its evidence is verified; an AttestationError is raised as it is.
        """
        open_pinned = self._open_pinned
        if open_pinned is None:
            return failed
        renewal = self._renewal
        if renewal is None:
            if self._current is not failed:
                return self._current  # renewed meanwhile
            renewal = self._renewal = asyncio.get_running_loop().create_task(
                self._replace(failed, open_pinned)
            )
            renewal.add_done_callback(self._renewed)
        # Shielded: a caller that gives up does not cancel the others' renewal.
        return await asyncio.shield(renewal)

    def _renewed(self, renewal: asyncio.Task[PinnedChannel]) -> None:
        if self._renewal is renewal:
            self._renewal = None
        if not renewal.cancelled():
            renewal.exception()  # retrieved: the callers that still wait get it themselves

    async def _replace(self, failed: PinnedChannel, open_pinned: OpenPinned) -> PinnedChannel:
        fresh = await self._reach(failed, open_pinned)
        if fresh is failed:
            return failed
        self._current = fresh
        # The old key went with the process that held it: nothing more can pass there.
        await failed.channel.close(None)
        attestation = fresh.attestation
        log.info(
            "re-attested the signer at %s after it came back with a new TLS key: channel "
            "re-pinned from key %s to key %s (TEE %s)",
            self.address,
            key_id(failed.tls_public_key),
            key_id(fresh.tls_public_key),
            attestation.tee if attestation is not None else "none",
        )
        return fresh

    async def _reach(self, failed: PinnedChannel, open_pinned: OpenPinned) -> PinnedChannel:
        """A channel verified for the key the signer presents now (`failed` if it is
        still the same), trying until reconnect_within_s has passed."""
        host, port = split_address(self.address)
        deadline = time.monotonic() + self._reconnect_within_s
        delay = _FIRST_DELAY_S
        while True:
            try:
                certificate = await asyncio.to_thread(
                    fetch_server_certificate,
                    host,
                    port,
                    timeout=max(min(self._timeout, deadline - time.monotonic()), 0.5),
                )
                if public_key_der(certificate) == failed.tls_public_key:
                    return failed
                return await open_pinned(certificate)
            except AttestationError as exc:
                log.warning(
                    "the signer at %s came back with a new TLS key that fails verification "
                    "(%s): refusing it, and every call, until one that passes answers",
                    self.address,
                    exc.message,
                )
                raise
            except (OSError, SignerUnreachable) as exc:
                reason = exc.message if isinstance(exc, SignerUnreachable) else str(exc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SignerUnreachable(
                    "UNAVAILABLE",
                    f"the signer at {self.address} did not answer again within "
                    f"{self._reconnect_within_s:g}s: {reason}",
                )
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, _MAX_DELAY_S)

    async def close(self) -> None:
        if self._renewal is not None:
            self._renewal.cancel()  # a channel it opens is closed as it stops
        await self._current.channel.close(None)
