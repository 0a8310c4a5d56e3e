"""Configuration of the agent runtime (`anima runtime serve`, `anima chat`).

Loaded once: defaults, then a TOML/JSON file, then ANIMA_RUNTIME_* variables
(`ANIMA_RUNTIME_API_TOKEN_SHA256S='["<sha256>"]'`, `ANIMA_RUNTIME_MODEL__...`,
`ANIMA_RUNTIME_LOG__API__PUBLIC_READS=false`), then command-line flags.

The runtime serves two APIs over the same handler: HTTP on `listen` and gRPC
(RuntimeService) on `grpc_listen`, the latter with TLS on a fresh self-signed key
per start whose certificate is published under data_dir/tls/runtime.pem for local
clients to pin (or from tls_cert_file and tls_key_file).

API tokens are configured as SHA-256 hex digests (`anima_core.tokens.token_digest`),
never in clear; `anima runtime new-token` makes one. The service refuses to
start without one (fail closed): every route that changes state or talks to an
agent needs a bearer token. The agents' logs are stored under data_dir/logs
unless `log.root` says otherwise; their read routes are public unless
`log.api.public_reads` is false (a transparency log is meant to be read).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from anima_core.config import ConfigError, FrozenConfig
from anima_core.tokens import is_token_digest
from anima_runtime.llm.config import ModelConfig
from anima_runtime.log.config import LogConfig, check_cors_origins
from anima_runtime_api.endpoint import DEFAULT_ADDRESS as DEFAULT_GRPC_LISTEN
from anima_runtime_api.endpoint import published_certificate_path
from anima_signer_api.types import MAX_WALLETS, UINT256_MAX, SigningPolicy

ENV_PREFIX = "ANIMA_RUNTIME"
DEFAULT_LISTEN = "127.0.0.1:8710"
LOGS_DIR = "logs"  # under data_dir, unless log.root is set


def listen_address(text: str) -> tuple[str, int]:
    """--listen: host:port (an IPv6 host in brackets)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


class SigningDefaults(FrozenConfig):
    """What the signer gets for an agent this runtime creates: an owner, whose signed
    policy documents alone then govern the agent (`anima policy`), or else a minimal
    policy (deny by default: no chains, no value, no message signing unless configured)."""

    owner: str = Field(default="", pattern=r"^(0x[0-9a-fA-F]{40})?$")

    allowed_chain_ids: tuple[int, ...] = ()
    max_value_wei: int = Field(default=0, ge=0, le=UINT256_MAX)
    allow_personal_messages: bool = False
    allow_typed_data: bool = False
    wallet_count: int = Field(default=1, ge=1, le=MAX_WALLETS)

    @field_validator("allowed_chain_ids")
    @classmethod
    def _positive(cls, ids: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 < chain_id < 2**64 for chain_id in ids):
            raise ValueError("chain ids are positive 64-bit integers")
        return ids

    @model_validator(mode="after")
    def _owner_sets_the_policy(self) -> SigningDefaults:
        if self.owner and (
            self.allowed_chain_ids
            or self.max_value_wei
            or self.allow_personal_messages
            or self.allow_typed_data
        ):
            raise ValueError(
                "with an owner, only policies the owner signs govern the agent: "
                "leave the minimal policy settings empty"
            )
        return self

    def policy(self) -> SigningPolicy:
        return SigningPolicy(
            allowed_chain_ids=frozenset(self.allowed_chain_ids),
            max_value_wei=self.max_value_wei,
            allow_personal_messages=self.allow_personal_messages,
            allow_typed_data=self.allow_typed_data,
        )


class RuntimeLimits(FrozenConfig):
    # One incoming message's text, in UTF-8 bytes (larger: 400). The memory service
    # stores at most 64 KiB of text per memory.
    max_message_bytes: int = Field(default=16 * 1024, ge=1, le=64 * 1024)
    # A whole request body (larger: 413, refused before it is parsed). Room for a
    # character document with inline knowledge.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Memories one room listing returns at most.
    max_memories: int = Field(default=200, ge=1, le=1000)


class RuntimeConfig(FrozenConfig):
    data_dir: Path = Path(".anima/runtime")
    listen: str = DEFAULT_LISTEN
    # The gRPC API (RuntimeService): its own listener beside the HTTP API.
    grpc_listen: str = DEFAULT_GRPC_LISTEN
    # A plaintext listener that answers gRPC health only (Kubernetes' native
    # probes cannot speak TLS); off unless set, e.g. "0.0.0.0:7461".
    health_listen: str | None = None
    # gRPC TLS: a certificate and key from files, else a fresh self-signed key per
    # start whose certificate is written to <data_dir>/tls/runtime.pem.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # gRPC without TLS (development only; production refuses it).
    insecure_grpc_plaintext: bool = False
    # Production refuses settings that would leak a key (a model API key over plain
    # http to another host).
    production: bool = False
    # SHA-256 hex digests of the API's bearer tokens (any one of them is accepted).
    api_token_sha256s: tuple[str, ...] = ()
    # SHA-256 hex digests of the admin tokens: ExportAgent and RestoreAgent (gRPC only),
    # which carry characters' secrets. None configured: nobody may call them. Never
    # an API token too (refused), so a chat client cannot export a character.
    admin_token_sha256s: tuple[str, ...] = ()
    # Browser origins allowed to call the API; explicit http(s) origins, never "*".
    cors_origins: tuple[str, ...] = ()
    log: LogConfig = LogConfig()
    model: ModelConfig = ModelConfig()
    signing: SigningDefaults = SigningDefaults()
    limits: RuntimeLimits = RuntimeLimits()

    @model_validator(mode="before")
    @classmethod
    def _logs_under_data_dir(cls, data: Any) -> Any:
        """log.root defaults to <data_dir>/logs (LogConfig alone defaults elsewhere)."""
        if not isinstance(data, dict):
            return data
        log = data.get("log")
        root = Path(str(data.get("data_dir", cls.model_fields["data_dir"].default))) / LOGS_DIR
        if log is None or (isinstance(log, dict) and "root" not in log):
            return {**data, "log": {**(log or {}), "root": root}}
        if isinstance(log, LogConfig) and "root" not in log.model_fields_set:
            return {**data, "log": log.model_copy(update={"root": root})}
        return data

    @field_validator("listen", "grpc_listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        try:
            listen_address(listen)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None
        return listen

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> RuntimeConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file are set together or not at all")
        if self.insecure_grpc_plaintext and self.tls_cert_file is not None:
            raise ValueError("both TLS files and insecure_grpc_plaintext are set")
        return self

    @field_validator("api_token_sha256s", "admin_token_sha256s")
    @classmethod
    def _digests(cls, digests: tuple[str, ...]) -> tuple[str, ...]:
        for n, digest in enumerate(digests):
            if not is_token_digest(digest):
                raise ValueError(f"item {n} must be a lowercase SHA-256 hex digest of a token")
        return digests

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return check_cors_origins(origins)

    @property
    def listen_address(self) -> tuple[str, int]:
        return listen_address(self.listen)

    @property
    def certificate_path(self) -> Path:
        """Where a self-signed gRPC certificate is published for local clients to pin."""
        return published_certificate_path(self.data_dir)

    def check_startable(self) -> None:
        """Fail closed: an API nobody is meant to reach without a token must have one."""
        self.model.check_startable(production=self.production)
        if self.production and self.insecure_grpc_plaintext:
            raise ConfigError("production refuses insecure_grpc_plaintext")
        if set(self.api_token_sha256s) & set(self.admin_token_sha256s):
            raise ConfigError("an admin token must not be an API token too")
        if not self.api_token_sha256s:
            raise ConfigError(
                "no API token configured: set api_token_sha256s (the SHA-256 of each "
                f"bearer token; {ENV_PREFIX}_API_TOKEN_SHA256S='[\"...\"]'); "
                "`anima runtime new-token` makes one"
            )


__all__ = [
    "DEFAULT_GRPC_LISTEN",
    "DEFAULT_LISTEN",
    "ENV_PREFIX",
    "RuntimeConfig",
    "RuntimeLimits",
    "SigningDefaults",
    "listen_address",
]
