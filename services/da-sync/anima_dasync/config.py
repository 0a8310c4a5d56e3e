"""da-sync configuration: defaults -> file -> ANIMA_DASYNC_* environment, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from anima_core.tokens import checked_callers
from anima_verify.errors import AnimaError, ErrorKind

ENV_PREFIX = "ANIMA_DASYNC"
ROLE_ADMIN = "admin"
ROLES = (ROLE_ADMIN,)


class DaSyncMisconfigured(AnimaError):
    """The service refuses to start (fail closed)."""

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "DASYNC_MISCONFIGURED"


class DaBackendConfig(BaseModel):
    """`[da]`: where life data goes. "local" (the embedded default) is a directory
    (da_dir); "calldata" and "blobs" post to a LifeDataDA contract on an EVM chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["local", "calldata", "blobs"] = "local"
    rpc_url: str | None = None
    chain_id: int | None = None
    contract: str | None = None  # LifeDataDA's address
    # Whose calldata manifests count (defaults to the sender); a recovering node sets it.
    manifest_poster: str | None = None
    # Blobs are pruned after ~18 days: every blob posted or read is kept here.
    blob_archive_dir: Path | None = None
    # Locators (tx hash, block) of what this node posted; a cache, the chain has them.
    locator_dir: Path | None = None
    # INSECURE, dev chain only: anvil's unlocked development account sends (anvil
    # signs; no key here). The only sender so far: production needs the agent's
    # wallet in the signer to sign DA transactions (type-3 included).
    insecure_dev_chain_sender: bool = False

    def contract_bytes(self) -> bytes:
        raw = bytes.fromhex((self.contract or "").removeprefix("0x"))
        if len(raw) != 20:
            raise DaSyncMisconfigured("da.contract must be LifeDataDA's 20-byte address")
        return raw

    def check_startable(self, *, production: bool) -> None:
        if self.backend == "local":
            return
        if not self.rpc_url or self.chain_id is None:
            raise DaSyncMisconfigured(
                f"the {self.backend} backend needs da.rpc_url and da.chain_id"
            )
        self.contract_bytes()
        if not self.insecure_dev_chain_sender:
            raise DaSyncMisconfigured(
                f"the {self.backend} backend has only a dev-chain sender so far: set "
                "da.insecure_dev_chain_sender (development only)"
            )
        if production:
            raise DaSyncMisconfigured("production refuses da.insecure_dev_chain_sender")


class DaSyncConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:7460"
    # gRPC health (and nothing else) on its own port for the orchestrator's probes.
    health_listen: str | None = None
    # A serving certificate and key (PEM files); neither: a fresh self-signed one,
    # published under state_dir for local clients to pin.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # The local-directory DA backend, and where the TLS certificate is published.
    da_dir: Path = Path(".anima/da")
    state_dir: Path = Path(".anima/dasync")
    signer: str = "127.0.0.1:7443"
    # The signer's "dasync" caller token (from the environment, never a flag).
    signer_token: SecretStr = SecretStr("")
    # The signer's allowed measurements (JSON file); or, INSECURE, simulated evidence.
    signer_measurement_policy: Path | None = None
    insecure_allow_simulated_signer: bool = False
    # Agents' tiled logs under "{log_url}/{agent_id}/" (the runtime's /v1/logs).
    log_url: str = "http://127.0.0.1:8080/v1/logs"
    # The CA that signed the log server's certificate (HTTPS); None: the system's.
    log_ca_file: Path | None = None
    # The memory service's shards in order (their "dasync" role): memories go up as
    # a snapshot then the deltas of its change feed. Empty: no memories are synced.
    memory: tuple[str, ...] = ()
    memory_token: SecretStr = SecretStr("")
    # The memory service's published certificate (pinned); or, INSECURE, plaintext.
    memory_certificate: Path | None = None
    insecure_memory_plaintext: bool = False
    # The runtime's gRPC address (its admin ExportAgent): the agent's record, character
    # and secrets, goes up sealed when it changes. None: no runtime record is synced.
    runtime: str | None = None
    # The runtime's admin token (from the environment, never a flag).
    runtime_token: SecretStr = SecretStr("")
    # The runtime's published gRPC certificate (pinned); or, INSECURE, plaintext.
    runtime_certificate: Path | None = None
    insecure_runtime_plaintext: bool = False
    # Synced every interval_s by the periodic loop (0: only on SyncAgent). A round
    # with nothing new costs three small reads, so 1 s keeps the RPO near a second.
    agents: tuple[str, ...] = ()
    interval_s: float = Field(default=1.0, ge=0)
    # A fresh memories snapshot after this many deltas (bounds a restore's replay).
    compact_after_deltas: int = Field(default=120, ge=1)
    # AgentAnchor on this chain: SyncAgent returns the enclave-signed update.
    anchor_chain_id: int | None = None
    anchor_contract: str | None = None
    production: bool = False
    insecure_plaintext: bool = False
    callers: dict[str, str] = Field(default_factory=dict)
    da: DaBackendConfig = Field(default_factory=DaBackendConfig)

    @field_validator("callers")
    @classmethod
    def _digests_are_sha256(cls, callers: dict[str, str]) -> dict[str, str]:
        return checked_callers(callers, ROLES)

    @property
    def certificate_path(self) -> Path:
        return self.state_dir / "tls" / "dasync.crt"

    def anchor_contract_bytes(self) -> bytes | None:
        if self.anchor_contract is None:
            return None
        raw = bytes.fromhex(self.anchor_contract.removeprefix("0x"))
        if len(raw) != 20 or self.anchor_chain_id is None:
            raise DaSyncMisconfigured("anchor_contract is a 20-byte address with anchor_chain_id")
        return raw

    def check_startable(self) -> None:
        if not self.callers:
            raise DaSyncMisconfigured("no callers configured: set callers (role -> token SHA-256)")
        if not self.signer_token.get_secret_value():
            raise DaSyncMisconfigured(f"set {ENV_PREFIX}_SIGNER_TOKEN to the signer's dasync token")
        if self.signer_measurement_policy is None and not self.insecure_allow_simulated_signer:
            raise DaSyncMisconfigured("set signer_measurement_policy (how to trust the signer)")
        insecure = (
            self.insecure_allow_simulated_signer
            or self.insecure_plaintext
            or self.insecure_memory_plaintext
            or self.insecure_runtime_plaintext
        )
        if self.production and insecure:
            raise DaSyncMisconfigured("production refuses the insecure_* switches")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise DaSyncMisconfigured("tls_cert_file and tls_key_file are set together")
        if self.memory:
            if not self.memory_token.get_secret_value():
                raise DaSyncMisconfigured(
                    f"set {ENV_PREFIX}_MEMORY_TOKEN to the memory service's dasync token"
                )
            if self.memory_certificate is None and not self.insecure_memory_plaintext:
                raise DaSyncMisconfigured(
                    "set memory_certificate (the memory service's certificate to pin)"
                )
        if self.runtime is not None:
            if not self.runtime_token.get_secret_value():
                raise DaSyncMisconfigured(
                    f"set {ENV_PREFIX}_RUNTIME_TOKEN to the runtime's admin token"
                )
            if self.runtime_certificate is None and not self.insecure_runtime_plaintext:
                raise DaSyncMisconfigured(
                    "set runtime_certificate (the runtime's gRPC certificate to pin)"
                )
        self.anchor_contract_bytes()
        self.da.check_startable(production=self.production)
