"""Run a local dev chain: anvil from the npm package `@foundry-rs/anvil` (package-lock.json).

The binary comes in the platform package npm installs beside it
(`@foundry-rs/anvil-linux-amd64`, ...), so `npm ci --ignore-scripts` is enough and
nothing is downloaded at run time. anvil is started directly (not through the
package's Node wrapper, so SIGTERM reaches it), on a free loopback port it picks
itself and prints; its output goes to a file, never a pipe nobody drains.
"""

from __future__ import annotations

import contextlib
import json
import platform
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_dev.protogen import REPO_ROOT

DEFAULT_CHAIN_ID = 31337
READY_TIMEOUT_S = 30.0
_LISTENING = re.compile(rb"Listening on (127\.0\.0\.1:\d+)")
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


class AnvilNotInstalled(RuntimeError):
    """node_modules lacks anvil's platform package: run `npm ci --ignore-scripts`."""


def anvil_binary(root: Path = REPO_ROOT) -> Path:
    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    path = root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if not path.is_file():
        raise AnvilNotInstalled(
            f"no anvil at {path}: install the Node tooling (`npm ci --ignore-scripts`, "
            "which ./dev test and ./dev demo run)"
        )
    return path


@dataclass(frozen=True)
class LocalChain:
    url: str  # http://127.0.0.1:PORT
    chain_id: int
    process: subprocess.Popen[bytes]

    def rpc(self, method: str, params: Sequence[object] = ()) -> object:
        """A plain, unverified JSON-RPC call: for test setup (mining, funding), never
        for what the code under test reads."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL we built)
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(f"anvil {method}: {answer['error']}")
        return answer["result"]


@contextlib.contextmanager
def local_chain(
    log_dir: Path,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    block_time_s: float | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[LocalChain]:
    """anvil on a free loopback port until the context ends (SIGTERM, then SIGKILL).

    Automine by default (a block per transaction); `block_time_s` mines on a timer.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    output = log_dir / "anvil.log"
    command = [str(anvil_binary()), "--host", "127.0.0.1", "--port", "0"]
    command += ["--chain-id", str(chain_id), *extra_args]
    if block_time_s is not None:
        command += ["--block-time", str(block_time_s)]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = _wait_listening(process, output)
        yield LocalChain(url=url, chain_id=chain_id, process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_listening(process: subprocess.Popen[bytes], output: Path) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        found = _LISTENING.search(output.read_bytes())
        if found:
            return f"http://{found.group(1).decode()}"
        if process.poll() is not None:
            tail = output.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"anvil exited with code {process.returncode}: {tail}")
        time.sleep(0.02)
    raise RuntimeError(f"anvil did not listen within {READY_TIMEOUT_S:.0f} s (see {output})")
