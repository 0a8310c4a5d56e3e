"""`anima witness ...` beside a serving witness process: the operator adds a log and
reads the evidence while it serves; a second witness on the same state is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from anima_dev.cli import main
from anima_dev.local_witness import local_witness
from tests.witness.test_core import LEAVES, LOG_VKEY, ORIGIN, request

pytestmark = pytest.mark.slow


def test_the_operator_adds_a_log_and_reads_evidence_while_it_serves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "witness"
    with local_witness(state, name="w.test") as witness:
        assert main(["witness", "key", "--state-dir", str(state), "--name", "w.test"]) == 0
        assert capsys.readouterr().out.strip() == witness.verifier_key
        url = f"{witness.url}/add-checkpoint"
        assert httpx.post(url, content=request(0, 4), timeout=30).status_code == 404
        assert main(["witness", "add-log", "--state-dir", str(state), LOG_VKEY]) == 0
        capsys.readouterr()
        assert httpx.post(url, content=request(0, 4), timeout=30).status_code == 200
        forked = [*LEAVES[:2], b"\x00" * 32, *LEAVES[3:]]
        assert httpx.post(url, content=request(4, 4, forked), timeout=30).status_code == 422
        assert main(["witness", "evidence", "--state-dir", str(state)]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["origin"], r["kind"]) for r in rows] == [(ORIGIN, "equivocation")]
        second = subprocess.run(
            [sys.executable, "-m", "anima_dev.cli", "witness", "serve", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another witness" in second.stderr
