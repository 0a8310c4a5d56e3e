"""Run a witness as a separate local process (the dev stack's embedded default, tests,
benchmarks), and the signer settings that make a signer use it."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from anima_core.auth import token_digest
from anima_dev.local_process import ready_process

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LocalWitness:
    url: str
    verifier_key: str
    registration_token: str  # lets the signer register its agents' logs

    def signer_setting(self) -> dict[str, str]:
        """This witness as an entry of the signer's `witnesses` setting."""
        return {
            "url": self.url,
            "verifier_key": self.verifier_key,
            "registration_token": self.registration_token,
        }


@contextlib.contextmanager
def local_witness(
    state_dir: Path, *, name: str = "witness.anima.local", port: int = 0
) -> Iterator[LocalWitness]:
    """Start `anima witness serve` on a loopback port with its state (and key) in
    state_dir; a fresh registration token per run. Same state_dir: same witness."""
    token = secrets.token_urlsafe(32)
    env = {**os.environ, "ANIMA_WITNESS_REGISTRARS": json.dumps({"signer": token_digest(token)})}
    ready = state_dir / "witness.ready"
    command = [sys.executable, "-m", "anima_dev.cli", "witness", "serve"]
    command += ["--listen", f"127.0.0.1:{port}", "--state-dir", str(state_dir)]
    command += ["--name", name, "--ready-file", str(ready)]
    state_dir.mkdir(parents=True, exist_ok=True)
    with ready_process(
        command, ready_file=ready, name="witness", env=env, timeout_s=READY_TIMEOUT_S
    ) as (_process, found):
        yield LocalWitness(
            url=f"http://127.0.0.1:{found['port']}",
            verifier_key=found["verifier_key"],
            registration_token=token,
        )


def signer_witness_env(witnesses: Sequence[LocalWitness], quorum: int) -> dict[str, str]:
    """The environment that configures a signer with these witnesses and quorum."""
    return {
        "ANIMA_SIGNER_WITNESSES": json.dumps([w.signer_setting() for w in witnesses]),
        "ANIMA_SIGNER_WITNESS_QUORUM": str(quorum),
    }
