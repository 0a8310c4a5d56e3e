"""Run the agent runtime as a separate local process, in front of a local signer and
memory service (the demo, benchmarks and tests use it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from anima_core.auth import token_digest
from anima_dev.local_memory import LocalMemory
from anima_dev.local_process import ready_process
from anima_dev.local_signer import LocalSigner
from anima_runtime.config import ENV_PREFIX
from anima_runtime_api.client import RuntimeClient

# Opening the logs and restarting persisted agents (knowledge included) may take a while.
READY_TIMEOUT_S = 120.0
SIGNER_TOKEN_ENV = "ANIMA_SIGNER_TOKEN"  # noqa: S105 (variable names, not tokens)
SIGNER_ADMIN_TOKEN_ENV = "ANIMA_SIGNER_ADMIN_TOKEN"  # noqa: S105
MEMORY_TOKEN_ENV = "ANIMA_MEMORY_TOKEN"  # noqa: S105


class LocalRuntime(NamedTuple):
    url: str  # http://127.0.0.1:PORT
    api_token: str  # a bearer token the API accepts (HTTP and gRPC)
    process: subprocess.Popen[bytes]
    grpc_address: str  # 127.0.0.1:PORT of RuntimeService
    grpc_certificate_pem: bytes  # the TLS certificate it published, to pin
    admin_token: str | None = None  # ExportAgent and RestoreAgent (gRPC), if made

    def grpc_client(self) -> RuntimeClient:
        """A gRPC client of this runtime, pinned to its certificate."""
        return self.grpc_client_as(self.api_token)

    def grpc_client_as(self, token: str) -> RuntimeClient:
        """A gRPC client with another of its tokens (the admin one, say)."""
        return RuntimeClient.connect(
            self.grpc_address, token, certificate_pem=self.grpc_certificate_pem
        )


@contextlib.contextmanager
def local_runtime(
    state_dir: Path,
    *,
    signer: LocalSigner,
    memory: LocalMemory,
    extra_args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    program: Sequence[str] | None = None,
    admin: bool = False,
) -> Iterator[LocalRuntime]:
    """Start `anima runtime serve` on free loopback ports (HTTP and gRPC, the latter on
    TLS with the certificate it publishes), data under state_dir/runtime.

    The signer is trusted as the INSECURE simulated TEE local_signer runs; the
    runtime gets the signer's runtime token and, if local_signer made one, its
    admin token (to create agents). A fresh API token is made for this run; only
    its digest reaches the runtime; with `admin`, an admin token too (ExportAgent,
    RestoreAgent). `env` adds variables (ANIMA_RUNTIME_MODEL__...).
    `program` runs the runtime's commands instead of `anima runtime` in this
    interpreter (another environment's `anima-runtime`, say).
    """
    api_token = secrets.token_urlsafe(32)
    ready = state_dir / "runtime.ready"
    certificate = state_dir / "runtime-memory.pem"
    certificate.write_bytes(memory.certificate_pem)
    # Settings meant for another runtime must not leak into this one.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(f"{ENV_PREFIX}_")}
    environ.update(env or {})
    environ[f"{ENV_PREFIX}_API_TOKEN_SHA256S"] = json.dumps([token_digest(api_token)])
    admin_token = secrets.token_urlsafe(32) if admin else None
    if admin_token is not None:
        environ[f"{ENV_PREFIX}_ADMIN_TOKEN_SHA256S"] = json.dumps([token_digest(admin_token)])
    environ[SIGNER_TOKEN_ENV] = signer.tokens["runtime"]
    environ.pop(SIGNER_ADMIN_TOKEN_ENV, None)
    if "admin" in signer.tokens:
        environ[SIGNER_ADMIN_TOKEN_ENV] = signer.tokens["admin"]
    environ[MEMORY_TOKEN_ENV] = memory.token
    command = [*(program or (sys.executable, "-m", "anima_dev.cli", "runtime")), "serve"]
    command += ["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"]
    command += ["--data-dir", str(state_dir / "runtime")]
    command += ["--signer", signer.address, "--insecure-allow-simulated"]
    command += ["--memory", memory.address, "--memory-cert", str(certificate)]
    command += ["--ready-file", str(ready), *extra_args]
    with ready_process(
        command,
        ready_file=ready,
        name="runtime",
        env=environ,
        timeout_s=READY_TIMEOUT_S,
        stop_timeout_s=30,
    ) as (process, found):
        yield LocalRuntime(
            url=str(found["url"]),
            api_token=api_token,
            process=process,
            grpc_address=str(found["grpc_address"]),
            grpc_certificate_pem=Path(str(found["grpc_certificate"])).read_bytes(),
            admin_token=admin_token,
        )
