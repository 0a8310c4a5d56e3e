"""Signer configuration: defaults -> file -> ANIMA_SIGNER_* environment, loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from anima_core.tokens import is_token_digest
from anima_signer.escrow import EscrowTerms
from anima_signer.fencing import AnchorSource
from anima_signer_api.errors import SignerMisconfigured
from anima_signer_api.types import MAX_APPEND_RESPONSE_BYTES
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.errors import AnimaError
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


class EscrowSettings(BaseModel):
    """The guardians every agent root is split to k-of-n when the agent is created (and
    when this signer takes an agent over by a restore): no agent exists here without
    its shares. Each share is HPKE-sealed to its guardian, so only that guardian opens it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Raw X25519 public keys (64 hex characters), one share each, in this order: Anima
    # signers in the guardian role (GetGuardianKey, read over an attested channel) or
    # keys an owner holds (anima_verify.escrow applies the same rules).
    guardian_keys: list[str]
    threshold: int
    # The measurement policy (JSON) a recovering enclave's evidence must satisfy; sealed
    # in every share, so each guardian checks it alone.
    measurement_policy: str

    @field_validator("guardian_keys")
    @classmethod
    def _x25519_keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            try:
                X25519PublicKey.from_public_bytes(bytes.fromhex(key.removeprefix("0x")))
            except ValueError:
                raise ValueError(f"guardian key {key[:70]!r} is not 32 bytes of hex") from None
        if len({k.removeprefix("0x").lower() for k in keys}) != len(keys):
            raise ValueError("each guardian key may hold one share only")
        return keys

    @field_validator("measurement_policy")
    @classmethod
    def _policy_parses(cls, policy: str) -> str:
        try:
            MeasurementPolicy.from_json(policy)
        except AnimaError as exc:
            raise ValueError(f"measurement_policy: {exc.message}") from None
        return policy

    @model_validator(mode="after")
    def _threshold_fits(self) -> EscrowSettings:
        if not 1 <= self.threshold <= len(self.guardian_keys):
            raise ValueError(
                f"threshold must be between 1 and the {len(self.guardian_keys)} guardians"
            )
        return self

    def terms(self) -> EscrowTerms:
        return EscrowTerms(
            guardians=tuple(
                X25519PublicKey.from_public_bytes(bytes.fromhex(k.removeprefix("0x")))
                for k in self.guardian_keys
            ),
            threshold=self.threshold,
            policy_json=self.measurement_policy,
        )


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
    # AgentAnchor (0x address) and a block hash the enclave trusts on its chain:
    # with both, RestoreAgent reads the anchor itself from blocks and a storage proof.
    anchor_contract: str | None = None
    anchor_trusted_block: str | None = None
    # Guardian escrow at creation (EscrowSettings); without it, escrow is the admin's
    # EscrowAgentRoot call, and an agent may exist without shares.
    escrow: EscrowSettings | None = None

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

    def anchor_source(self) -> AnchorSource | None:
        if self.anchor_contract is None and self.anchor_trusted_block is None:
            return None
        try:
            contract = bytes.fromhex((self.anchor_contract or "").removeprefix("0x"))
            block = bytes.fromhex((self.anchor_trusted_block or "").removeprefix("0x"))
        except ValueError:
            raise SignerMisconfigured("anchor_contract and anchor_trusted_block are hex") from None
        if len(contract) != 20 or len(block) != 32:
            raise SignerMisconfigured(
                "anchor_contract (20 bytes) and anchor_trusted_block (32 bytes) go together"
            )
        return AnchorSource(contract=contract, trusted_checkpoint=block)

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
        if (
            self.production
            and self.escrow is not None
            and MeasurementPolicy.from_json(self.escrow.measurement_policy).allow_insecure_simulated
        ):
            raise SignerMisconfigured(
                "production refuses an escrow measurement_policy that accepts the insecure "
                "simulated TEE: guardians would release the agent root to a simulation"
            )
        self.anchor_source()
