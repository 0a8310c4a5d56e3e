"""Assemble and run the memory service: TLS, auth, gRPC server, store, model.

The server answers health (NOT_SERVING) from the first moment; it turns
SERVING only once the store is open and the model is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import grpc

from anima.memory.v1 import memory_pb2_grpc as pb_grpc
from anima_core import channels
from anima_core.auth import TokenAuthInterceptor
from anima_core.files import replace_file
from anima_core.server import GrpcServer
from anima_core.telemetry import tracing_server_interceptors
from anima_memory.api.servicer import ACCESS_LIST, SERVICE_NAME, MemoryServicer
from anima_memory.changes import ChangeJournal
from anima_memory.checks import Limits
from anima_memory.config import MemoryConfig
from anima_memory.embeddings.base import Embedder
from anima_memory.maintenance import IndexMaintainer
from anima_memory.service import MemoryService
from anima_memory.store.base import VectorStore
from anima_memory_api.endpoint import TLS_SERVER_NAME
from anima_memory_api.errors import ERROR_DOMAIN

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class RunningMemory:
    server: GrpcServer
    port: int
    service: MemoryService
    certificate_pem: bytes | None  # None only in insecure plaintext mode
    maintainer: IndexMaintainer | None = None
    _closed: bool = field(default=False, repr=False)

    async def stop(self, grace: float = 2.0) -> None:
        if self._closed:
            return
        self._closed = True
        await self.server.stop(grace)
        if self.maintainer is not None:
            await self.maintainer.wait()
        await self.service.embedder.aclose()
        await asyncio.to_thread(self.service.store.close)
        self.service.journal.close()


def open_store(config: MemoryConfig) -> VectorStore:
    if config.store == "qdrant":
        from anima_memory.store.qdrant_server import QdrantServerStore

        q = config.qdrant
        return QdrantServerStore.connect(
            q.url,
            api_key=q.api_key.get_secret_value() if q.api_key else None,
            collection=q.collection,
            dimension=embedder_dimension(config),
            timeout=q.timeout_s,
            search_ef=q.search_ef,
            hnsw_m=q.hnsw_m,
            tenant_m=q.tenant_m,
        )
    from anima_memory.store.edge import EdgeStore

    e = config.embedded
    return EdgeStore.open(
        config.store_path,
        dimension=embedder_dimension(config),
        hnsw_m=e.hnsw_m,
        tenant_m=e.tenant_m,
        ef_construct=e.hnsw_ef_construct,
        search_ef=e.search_ef,
        quantize_int8=e.quantize_int8,
        # Segments below the build threshold stay unindexed, so the two agree.
        index_points=e.index_after_points,
    )


def embedder_dimension(config: MemoryConfig) -> int:
    return config.openai.dimension if config.embeddings == "openai" else 384


def load_embedder(config: MemoryConfig) -> Embedder:
    if config.embeddings == "openai":
        from anima_memory.embeddings.coalescing import CoalescingEmbedder
        from anima_memory.embeddings.openai import OpenAIEmbedder

        o = config.openai
        # Concurrent calls share one /embeddings request (each HTTP call costs CPU).
        remote = OpenAIEmbedder(
            base_url=o.base_url,
            model=o.model,
            api_key=o.api_key.get_secret_value() if o.api_key else None,
            dimension=o.dimension,
            timeout_s=o.timeout_s,
            max_retries=o.max_retries,
            batch_size=o.batch_size,
        )
        return CoalescingEmbedder(remote, max_texts=o.batch_size)
    from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder

    return MiniLmOnnxEmbedder.load(threads=config.minilm_threads)


def server_credentials(config: MemoryConfig) -> tuple[grpc.ServerCredentials | None, bytes | None]:
    """TLS from files, or a fresh self-signed key whose certificate is published."""
    return channels.server_credentials(
        insecure_plaintext=config.insecure_plaintext,
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        server_name=TLS_SERVER_NAME,
        publish=lambda cert: _publish(config.certificate_path, cert),
    )


def _publish(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, data)


async def start_memory(
    config: MemoryConfig,
    *,
    store: VectorStore | None = None,
    embedder: Embedder | None = None,
) -> RunningMemory:
    """Serve at once (health NOT_SERVING), then load store and model and turn ready."""
    config.check_startable()
    credentials, certificate = server_credentials(config)
    auth = TokenAuthInterceptor.for_roles(config.callers, ACCESS_LIST)
    server = GrpcServer(
        address=config.listen,
        credentials=credentials,
        insecure_plaintext=config.insecure_plaintext,
        production=config.production,
        error_domain=ERROR_DOMAIN,
        interceptors=[*tracing_server_interceptors(), auth],
        service_names=[SERVICE_NAME],
        max_message_bytes=config.max_message_bytes,
        health_address=config.health_listen,
    )
    servicer = MemoryServicer(max_message_bytes=config.max_message_bytes)
    server.add_servicer(pb_grpc.add_MemoryServiceServicer_to_server, servicer, SERVICE_NAME)
    port = await server.start()
    loading = await asyncio.gather(
        asyncio.to_thread(open_store, config) if store is None else _ready(store),
        asyncio.to_thread(load_embedder, config) if embedder is None else _ready(embedder),
        return_exceptions=True,
    )
    loaded_store, loaded_embedder = loading
    try:
        for outcome in loading:
            if isinstance(outcome, BaseException):
                raise outcome
        assert not isinstance(loaded_store, BaseException)
        assert not isinstance(loaded_embedder, BaseException)
        maintainer = None
        if config.store == "embedded":  # a server indexes in the background itself
            maintainer = IndexMaintainer(
                loaded_store,
                index_after=config.embedded.index_after_points,
                build_after_import_s=config.embedded.build_after_import_s,
            )
        service = MemoryService(
            loaded_store,
            loaded_embedder,
            _limits(config),
            after_write=maintainer.after_write if maintainer else None,
            after_import=maintainer.after_import if maintainer else None,
            shard=config.shard.assignment(),
            journal=ChangeJournal(config.changes_path),
        )
    except BaseException:
        await server.stop(0)
        if not isinstance(loaded_store, BaseException):
            await asyncio.to_thread(loaded_store.close)
        if not isinstance(loaded_embedder, BaseException):
            await loaded_embedder.aclose()
        raise
    servicer.attach(service)
    await server.set_ready(True)
    log.info(
        "memory service ready on port %d (%s store, %s)",
        port,
        config.store,
        service.shard,
    )
    return RunningMemory(
        server=server,
        port=port,
        service=service,
        certificate_pem=certificate,
        maintainer=maintainer,
    )


async def _ready(value: T) -> T:
    return value


def _limits(config: MemoryConfig) -> Limits:
    return Limits(
        duplicate_threshold=config.duplicate_threshold,
        max_text_bytes=config.max_text_bytes,
        max_fields_bytes=config.max_fields_bytes,
        max_batch=config.max_batch,
        max_results=config.max_results,
    )


async def serve_until_signal(running: RunningMemory) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await running.server.run_until_signal()
    await running.stop()
