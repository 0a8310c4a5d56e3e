"""`anima log verify | audit | monitor` with a witness policy: a checkpoint without the
quorum's cosignatures is rejected (exit 1, WitnessQuorumNotMet), and a verifier that
names no policy is stopped before reading anything (usage error, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anima_dev.cli import main
from anima_verify.tlog.cosignature import add_cosignatures, cosign, cosigner_verifier_key
from anima_verify.tlog.note import parse_note
from tests.tlog.tiled_log import TiledLog, write_tiled_log

WITNESSES = [Ed25519PrivateKey.from_private_bytes(bytes([i]) * 32) for i in (7, 8)]


def vkey(i: int) -> str:
    public = WITNESSES[i].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return cosigner_verifier_key(f"w{i}.test", public)


def cosigned(note: bytes, *witnesses: int) -> bytes:
    parsed = parse_note(note)
    lines = [
        cosign(parsed.text, name=f"w{i}.test", private_key=WITNESSES[i], timestamp=1_700_000_000)
        for i in witnesses
    ]
    return add_cosignatures(parsed, lines).to_bytes()


@pytest.fixture
def log(tmp_path: Path) -> TiledLog:
    return write_tiled_log(tmp_path / "log", 300, partial_sizes=[100])


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["log", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_verify_needs_a_policy(capsys: pytest.CaptureFixture[str], log: TiledLog) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["log", "verify", str(log.root), "--vkey", log.vkey])
    assert exited.value.code == 2
    assert "--witness" in capsys.readouterr().err


def test_verify_rejects_an_unwitnessed_log_and_accepts_a_witnessed_one(
    capsys: pytest.CaptureFixture[str], log: TiledLog
) -> None:
    path = log.root / "checkpoint"
    policy = ["--witness", vkey(0), "--witness", vkey(1)]
    code, result = run_json(capsys, "verify", str(log.root), "--vkey", log.vkey, *policy)
    assert code == 1 and result["error"] == "WitnessQuorumNotMet"
    path.write_bytes(cosigned(path.read_bytes(), 0))
    code, result = run_json(capsys, "verify", str(log.root), "--vkey", log.vkey, *policy)
    assert code == 1, "the default quorum is every witness given"
    code, result = run_json(
        capsys, "verify", str(log.root), "--vkey", log.vkey, *policy, "--quorum", "1"
    )
    assert code == 0 and result["log"]["size"] == 300
    code, _ = run_json(
        capsys, "verify", str(log.root), "--vkey", log.vkey, *policy, "--quorum", "3"
    )
    assert code == 2


def test_audit_and_monitor_reject_an_unwitnessed_newer_checkpoint(
    capsys: pytest.CaptureFixture[str], log: TiledLog, tmp_path: Path
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(cosigned(log.checkpoint(100), 0))
    new.write_bytes(log.checkpoint(300))
    policy = ["--vkey", log.vkey, "--witness", vkey(0), "--log", str(log.root)]
    code, result = run_json(capsys, "audit", str(old), str(new), *policy)
    assert code == 1 and result["error"] == "WitnessQuorumNotMet"
    new.write_bytes(cosigned(log.checkpoint(300), 0))
    code, result = run_json(capsys, "audit", str(old), str(new), *policy)
    assert code == 0 and result["consistent"]

    state = str(tmp_path / "monitor.json")
    monitor = ["monitor", str(log.root), "--vkey", log.vkey, "--witness", vkey(1)]
    code, result = run_json(capsys, *monitor, "--state", state)
    assert code == 1 and result["error"] == "WitnessQuorumNotMet"
    assert not Path(state).exists()
    (log.root / "checkpoint").write_bytes(cosigned(log.checkpoint(300), 1))
    code, _ = run_json(capsys, *monitor, "--state", state)
    assert code == 0 and Path(state).exists()
