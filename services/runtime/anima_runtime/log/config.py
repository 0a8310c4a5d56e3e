"""Configuration of the host's log storage and query API (part of the runtime's config).

Tokens are configured as SHA-256 hex digests (`anima_core.tokens.token_digest`),
never in clear, as for the signer's callers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from anima_core.config import FrozenConfig
from anima_core.tokens import is_token_digest

# `anima log serve` loads LogConfig from ANIMA_LOG_* variables
# (ANIMA_LOG_ROOT, ANIMA_LOG_API__REDACTION_TOKEN_SHA256, ...).
ENV_PREFIX = "ANIMA_LOG"


def _check_digest(value: str | None) -> str | None:
    if value is not None and not is_token_digest(value):
        raise ValueError("must be a lowercase SHA-256 hex digest of the token")
    return value


def check_cors_origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    """Browser origins an API allows: explicit http(s) origins, never a wildcard."""
    for origin in origins:
        if "*" in origin or not origin.startswith(("https://", "http://")):
            raise ValueError("CORS origins are explicit http(s) origins, no wildcards")
    return origins


class LogApiConfig(FrozenConfig):
    # The log itself (checkpoint, tiles, entries, search, proofs, attestation) is
    # public, as a transparency log is meant to be read, unless this is false;
    # then a bearer token (the read or the redaction one) is needed.
    public_reads: bool = True
    # Payloads are the private data entries commit to (prompts, messages): reading
    # one needs the read (or redaction) token unless this is true and reads are
    # public. With no token configured, payloads are not served at all.
    public_payloads: bool = False
    read_token_sha256: str | None = None
    # Redaction (DELETE of a payload) is refused unless a token is configured.
    redaction_token_sha256: str | None = None
    max_page_entries: int = Field(default=1000, ge=1, le=10_000)
    # Each attestation makes the signer produce a fresh TEE quote (costly on real
    # hardware): a token bucket shared by all callers, `attestation_burst` at
    # once and `attestation_per_second` after that; beyond it, 429.
    attestation_per_second: float = Field(default=2.0, gt=0)
    attestation_burst: int = Field(default=5, ge=1)
    # Browser origins allowed to read the API; never "*".
    cors_origins: tuple[str, ...] = ()
    # Serve the browser log explorer (static files that verify the log in the
    # visitor's browser from the routes above) at /explorer/.
    explorer: bool = True

    @field_validator("read_token_sha256", "redaction_token_sha256")
    @classmethod
    def _digests(cls, value: str | None) -> str | None:
        return _check_digest(value)

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return check_cors_origins(origins)

    @model_validator(mode="after")
    def _closed_reads_need_a_token(self) -> LogApiConfig:
        if not self.public_reads and self.read_token_sha256 is None:
            raise ValueError("public_reads is false but no read_token_sha256 is configured")
        return self


class LogConfig(FrozenConfig):
    root: Path = Path(".anima/logs")
    # How often an idle log collects the enclave's tail (signature entries).
    sync_interval_s: float = Field(default=1.0, gt=0)
    # Tiles cached per log for proofs (about 16 KiB each with their inner levels).
    cache_tiles: int = Field(default=4096, ge=1)
    api: LogApiConfig = LogApiConfig()
