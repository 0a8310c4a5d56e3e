"""The `dstack` TEE backend: Phala's dstack guest agent inside an Intel TDX CVM.

The guest agent serves an HTTP API on a unix socket mounted into the container
(``/var/run/dstack.sock``). Its ``GetKey`` returns a key derived by the dstack
KMS from the app's identity and a path, so the same app gets the same key on
any machine, which is what makes the signer's root stable across restarts and
recoveries. ``GetQuote`` returns a TDX quote over caller-chosen report_data.

We talk to it only through `dstack-sdk`, and translate every failure into the
signer's `TeeError` family so callers never see raw httpx or pydantic errors.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from dstack_sdk import AsyncDstackClient, GetKeyResponse, GetQuoteResponse

from anima_signer.tee.base import ROOT_SECRET_SIZE
from anima_signer.tee.errors import TeeProtocolError, TeeUnavailable
from anima_signer_api.errors import InvalidRequest, SignerMisconfigured
from anima_verify.attestation.evidence import REPORT_DATA_SIZE, TEE_TDX, Evidence

logger = logging.getLogger(__name__)

# Named explicitly rather than left to the SDK, whose default also honours
# DSTACK_SIMULATOR_ENDPOINT: the enclave's key source must not be redirected by
# an environment variable.
DEFAULT_ENDPOINT = "/var/run/dstack.sock"
DEFAULT_KEY_PATH = "anima/signer/root/v1"
KEY_PURPOSE = "anima-root"
# secp256k1 is the algorithm every dstack OS supports; asking for it also keeps
# the SDK from probing the agent's Version RPC first.
KEY_ALGORITHM = "secp256k1"
DSTACK_KEY_SIZE = 32
# The root is HKDF(dstack key) rather than the key itself, so a secret that
# dstack hands out (and signs a chain for) is never used directly as our root.
# Changing this label changes every agent's keys: bump the version, never edit.
ROOT_INFO = b"anima/signer/tee/dstack/root/v1"
DEFAULT_TIMEOUT_S = 10.0

_TDX_TEE_TYPE = 0x81
_TDX_HEADER_SIZE = 48
# Offset of REPORTDATA inside a TD report body (TDX 1.0 and 1.5 alike).
_TD_REPORT_DATA_OFFSET = 520
# A v5 quote puts a 6-byte body descriptor (type u16, size u32) before the body.
_BODY_OFFSET_BY_VERSION = {4: _TDX_HEADER_SIZE, 5: _TDX_HEADER_SIZE + 6}

_T = TypeVar("_T")


class DstackBackend:
    """Root secret and TDX evidence from the dstack guest agent."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        key_path: str = DEFAULT_KEY_PATH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        endpoint = DEFAULT_ENDPOINT if endpoint is None else endpoint
        # The agent hands out secrets in the clear; only a local socket keeps
        # them off the network, so HTTP endpoints are refused outright.
        if not os.path.isabs(endpoint):
            raise SignerMisconfigured(
                f"dstack endpoint must be an absolute unix socket path, got {endpoint!r}"
            )
        if not key_path:
            raise SignerMisconfigured("dstack key_path must not be empty")
        self._endpoint = endpoint
        self._key_path = key_path
        self._timeout_s = timeout_s
        self._root: bytes | None = None
        self._root_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return "dstack"

    @property
    def insecure(self) -> bool:
        return False

    @property
    def endpoint(self) -> str:
        """The guest agent's unix socket path."""
        return self._endpoint

    async def root_secret(self) -> bytes:
        """HKDF-SHA256 of the dstack key at `key_path`; fetched once, then cached."""
        async with self._root_lock:
            if self._root is None:
                response = await self._call("GetKey", self._get_key)
                raw = _decode_hex(response.key, "GetKey", "key")
                if len(raw) != DSTACK_KEY_SIZE:
                    raise TeeProtocolError(
                        f"dstack GetKey returned a {len(raw)}-byte key, expected {DSTACK_KEY_SIZE}"
                    )
                self._root = _derive_root(raw)
                logger.info("root secret derived from dstack key path %r", self._key_path)
            return self._root

    async def attest(self, report_data: bytes) -> Evidence:
        """A TDX quote from the guest agent whose REPORTDATA is `report_data`."""
        if not isinstance(report_data, bytes) or len(report_data) != REPORT_DATA_SIZE:
            size = len(report_data) if isinstance(report_data, bytes) else None
            raise InvalidRequest(
                f"report_data must be exactly {REPORT_DATA_SIZE} bytes, got "
                + (f"{size} bytes" if size is not None else type(report_data).__name__)
            )

        async def get_quote(client: AsyncDstackClient) -> GetQuoteResponse:
            return await client.get_quote(report_data)

        response = await self._call("GetQuote", get_quote)
        quote = _decode_hex(response.quote, "GetQuote", "quote")
        _check_quote_binds(quote, report_data)
        return Evidence(tee=TEE_TDX, quote=quote, collateral_json=None)

    async def _get_key(self, client: AsyncDstackClient) -> GetKeyResponse:
        return await client.get_key(self._key_path, KEY_PURPOSE, KEY_ALGORITHM)

    async def _call(self, method: str, op: Callable[[AsyncDstackClient], Awaitable[_T]]) -> _T:
        """Run one RPC on a fresh client, mapping every failure to a TeeError.

        A fresh client per call keeps no connection open between the rare
        calls a signer makes, and closes it even when the call fails.
        """
        try:
            client = AsyncDstackClient(self._endpoint, timeout=self._timeout_s)
        except FileNotFoundError:
            raise TeeUnavailable(
                f"dstack guest agent socket {self._endpoint} does not exist; "
                "is it mounted into this container?"
            ) from None
        try:
            async with client:
                return await op(client)
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            logger.warning(
                "dstack %s failed with HTTP %d: %.200s", method, status, exc.response.text
            )
            if status >= 500:
                raise TeeUnavailable(
                    f"dstack guest agent at {self._endpoint} failed {method} (HTTP {status})"
                ) from None
            raise TeeProtocolError(
                f"dstack guest agent at {self._endpoint} rejected {method} (HTTP {status})"
            ) from None
        except httpx.TransportError as exc:
            raise TeeUnavailable(
                f"dstack guest agent at {self._endpoint} is unreachable during {method}: "
                f"{type(exc).__name__}"
            ) from exc
        except httpx.HTTPError:
            # What is left (an undecodable body, redirects) is not the documented protocol.
            raise TeeProtocolError(
                f"dstack {method} returned a response that could not be read"
            ) from None
        except (ValueError, TypeError):
            # Bad JSON or a body the SDK's models reject. The cause is dropped:
            # pydantic echoes input values, and this input may hold a key.
            raise TeeProtocolError(
                f"dstack {method} returned a response that does not match its documented shape"
            ) from None


def _derive_root(dstack_key: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=ROOT_SECRET_SIZE, salt=None, info=ROOT_INFO)
    return hkdf.derive(dstack_key)


def _decode_hex(value: str, method: str, field: str) -> bytes:
    # The value is never put in the message: for GetKey it is the key itself.
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise TeeProtocolError(f"dstack {method} returned a {field} that is not hex") from None


def _check_quote_binds(quote: bytes, report_data: bytes) -> None:
    """Refuse a quote that is not TDX or does not carry our report_data.

    Verifiers check this too; checking here turns a confused agent into a clear
    error at the source instead of evidence every verifier will reject.
    """
    if len(quote) < _TDX_HEADER_SIZE:
        raise TeeProtocolError(f"dstack quote is {len(quote)} bytes, shorter than a header")
    version = int.from_bytes(quote[0:2], "little")
    tee_type = int.from_bytes(quote[4:8], "little")
    body_offset = _BODY_OFFSET_BY_VERSION.get(version)
    if body_offset is None:
        raise TeeProtocolError(f"dstack quote has unsupported version {version}")
    if tee_type != _TDX_TEE_TYPE:
        raise TeeProtocolError(f"dstack quote has TEE type {tee_type:#x}, not TDX")
    start = body_offset + _TD_REPORT_DATA_OFFSET
    if quote[start : start + REPORT_DATA_SIZE] != report_data:
        raise TeeProtocolError("dstack quote does not carry the requested report_data")
