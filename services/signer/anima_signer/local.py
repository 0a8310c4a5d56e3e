"""Run a signer as a separate local process (the demo, benchmarks and tests use it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from anima_core.auth import token_digest

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
) -> Iterator[LocalSigner]:
    """Start `anima signer serve` (INSECURE simulated TEE) on a free loopback port.

    Fresh caller tokens are made for this run; only their digests reach the signer.
    """
    tokens = {name: secrets.token_urlsafe(32) for name in callers}
    digests = {name: token_digest(t) for name, t in tokens.items()}
    ready = state_dir / "signer.ready"
    ready.unlink(missing_ok=True)
    env = {**os.environ, "ANIMA_SIGNER_CALLERS": json.dumps(digests)}
    command = [sys.executable, "-m", "anima_cli.main", "signer", "serve"]
    command += ["--listen", "127.0.0.1:0", "--tee", "sim"]
    command += ["--state-dir", str(state_dir / "signer"), "--ready-file", str(ready), *extra_args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None:
                raise RuntimeError(f"signer exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("signer did not become ready in time")
            time.sleep(0.05)
        port = int(json.loads(ready.read_text())["port"])
        yield LocalSigner(address=f"127.0.0.1:{port}", tokens=tokens, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
