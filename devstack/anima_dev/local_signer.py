"""Run a signer as a separate local process (the demo, benchmarks and tests use it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
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

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])


@contextlib.contextmanager
def local_signer(
    state_dir: Path,
    *,
    callers: tuple[str, ...] = ("admin", "runtime"),
    extra_args: tuple[str, ...] = (),
    program: Sequence[str] | None = None,
    port: int = 0,
    tokens: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[LocalSigner]:
    """Start `anima signer serve` (INSECURE simulated TEE) on a loopback port (`port`,
    or a free one), with its state under state_dir/signer.

    Fresh caller tokens are made for this run unless `tokens` (caller -> token) are
    given; only their digests reach the signer. To restart a signer as it was, give
    the same state_dir, port and tokens (its TLS key is new on every start).
    `program` runs the signer's commands instead of `anima signer` in this
    interpreter (another environment's `anima-signer`, say). `env` adds settings
    (local_witness.signer_witness_env: its witnesses and quorum).
    """
    if tokens is None:
        tokens = {name: secrets.token_urlsafe(32) for name in callers}
    tokens = dict(tokens)
    digests = {name: token_digest(t) for name, t in tokens.items()}
    env = {**os.environ, **(env or {}), "ANIMA_SIGNER_CALLERS": json.dumps(digests)}
    ready = state_dir / "signer.ready"
    command = [*(program or (sys.executable, "-m", "anima_dev.cli", "signer")), "serve"]
    command += ["--listen", f"127.0.0.1:{port}", "--tee", "sim"]
    command += ["--state-dir", str(state_dir / "signer"), *extra_args]
    command += ["--ready-file", str(ready)]
    with ready_process(
        command, ready_file=ready, name="signer", env=env, timeout_s=READY_TIMEOUT_S
    ) as (process, found):
        yield LocalSigner(address=f"127.0.0.1:{found['port']}", tokens=tokens, process=process)
