"""The grpc.aio server every Anima service runs, with domain errors mapped to rich statuses.

Why a shared bootstrap: each service needs the same things done the same way
(health tied to real readiness, reflection only outside production, bounded
message sizes, graceful shutdown on SIGTERM, no exception text reaching
clients), and getting any of them subtly wrong in one service is how outages
and leaks happen.

Handlers must be `async def` (coroutines or async generators): STYLE.md asks
for grpc.aio everywhere, and wrapping sync handlers would need a second,
thread-pool code path. A sync handler fails closed with INTERNAL
(anima_core.error_mapping, whose interceptor every server puts first; the
plumbing other interceptors share is anima_core.interceptors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from anima_core.config import ConfigError
from anima_core.error_mapping import ErrorMappingInterceptor
from anima_core.interceptors import ServerInterceptor
from anima_core.shutdown import stop_on_signals

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "AddServicerFn", "GrpcServer"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024


AddServicerFn = Callable[[Any, grpc.aio.Server], None]
"""A generated `add_<Service>Servicer_to_server` function."""


class GrpcServer:
    """One grpc.aio listener with health, optional reflection and error mapping.

    Health starts NOT_SERVING for "" and every service name, and only the
    service flips it (`set_ready`) once its dependencies are really usable, so
    probes and load balancers never route to a half-started process.

    Interceptors run outermost first in the order given; ErrorMappingInterceptor
    is always added in front of them so that no interceptor's or handler's
    exception text escapes, and domain errors carry ErrorInfo with
    `error_domain` (the service's: "signer.anima"). Put tracing before auth so
    denied calls are traced.

    `max_message_bytes` bounds requests and responses alike; a service whose answers
    may be larger than anything it accepts sets `max_send_message_bytes` apart.

    `health_address` adds a second, plaintext listener that serves grpc.health.v1
    and nothing else, from the same health state: the kubelet's native gRPC probe
    cannot speak TLS, and every Anima API listener does. It reveals only
    SERVING or NOT_SERVING, so it needs neither TLS nor a token.
    """

    def __init__(
        self,
        *,
        address: str,
        credentials: grpc.ServerCredentials | None,
        insecure_plaintext: bool = False,
        production: bool,
        error_domain: str,
        interceptors: Sequence[ServerInterceptor] = (),
        service_names: Sequence[str] = (),
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_send_message_bytes: int | None = None,
        health_address: str | None = None,
    ) -> None:
        if credentials is None and not insecure_plaintext:
            raise ConfigError(
                f"no server credentials for {address}; pass insecure_plaintext=True to "
                "listen in plaintext (development and tests only)"
            )
        if credentials is not None and insecure_plaintext:
            raise ConfigError(f"both credentials and insecure_plaintext=True given for {address}")
        if max_message_bytes <= 0:
            raise ConfigError(f"max_message_bytes must be positive, got {max_message_bytes}")
        if max_send_message_bytes is not None and max_send_message_bytes <= 0:
            raise ConfigError(
                f"max_send_message_bytes must be positive, got {max_send_message_bytes}"
            )
        self._address = address
        self._credentials = credentials
        self._production = production
        self._interceptors: tuple[ServerInterceptor, ...] = (
            ErrorMappingInterceptor(domain=error_domain),
            *interceptors,
        )
        self._service_names: list[str] = list(dict.fromkeys(service_names))
        self._max_message_bytes = max_message_bytes
        self._max_send_message_bytes = max_send_message_bytes or max_message_bytes
        self._servicers: list[tuple[AddServicerFn, object]] = []
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()
        self._ready = False
        self._port: int | None = None
        self._health_address = health_address
        self._health_server: grpc.aio.Server | None = None
        self._health_port: int | None = None

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def health_port(self) -> int | None:
        """The health-only listener's bound port (None without one)."""
        return self._health_port

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(self._service_names)

    def add_servicer(self, add_fn: AddServicerFn, servicer: object, service_name: str) -> None:
        """Register a servicer (before `start`); its name joins health and reflection."""
        if self._server is not None:
            raise RuntimeError("add_servicer after start")
        self._servicers.append((add_fn, servicer))
        if service_name not in self._service_names:
            self._service_names.append(service_name)

    async def start(self) -> int:
        """Bind, register everything and start serving; return the bound port.

        Created here rather than in __init__ so the grpc.aio server binds to the
        running event loop.
        """
        if self._server is not None:
            raise RuntimeError("server already started")
        server = grpc.aio.server(
            interceptors=self._interceptors,
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", self._max_send_message_bytes),
            ],
        )
        for add_fn, servicer in self._servicers:
            add_fn(servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        await self._publish_health()
        if not self._production:
            reflection.enable_server_reflection(
                (*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
            )
        if self._credentials is None:
            port = server.add_insecure_port(self._address)
        else:
            port = server.add_secure_port(self._address, self._credentials)
        if port == 0:
            raise ConfigError(f"could not bind {self._address}")
        await server.start()
        self._server, self._port = server, port
        if self._health_address is not None:
            try:
                await self._start_health_listener(self._health_address)
            except BaseException:
                await server.stop(0)
                raise
        logger.info(
            "gRPC server listening on port %d (%s, reflection %s)",
            port,
            "plaintext" if self._credentials is None else "TLS",
            "off" if self._production else "on",
        )
        return port

    async def _start_health_listener(self, address: str) -> None:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 4096)])
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:  # grpc.aio raises where the sync server returns 0
            port = 0
        if port == 0:
            raise ConfigError(f"could not bind the health listener {address}")
        await server.start()
        self._health_server, self._health_port = server, port
        logger.info("gRPC health (only) listening in plaintext on port %d", port)

    async def set_ready(self, ready: bool) -> None:
        """Flip health for "" and every service between SERVING and NOT_SERVING.

        Async because grpc's aio HealthServicer notifies Watch streams under an
        asyncio.Condition. After shutdown has begun this is a no-op.
        """
        self._ready = ready
        await self._publish_health()

    async def _publish_health(self) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if self._ready
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (health.OVERALL_HEALTH, *self._service_names):
            await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        """Mark everything NOT_SERVING for good, then stop, letting calls finish for `grace` s."""
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(grace)
        if self._health_server is not None:
            await self._health_server.stop(0)

    async def run_until_signal(self, *, grace: float = 10.0) -> None:
        """Serve until SIGTERM or SIGINT, then drain and stop gracefully.

        Health turns NOT_SERVING before new calls are refused, so Watch streams
        (and probes that land in the grace window) see the change.
        """
        if self._server is None:
            raise RuntimeError("run_until_signal before start")
        with stop_on_signals() as stopping:
            await stopping.wait()
        logger.info("shutdown signal received; draining for up to %.1f s", grace)
        await self.stop(grace)
