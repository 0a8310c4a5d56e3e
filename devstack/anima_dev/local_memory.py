"""Run the memory service as a separate local process (the demo, benchmarks and tests use it)."""

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
from anima_dev.local_process import ready_process
from anima_memory.config import ENV_PREFIX, ROLE_RUNTIME, ROLES, MemoryConfig

# Loading the MiniLM model and opening the store take a few seconds on a cold machine.
READY_TIMEOUT_S = 120.0


class LocalMemory(NamedTuple):
    address: str  # 127.0.0.1:PORT
    token: str  # a bearer token of the requested role
    certificate_pem: bytes  # the service's self-signed TLS certificate, to pin
    process: subprocess.Popen[bytes]
    admin_token: str | None = None  # the admin role's (export, import: a node's recovery)


@contextlib.contextmanager
def local_memory(
    state_dir: Path,
    *,
    role: str = ROLE_RUNTIME,
    extra_args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    shard: tuple[int, int] | None = None,
    token: str | None = None,
    admin_token: str | None = None,
    program: Sequence[str] | None = None,
) -> Iterator[LocalMemory]:
    """Start `anima memory serve` (embedded store and MiniLM, TLS on a fresh
    self-signed key) on a free loopback port, with data under state_dir/memory.

    A fresh token of `role` is made for this run unless `token` is given (replicas
    that one runtime calls share its token); only its digest reaches the service.
    `admin_token` adds the admin role (export and import, for DA sync and recovery).
    `env` adds variables (ANIMA_MEMORY_EMBEDDINGS=openai, ANIMA_MEMORY_OPENAI__...).
    `shard` (index, count) makes it one replica of several that shard the agents.
    `program` runs the service's commands instead of `anima memory` in this
    interpreter (another environment's `anima-memory`, say).
    """
    if role not in ROLES:
        raise ValueError(f"unknown memory role {role!r}; roles: {', '.join(ROLES)}")
    token = token or secrets.token_urlsafe(32)
    config = MemoryConfig(data_dir=state_dir / "memory")
    ready = state_dir / "memory.ready"
    # Settings meant for another memory service must not leak into this one.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(f"{ENV_PREFIX}_")}
    environ.update(env or {})
    callers = {role: token_digest(token)}
    if admin_token is not None:
        callers["admin"] = token_digest(admin_token)
    environ[f"{ENV_PREFIX}_CALLERS"] = json.dumps(callers)
    command = [*(program or (sys.executable, "-m", "anima_dev.cli", "memory")), "serve"]
    command += ["--listen", "127.0.0.1:0", "--data-dir", str(config.data_dir)]
    command += ["--ready-file", str(ready), *extra_args]
    if shard is not None:
        command += ["--shard", f"{shard[0]}/{shard[1]}"]
    with ready_process(
        command, ready_file=ready, name="memory service", env=environ, timeout_s=READY_TIMEOUT_S
    ) as (process, found):
        yield LocalMemory(
            address=f"127.0.0.1:{found['port']}",
            token=token,
            certificate_pem=config.certificate_path.read_bytes(),
            process=process,
            admin_token=admin_token,
        )
