"""Run the verifying chain client as a separate local process in front of a dev chain and a
local signer (the demo, benchmarks and tests use it)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from anima_chain.config import ENV_PREFIX, ROLE_RUNTIME, ChainConfig
from anima_core.auth import token_digest
from anima_dev.local_chain import LocalChain
from anima_dev.local_process import ready_process
from anima_dev.local_signer import LocalSigner

READY_TIMEOUT_S = 60.0


class LocalChainClient(NamedTuple):
    address: str  # 127.0.0.1:PORT
    token: str  # a bearer token of the runtime role
    certificate_pem: bytes  # its self-signed TLS certificate, to pin
    certificate_path: Path
    checkpoint: str  # the block hash it trusts
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def local_chain_client(
    state_dir: Path,
    *,
    chain: LocalChain,
    signer: LocalSigner,
    checkpoint_number: int = 0,
    program: Sequence[str] | None = None,
) -> Iterator[LocalChainClient]:
    """Start `anima chain serve` on a free loopback port, trusting block
    `checkpoint_number` of `chain` (read from anvil here, as an operator would take it
    from a source they trust), signing through `signer` (INSECURE simulated TEE).
    `program` runs the service's commands instead of `anima chain` in this interpreter
    (another environment's `anima-chain`, say)."""
    block = chain.rpc("eth_getBlockByNumber", [hex(checkpoint_number), False])
    assert isinstance(block, dict)
    checkpoint = str(block["hash"])
    token = secrets.token_urlsafe(32)
    config = ChainConfig(data_dir=state_dir / "chain")
    ready = state_dir / "chain.ready"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(f"{ENV_PREFIX}_")}
    environ[f"{ENV_PREFIX}_CALLERS"] = json.dumps({ROLE_RUNTIME: token_digest(token)})
    environ["ANIMA_SIGNER_TOKEN"] = signer.tokens["runtime"]
    command = [*(program or (sys.executable, "-m", "anima_dev.cli", "chain")), "serve"]
    command += ["--listen", "127.0.0.1:0", "--data-dir", str(config.data_dir)]
    command += ["--rpc-url", chain.url, "--chain-id", str(chain.chain_id)]
    command += ["--checkpoint", checkpoint]
    command += ["--signer", signer.address, "--insecure-allow-simulated"]
    command += ["--ready-file", str(ready)]
    with ready_process(
        command, ready_file=ready, name="chain client", env=environ, timeout_s=READY_TIMEOUT_S
    ) as (process, found):
        yield LocalChainClient(
            address=f"127.0.0.1:{found['port']}",
            token=token,
            certificate_pem=config.certificate_path.read_bytes(),
            certificate_path=config.certificate_path,
            checkpoint=checkpoint,
            process=process,
        )
