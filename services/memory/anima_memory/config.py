"""Memory service configuration: defaults -> file -> ANIMA_MEMORY_* environment.

The defaults run everything in-process (embedded Qdrant Edge store, MiniLM on
ONNX Runtime) with TLS on a fresh self-signed key whose certificate is written
beside the data for local clients to pin. A Qdrant server and an
OpenAI-compatible embeddings endpoint are configuration choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from anima_core.config import ConfigError, FrozenConfig
from anima_core.tokens import checked_callers
from anima_memory_api.endpoint import published_certificate_path
from anima_memory_api.shards import Shard

ENV_PREFIX = "ANIMA_MEMORY"

ROLE_RUNTIME = "runtime"  # the agent runtime: every data call, not export or import
ROLE_DASYNC = "dasync"  # the DA sync service: export and import only
ROLE_ADMIN = "admin"  # everything
ROLES = (ROLE_RUNTIME, ROLE_DASYNC, ROLE_ADMIN)


class EmbeddedStoreConfig(FrozenConfig):
    """Qdrant Edge in this process (one process per directory)."""

    path: Path | None = None  # None: <data_dir>/store
    # Qdrant's multitenancy layout: no global HNSW graph (m=0), one graph per
    # agent (tenant_m). Every query names an agent, so the global graph would
    # only cost build time (measured ~8x per 10k points).
    hnsw_m: int = Field(default=0, ge=0, le=128)
    tenant_m: int = Field(default=16, ge=4, le=128)
    hnsw_ef_construct: int = Field(default=100, ge=8, le=1000)
    # 64 and int8 copies: the same top 10 as exact search on 100k real embeddings
    # at about a third of the CPU of 128 on float32 (docs/performance.md).
    search_ef: int = Field(default=64, ge=8, le=4096)
    quantize_int8: bool = True
    # Background index builds start once this many points are unindexed. A
    # build holds the GIL (qdrant-edge 0.9): the service pauses for its length,
    # about 0.4-3 s per 10k points here, so builds are kept small and frequent.
    index_after_points: int = Field(default=10_000, ge=100)
    # After an import (a recovery), the build of its memories waits this long, so
    # the agent's first answers are not stuck behind a build of the whole import
    # (about 2 s of CPU per 10k points, GIL held); searches meanwhile scan the
    # unindexed memories exactly (about 10-20 ms at 100k here).
    build_after_import_s: float = Field(default=10.0, ge=0.0, le=3600.0)


class QdrantServerConfig(FrozenConfig):
    """A Qdrant server or cluster through qdrant-client (all agents in one collection)."""

    url: str = "http://127.0.0.1:6333"
    api_key: SecretStr | None = None
    collection: str = Field(default="anima_memories", pattern=r"^[A-Za-z0-9_-]{1,255}$")
    timeout_s: float = Field(default=10.0, gt=0)
    search_ef: int = Field(default=128, ge=8, le=4096)
    hnsw_m: int = Field(default=0, ge=0, le=128)
    tenant_m: int = Field(default=16, ge=4, le=128)


class OpenAIEmbeddingsConfig(FrozenConfig):
    """An OpenAI-compatible /embeddings endpoint (OpenAI, vLLM, Ollama, ...)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "text-embedding-3-small"
    api_key: SecretStr | None = None
    dimension: int = Field(default=1536, ge=1, le=65_536)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    batch_size: int = Field(default=128, ge=1, le=2048)


class ShardConfig(FrozenConfig):
    """The agents this replica serves: shard `index` of `count` (anima_memory_api.shards).

    One replica (the default, 0 of 1) serves every agent. Several replicas on one
    Qdrant collection must each have their own index, one count, and callers that
    route by agent: the service's locks hold only within its process.
    """

    index: int = Field(default=0, ge=0)
    count: int = Field(default=1, ge=1, le=65_536)

    @model_validator(mode="after")
    def _index_within_count(self) -> ShardConfig:
        if self.index >= self.count:
            raise ValueError(f"index must be in [0, count), got {self.index} of {self.count}")
        return self

    def assignment(self) -> Shard:
        return Shard(index=self.index, count=self.count)


class MemoryConfig(FrozenConfig):
    listen: str = "127.0.0.1:7450"
    # A plaintext listener that answers gRPC health only (Kubernetes' native
    # probes cannot speak TLS); off unless set, e.g. "0.0.0.0:7451".
    health_listen: str | None = None
    data_dir: Path = Path(".anima/memory")
    # Production turns off reflection and refuses insecure_plaintext.
    production: bool = False
    # TLS: a certificate and key from files, else a fresh self-signed key per
    # start whose certificate is written to <data_dir>/tls/memory.pem.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # Plain gRPC without TLS (development only).
    insecure_plaintext: bool = False
    # Caller name -> SHA-256 hex of its bearer token; roles: runtime, dasync, admin.
    callers: dict[str, str] = Field(default_factory=dict)
    # Which agents this replica serves (ANIMA_MEMORY_SHARD__INDEX, __COUNT).
    shard: ShardConfig = ShardConfig()

    store: Literal["embedded", "qdrant"] = "embedded"
    embedded: EmbeddedStoreConfig = EmbeddedStoreConfig()
    qdrant: QdrantServerConfig = QdrantServerConfig()

    embeddings: Literal["minilm", "openai"] = "minilm"
    minilm_threads: int | None = Field(default=None, ge=1, le=64)
    openai: OpenAIEmbeddingsConfig = OpenAIEmbeddingsConfig()

    # A `unique` memory is skipped when one of the same agent, room and table
    # is at least this similar (Eliza uses 0.95).
    duplicate_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    max_text_bytes: int = Field(default=64 * 1024, ge=1)
    max_fields_bytes: int = Field(default=64 * 1024, ge=2)
    max_batch: int = Field(default=1024, ge=1)
    max_results: int = Field(default=1000, ge=1)
    max_message_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)

    @field_validator("callers")
    @classmethod
    def _digests_are_sha256(cls, callers: dict[str, str]) -> dict[str, str]:
        return checked_callers(callers, ROLES)

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> MemoryConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file are set together or not at all")
        return self

    @property
    def store_path(self) -> Path:
        return self.embedded.path or self.data_dir / "store"

    @property
    def changes_path(self) -> Path:
        """The change feed's journal (anima_memory.changes), whatever the store."""
        return self.data_dir / "changes.sqlite3"

    @property
    def certificate_path(self) -> Path:
        """Where a self-signed certificate is published for local clients to pin."""
        return published_certificate_path(self.data_dir)

    def check_startable(self) -> None:
        """Fail closed on configurations that would run without protection."""
        if not self.callers:
            raise ConfigError(
                "no callers configured: set callers (name -> token SHA-256); "
                "`anima memory new-token NAME` makes one"
            )
        if self.production and self.insecure_plaintext:
            raise ConfigError("production refuses insecure_plaintext")
        if self.insecure_plaintext and self.tls_cert_file is not None:
            raise ConfigError("both TLS files and insecure_plaintext are set")
        if self.production:
            for name, url, key in (
                ("qdrant", self.qdrant.url, self.qdrant.api_key),
                ("openai", self.openai.base_url, self.openai.api_key),
            ):
                if key is not None and _plain_http_off_host(url):
                    raise ConfigError(
                        f"production refuses sending the {name} API key over plain http "
                        "to another host; use https"
                    )


def _plain_http_off_host(url: str) -> bool:
    parsed = urlsplit(url)
    return parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1")
