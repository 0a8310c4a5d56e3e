"""Witness configuration: defaults -> file -> ANIMA_WITNESS_* environment, loaded once."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from anima_core.tokens import is_token_digest
from anima_verify.tlog.errors import MalformedVerifierKey
from anima_verify.tlog.note import _valid_name, parse_verifier_key

ENV_PREFIX = "ANIMA_WITNESS"


class WitnessConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:7380"
    state_dir: Path = Path(".anima/witness")
    # The witness's key name: verifiers configure it with the public key.
    name: str = "witness.anima.local"
    # Log verifier keys (origin+keyid+base64) trusted from start-up, added to the store.
    logs: list[str] = Field(default_factory=list)
    # Caller name -> SHA-256 hex of a bearer token allowed to register logs over HTTP
    # (POST /anima/v1/logs). Empty: logs are added only here or by `add-log`.
    registrars: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _key_name(cls, name: str) -> str:
        if not _valid_name(name):
            raise ValueError("name must be non-empty, without spaces or '+'")
        return name

    @field_validator("logs")
    @classmethod
    def _log_keys(cls, logs: list[str]) -> list[str]:
        for number, vkey in enumerate(logs):
            try:
                parse_verifier_key(vkey)
            except MalformedVerifierKey as exc:
                raise ValueError(f"logs[{number}]: {exc.message}") from exc
        return logs

    @field_validator("registrars")
    @classmethod
    def _digests_are_sha256(cls, registrars: dict[str, str]) -> dict[str, str]:
        for name, digest in registrars.items():
            if not is_token_digest(digest):
                raise ValueError(f"registrars.{name} must be a lowercase SHA-256 hex digest")
        return registrars
