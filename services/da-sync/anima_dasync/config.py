"""da-sync configuration: defaults -> file -> ANIMA_DASYNC_* environment, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from anima_core.tokens import is_token_digest
from anima_verify.errors import AnimaError, ErrorKind

ENV_PREFIX = "ANIMA_DASYNC"


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
    # Synced every interval_s by the periodic loop (0: only on SyncAgent).
    agents: tuple[str, ...] = ()
    interval_s: float = 30.0
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
        for name, digest in callers.items():
            if not is_token_digest(digest):
                raise ValueError(f"callers.{name} must be a lowercase SHA-256 hex digest")
        return callers

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
        if self.production and (self.insecure_allow_simulated_signer or self.insecure_plaintext):
            raise DaSyncMisconfigured("production refuses the insecure_* switches")
        self.anchor_contract_bytes()
        self.da.check_startable(production=self.production)
