"""Start one of Anima's services as a local process and wait for its ready file.

The demo, benchmarks and tests run the signer, the memory service and the
runtime as separate processes (as deployed); each is started with
`--ready-file` and is ready once it wrote that file (its port, URL ...).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def ready_process(
    command: Sequence[str],
    *,
    ready_file: Path,
    name: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    stop_timeout_s: float = 15.0,
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """Run `command` until the context ends (SIGTERM, then SIGKILL after
    `stop_timeout_s`); yields the process and the JSON object of its ready file."""
    ready_file.unlink(missing_ok=True)
    process = subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready_file.exists():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready in time")
            time.sleep(0.05)
        yield process, json.loads(ready_file.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
