"""Run a signer as a separate local process (the demo, benchmarks and tests use it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_core.auth import token_digest
from anima_dev.local_process import ready_process

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalSigner:
    address: str
    tokens: dict[str, str]  # caller name -> bearer token
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def local_signer(
    state_dir: Path,
    *,
    callers: tuple[str, ...] = ("admin", "runtime"),
    extra_args: tuple[str, ...] = (),
    program: Sequence[str] | None = None,
) -> Iterator[LocalSigner]:
    """Start `anima signer serve` (INSECURE simulated TEE) on a free loopback port.

    Fresh caller tokens are made for this run; only their digests reach the signer.
    `program` runs the signer's commands instead of `anima signer` in this
    interpreter (another environment's `anima-signer`, say).
    """
    tokens = {name: secrets.token_urlsafe(32) for name in callers}
    digests = {name: token_digest(t) for name, t in tokens.items()}
    env = {**os.environ, "ANIMA_SIGNER_CALLERS": json.dumps(digests)}
    ready = state_dir / "signer.ready"
    command = [*(program or (sys.executable, "-m", "anima_dev.cli", "signer")), "serve"]
    command += ["--listen", "127.0.0.1:0", "--tee", "sim"]
    command += ["--state-dir", str(state_dir / "signer"), *extra_args]
    command += ["--ready-file", str(ready)]
    with ready_process(
        command, ready_file=ready, name="signer", env=env, timeout_s=READY_TIMEOUT_S
    ) as (process, found):
        yield LocalSigner(address=f"127.0.0.1:{found['port']}", tokens=tokens, process=process)
