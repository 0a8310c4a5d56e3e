"""Signer configuration: defaults -> file -> ANIMA_SIGNER_* environment, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from anima_core.tokens import is_token_digest
from anima_signer_api.errors import SignerMisconfigured
from anima_signer_api.types import MAX_APPEND_RESPONSE_BYTES
from anima_verify.tlog.cosignature import parse_cosigner_key
from anima_verify.tlog.errors import MalformedCosignature

ENV_PREFIX = "ANIMA_SIGNER"


class WitnessSettings(BaseModel):
    """One witness (C2SP tlog-witness) the signer asks to cosign its checkpoints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The witness's submission prefix: POST <url>/add-checkpoint.
    url: str
    # Its cosigner verifier key (name+keyid+base64(0x04 || key)): cosignatures are
    # checked against it here, in the enclave, whoever carried them.
    verifier_key: str
    # Bearer token for registering new logs with an Anima witness (POST
    # <url>/anima/v1/logs); without it the witness's operator adds each log.
    registration_token: SecretStr | None = None

    @field_validator("verifier_key")
    @classmethod
    def _cosigner_key(cls, value: str) -> str:
        try:
            parse_cosigner_key(value)
        except MalformedCosignature as exc:
            raise ValueError(exc.message) from exc
        return value


class SignerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:7443"
    # A plaintext listener that answers gRPC health only (Kubernetes' native
    # probes cannot speak TLS); off unless set, e.g. "0.0.0.0:7444".
    health_listen: str | None = None
    state_dir: Path = Path(".anima/signer")
    # "sim" is the INSECURE software TEE; production refuses it.
    tee: Literal["sim", "dstack"] = "sim"
    dstack_endpoint: str | None = None
    # Production turns off reflection and refuses every insecure_* switch.
    production: bool = False
    # Plain gRPC without TLS or attestation, for local debugging only.
    insecure_plaintext: bool = False
    # Caller name -> SHA-256 hex of its bearer token. The signer refuses to start without any.
    callers: dict[str, str] = Field(default_factory=dict)
    # Names the logs started from now on ("<prefix>/<agent_id>"); a log keeps
    # the origin it started with, so changing this renames no existing log.
    log_origin_prefix: str = "anima.local/agents"
    # Both directions: a full AppendLog answer (the whole unconfirmed log tail)
    # must fit, or a host that fell behind could never catch up.
    max_message_bytes: int = 64 * 1024 * 1024
    # Witnesses, and how many of them must cosign a checkpoint before any signature
    # or checkpoint in it is released. Without witnesses a host that restores an
    # older state directory can fork the log: production refuses that unless
    # insecure_unwitnessed_log names the choice.
    witnesses: list[WitnessSettings] = Field(default_factory=list)
    witness_quorum: int = 0
    witness_timeout_s: float = 5.0
    insecure_unwitnessed_log: bool = False

    @field_validator("callers")
    @classmethod
    def _digests_are_sha256(cls, callers: dict[str, str]) -> dict[str, str]:
        for name, digest in callers.items():
            if not is_token_digest(digest):
                raise ValueError(f"callers.{name} must be a lowercase SHA-256 hex digest")
        return callers

    @field_validator("max_message_bytes")
    @classmethod
    def _fits_a_log_tail(cls, value: int) -> int:
        if value < MAX_APPEND_RESPONSE_BYTES:
            raise ValueError(
                f"max_message_bytes must be at least {MAX_APPEND_RESPONSE_BYTES} "
                "to carry a full log tail"
            )
        return value

    @model_validator(mode="after")
    def _quorum_fits(self) -> SignerConfig:
        count = len(self.witnesses)
        if count and not 1 <= self.witness_quorum <= count:
            raise ValueError(f"witness_quorum must be between 1 and the {count} witnesses")
        if not count and self.witness_quorum:
            raise ValueError("witness_quorum is set but no witnesses are configured")
        names = [parse_cosigner_key(w.verifier_key).name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise ValueError("each witness (key name) is configured once")
        return self

    def check_startable(self) -> None:
        """Fail closed on configurations that would run without protection."""
        if not self.callers:
            raise SignerMisconfigured(
                "no callers configured: set callers (name -> token SHA-256); "
                "`anima signer new-token NAME` makes one"
            )
        if self.production and self.tee == "sim":
            raise SignerMisconfigured("production refuses the insecure simulated TEE")
        if self.production and self.insecure_plaintext:
            raise SignerMisconfigured("production refuses insecure_plaintext")
        if self.production and not self.witnesses and not self.insecure_unwitnessed_log:
            raise SignerMisconfigured(
                "production refuses an unwitnessed log: configure witnesses and "
                "witness_quorum (or set insecure_unwitnessed_log)"
            )
