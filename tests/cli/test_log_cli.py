"""`anima log verify-note | verify | audit`: exit codes, text and --json output."""

from __future__ import annotations

import argparse
import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anima_dev.cli import main
from anima_verify.cli import log as log_cli
from anima_verify.tlog.note import sign_note
from tests.tlog.http_server import serve_directory
from tests.tlog.tiled_log import TiledLog, write_tiled_log
from tests.vectors import require_vectors

#: The commands that take a witness policy. These tests' logs are unwitnessed, so they
#: name the insecure policy unless they give one (tests/cli/test_log_witness_policy.py).
WITNESSED_COMMANDS = ("verify", "audit", "monitor")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    if args[0] in WITNESSED_COMMANDS and not {"--witness", "--insecure-unwitnessed"} & set(args):
        args = (*args, "--insecure-unwitnessed")
    code = main(["log", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(capsys, *args, "--json")
    result: dict[str, Any] = json.loads(out)
    return code, result, err


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> TiledLog:
    return write_tiled_log(tmp_path_factory.mktemp("log"), 600, partial_sizes=[300])


@pytest.fixture
def vkey_file(pristine: TiledLog, tmp_path: Path) -> str:
    path = tmp_path / "log.vkey"
    path.write_text(pristine.vkey + "\n")
    return str(path)


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return str(tmp_path / name)


# ---------------------------------------------------------------- verify-note


def test_verify_note_accepts_the_c2sp_example(capsys: pytest.CaptureFixture[str]) -> None:
    vectors = require_vectors("note", "example.note", "example.vkey")
    code, out, err = run(
        capsys,
        "verify-note",
        str(vectors / "example.note"),
        "--vkey",
        str(vectors / "example.vkey"),
    )
    assert code == 0, err
    assert "signed by  example.com/foo+530d903a+" in out
    assert out.endswith("\nThis is an example message.\n")


def test_verify_note_with_the_key_inline_and_a_stranger_key_beside_it(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    stranger = TiledLog(pristine.root, "stranger", Ed25519PrivateKey.generate(), 0, [])
    note = _write(tmp_path, "note", pristine.checkpoint(600))
    code, result, _ = run_json(
        capsys, "verify-note", note, "--vkey", stranger.vkey, "--vkey", pristine.vkey
    )
    assert code == 0
    assert result["verified"] is True and result["signed_by"] == [pristine.vkey]
    assert result["text"].startswith(f"{pristine.origin}\n600\n")


def test_verify_note_rejects_another_key_with_the_reason(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    note = _write(tmp_path, "note", pristine.checkpoint(600, key=Ed25519PrivateKey.generate()))
    code, out, err = run(capsys, "verify-note", note, "--vkey", pristine.vkey)
    assert code == 1 and out == ""
    assert err.startswith("rejected: note is not signed by any of the given keys")
    code, result, _ = run_json(capsys, "verify-note", note, "--vkey", pristine.vkey)
    assert (code, result["verified"], result["error"]) == (1, False, "UnknownKey")


def test_verify_note_rejects_a_forged_signature(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    note = pristine.checkpoint(600).replace(b"\n600\n", b"\n601\n")
    code, result, err = run_json(
        capsys, "verify-note", _write(tmp_path, "n", note), "--vkey", pristine.vkey
    )
    assert (code, result["error"]) == (1, "InvalidSignature")
    assert "does not verify" in err


def test_verify_note_cannot_read_the_note(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "verify-note", str(tmp_path / "absent"), "--vkey", pristine.vkey)
    assert (code, out) == (2, "") and "cannot read" in err


@pytest.mark.parametrize("vkey", ["not-a-key", "a+00000000+AQ=="])
def test_a_malformed_vkey_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, vkey: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["log", "verify-note", str(tmp_path), "--vkey", vkey])
    assert caught.value.code == 2
    assert "--vkey" in capsys.readouterr().err


# ---------------------------------------------------------------- verify


def test_verify_a_log_directory(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str
) -> None:
    code, out, err = run(capsys, "verify", str(pristine.root), "--vkey", vkey_file)
    assert code == 0, err
    root = pristine.root_hash()
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["origin"] == pristine.origin and lines["size"] == "600"
    assert lines["root"] == base64.b64encode(root).decode()
    assert lines["root_hex"] == root.hex()
    assert lines["entries"] == "600 checked"
    assert lines["tiles"] == "4 hash tiles, 3 bundles"


def test_verify_json(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str
) -> None:
    code, result, _ = run_json(capsys, "verify", str(pristine.root), "--vkey", vkey_file)
    assert code == 0 and result["verified"] is True and result["error"] is None
    log = result["log"]
    assert (log["origin"], log["size"], log["entries_checked"]) == (pristine.origin, 600, 600)
    assert log["root_hex"] == pristine.root_hash().hex()
    assert base64.b64decode(log["root_base64"]) == pristine.root_hash()
    assert (log["tiles_checked"], log["bundles_checked"]) == (4, 3)
    assert log["checkpoint"] == pristine.path("checkpoint").read_text()


def test_verify_a_log_over_http(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str
) -> None:
    with serve_directory(pristine.root) as url:
        code, result, err = run_json(capsys, "verify", url, "--vkey", vkey_file)
    assert code == 0, err
    assert result["log"]["root_hex"] == pristine.root_hash().hex()


def test_verify_names_a_tampered_tile(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    root = tmp_path / "log"
    write_tiled_log(root, 600, key=pristine.key)
    tile = root / "tile" / "0" / "001"
    data = bytearray(tile.read_bytes())
    data[33 * 32] ^= 0xFF
    tile.write_bytes(bytes(data))
    code, out, err = run(capsys, "verify", str(root), "--vkey", vkey_file)
    assert code == 1 and out == ""
    assert "rejected: hash tile tile/0/001 holds" in err and "position 33, but entry 289" in err
    code, result, _ = run_json(capsys, "verify", str(root), "--vkey", vkey_file)
    assert (code, result["verified"], result["error"]) == (1, False, "TileMismatch")
    assert "tile/0/001" in result["reason"]


def test_verify_rejects_a_checkpoint_by_another_key(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    stranger = TiledLog(pristine.root, pristine.origin, Ed25519PrivateKey.generate(), 0, [])
    code, result, _ = run_json(capsys, "verify", str(pristine.root), "--vkey", stranger.vkey)
    assert (code, result["error"]) == (1, "UnknownKey")


def test_verify_cannot_read_the_log(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    code, result, err = run_json(
        capsys, "verify", str(tmp_path / "absent"), "--vkey", pristine.vkey
    )
    assert (code, result["error"]) == (2, "LogSourceError")
    assert "is not a readable directory" in err
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    code, out, err = run(capsys, "verify", url, "--vkey", pristine.vkey)
    assert (code, out) == (2, "") and err.startswith(f"error: GET {url}checkpoint failed")


def test_a_malformed_url_is_unreadable_input_not_a_rejection(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, tmp_path: Path
) -> None:
    """Regression: httpx.InvalidURL escaped as a traceback with exit 1 ("rejected")."""
    code, result, err = run_json(capsys, "verify", "http://[::1", "--vkey", pristine.vkey)
    assert (code, result["error"]) == (2, "LogSourceError")
    assert "'http://[::1' is not a valid URL" in err and "Traceback" not in err
    note = _write(tmp_path, "note", pristine.checkpoint(600))
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    code, out, err = run(
        capsys, "audit", old, note, "--vkey", pristine.vkey, "--log", "http://[::1"
    )
    assert (code, out) == (2, "") and "is not a valid URL" in err


# ---------------------------------------------------------------- audit


def test_audit_consistent_checkpoints(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    new = _write(tmp_path, "new", pristine.checkpoint(600))
    code, out, err = run(
        capsys, "audit", old, new, "--vkey", vkey_file, "--log", str(pristine.root)
    )
    assert code == 0, err
    assert out.startswith("consistent yes\n") and "size 300" in out and "size 600" in out
    code, result, _ = run_json(
        capsys, "audit", old, new, "--vkey", vkey_file, "--log", str(pristine.root)
    )
    assert code == 0 and result["consistent"] is True and result["evidence"] is None
    assert result["old"]["root_hex"] == pristine.root_hash(300).hex()
    assert result["new"]["size"] == 600 and len(result["proof"]) > 0


def test_audit_over_http(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old", pristine.checkpoint(1))
    new = _write(tmp_path, "new", pristine.checkpoint(600))
    with serve_directory(pristine.root) as url:
        code, result, err = run_json(capsys, "audit", old, new, "--vkey", vkey_file, "--log", url)
    assert code == 0, err
    assert result["consistent"] is True


def test_audit_equivocation_prints_both_notes(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    honest = pristine.checkpoint(300)
    forged = pristine.checkpoint(300, root=pristine.root_hash(299))
    first, second = _write(tmp_path, "a", honest), _write(tmp_path, "b", forged)
    code, out, err = run(capsys, "audit", first, second, "--vkey", vkey_file)
    assert code == 3
    assert err.startswith("equivocation: two signed checkpoints of 'example.com/test-log' at")
    assert out == f"--- first_note\n{honest.decode()}--- second_note\n{forged.decode()}"
    code, result, _ = run_json(capsys, "audit", first, second, "--vkey", vkey_file)
    assert code == 3
    assert result["consistent"] is False and result["equivocation"] is True
    assert result["error"] == "Equivocation"
    assert result["evidence"] == {"first_note": honest.decode(), "second_note": forged.decode()}


def test_audit_fork_is_inconsistent(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    fork = write_tiled_log(
        tmp_path / "fork", 600, entry=lambda i: b"x%d" % i, key=pristine.key, origin=pristine.origin
    )
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    new = _write(tmp_path, "new", fork.checkpoint(600))
    code, result, err = run_json(
        capsys, "audit", old, new, "--vkey", vkey_file, "--log", str(fork.root)
    )
    assert (code, result["consistent"], result["equivocation"]) == (1, False, False)
    assert result["error"] == "InconsistentLog" and err.startswith("rejected: fork")
    assert "fork" in result["reason"] and "size 600" in result["reason"]


def test_audit_different_sizes_need_a_log(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    new = _write(tmp_path, "new", pristine.checkpoint(600))
    code, out, err = run(capsys, "audit", old, new, "--vkey", vkey_file)
    assert (code, out) == (2, "") and "need the log's tiles" in err


def test_audit_rejects_another_key_and_unreadable_files(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    stranger = pristine.checkpoint(300, key=Ed25519PrivateKey.generate())
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    code, result, _ = run_json(
        capsys, "audit", old, _write(tmp_path, "s", stranger), "--vkey", vkey_file
    )
    assert (code, result["error"]) == (1, "UnknownKey")
    code, out, err = run(capsys, "audit", old, str(tmp_path / "absent"), "--vkey", vkey_file)
    assert (code, out) == (2, "") and "cannot read" in err


def test_audit_a_rollback_exits_4_with_both_notes(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    """The bug: `audit LAST_SEEN SERVED` exited 0 "consistent" when the host served an
    older or truncated log, since the two checkpoints were put in size order."""
    seen, served = pristine.checkpoint(600), pristine.checkpoint(300)
    old, new = _write(tmp_path, "seen", seen), _write(tmp_path, "served", served)
    code, out, err = run(
        capsys, "audit", old, new, "--vkey", vkey_file, "--log", str(pristine.root)
    )
    assert code == 4
    assert err.startswith("rollback: the log 'example.com/test-log' was seen at size 600")
    assert out == f"--- old_note\n{seen.decode()}--- new_note\n{served.decode()}"
    code, result, _ = run_json(capsys, "audit", old, new, "--vkey", vkey_file)
    assert code == 4
    assert (result["consistent"], result["rollback"], result["equivocation"]) == (
        False,
        True,
        False,
    )
    assert result["error"] == "Rollback"
    assert result["evidence"] == {"old_note": seen.decode(), "new_note": served.decode()}
    code, result, _ = run_json(
        capsys, "audit", new, old, "--vkey", vkey_file, "--log", str(pristine.root)
    )
    assert (code, result["consistent"], result["rollback"]) == (0, True, False)


# ---------------------------------------------------------------- monitor


def test_monitor_stores_extends_and_alarms_on_rollback(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    log = write_tiled_log(
        tmp_path / "log", 600, key=pristine.key, origin=pristine.origin, partial_sizes=[300]
    )
    state = str(tmp_path / "state.json")
    monitor = ("monitor", str(log.root), "--vkey", vkey_file, "--state", state)
    log.write_checkpoint(300)
    code, out, err = run(capsys, *monitor)
    assert code == 0, err
    assert out.startswith("ok         first\norigin     example.com/test-log\n")
    log.write_checkpoint(600)
    code, result, err = run_json(capsys, *monitor)
    assert code == 0, err
    assert (result["ok"], result["outcome"], result["alarm"]) == (True, "extended", None)
    assert (result["previous"]["size"], result["current"]["size"]) == (300, 600)
    assert result["proof"]
    stored = (tmp_path / "state.json").read_bytes()

    log.write_checkpoint(300)
    code, out, err = run(capsys, *monitor)
    assert code == 4 and err.startswith("rollback: ")
    assert out.startswith(f"--- old_note\n{log.checkpoint(600).decode()}--- new_note\n")
    code, result, _ = run_json(capsys, *monitor)
    assert (code, result["ok"], result["alarm"], result["error"]) == (
        4,
        False,
        "rollback",
        "Rollback",
    )
    assert (tmp_path / "state.json").read_bytes() == stored


def test_monitor_alarms_on_equivocation_and_fork(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    state = str(tmp_path / "state.json")
    log = write_tiled_log(tmp_path / "log", 600, key=pristine.key, origin=pristine.origin)
    monitor = ("monitor", str(log.root), "--vkey", vkey_file, "--state", state)
    assert run(capsys, *monitor)[0] == 0
    log.write_checkpoint(600, root=log.root_hash(599))
    code, result, err = run_json(capsys, *monitor)
    assert (code, result["alarm"], result["error"]) == (3, "equivocation", "Equivocation")
    assert set(result["evidence"]) == {"first_note", "second_note"}
    assert err.startswith("equivocation: ")

    fork = write_tiled_log(
        tmp_path / "fork", 900, entry=lambda i: b"x%d" % i, key=pristine.key, origin=pristine.origin
    )
    code, result, err = run_json(
        capsys, "monitor", str(fork.root), "--vkey", vkey_file, "--state", state
    )
    assert (code, result["alarm"], result["error"]) == (1, "fork", "InconsistentLog")
    assert err.startswith("rejected: fork: ")


def test_monitor_over_http(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "version": 1,
                "logs": {pristine.origin: {"checkpoint": pristine.checkpoint(300).decode()}},
            }
        )
    )
    with serve_directory(pristine.root) as url:
        code, result, err = run_json(
            capsys, "monitor", url, "--vkey", vkey_file, "--state", str(state)
        )
    assert code == 0, err
    assert (result["outcome"], result["previous"]["size"], result["current"]["size"]) == (
        "extended",
        300,
        600,
    )


def test_monitor_state_and_log_problems_are_unusable_input(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    state.write_text("{broken")
    code, result, err = run_json(
        capsys, "monitor", str(pristine.root), "--vkey", vkey_file, "--state", str(state)
    )
    assert (code, result["error"], result["alarm"]) == (2, "MonitorStateError", None)
    assert "is not JSON" in err and state.read_text() == "{broken"
    code, result, _ = run_json(
        capsys, "monitor", str(tmp_path / "absent"), "--vkey", vkey_file, "--state", str(state)
    )
    assert (code, result["error"]) == (2, "LogSourceError")
    stranger = Ed25519PrivateKey.generate()
    other = write_tiled_log(tmp_path / "other", 5, key=stranger, origin=pristine.origin)
    code, result, _ = run_json(
        capsys, "monitor", str(other.root), "--vkey", vkey_file, "--state", str(tmp_path / "s2")
    )
    assert (code, result["error"], result["alarm"]) == (1, "UnknownKey", "invalid")
    assert not (tmp_path / "s2").exists()


# ---------------------------------------------------------------- parser faults


def _non_ascii_in_base64(note: bytes) -> bytes:
    """The note with an e-acute inside its signature's base64 (and one in the root's)."""
    text, _, signature = note.decode().rpartition("\n\n")
    body = text.split("\n")
    body[2] = "\u00e9" + body[2][1:]
    return ("\n".join(body) + "\n\n" + signature[:-8] + "\u00e9" + signature[-7:]).encode()


def test_non_ascii_base64_is_a_rejection_not_a_traceback(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    """Regression: base64 raised a bare ValueError for non-ASCII text, so verify-note,
    verify and audit died with a traceback on such a note or checkpoint."""
    bad = _non_ascii_in_base64(pristine.checkpoint(300))
    note = _write(tmp_path, "bad", bad)
    code, result, err = run_json(capsys, "verify-note", note, "--vkey", vkey_file)
    assert (code, result["error"]) == (1, "MalformedNote"), err
    assert "not valid base64" in err and "Traceback" not in err

    log = write_tiled_log(tmp_path / "log", 20, key=pristine.key, origin=pristine.origin)
    (log.root / "checkpoint").write_bytes(_non_ascii_in_base64(log.checkpoint()))
    code, result, err = run_json(capsys, "verify", str(log.root), "--vkey", vkey_file)
    assert (code, result["error"]) == (1, "MalformedNote"), err

    old = _write(tmp_path, "old", pristine.checkpoint(300))
    code, result, err = run_json(capsys, "audit", old, note, "--vkey", vkey_file)
    assert (code, result["error"]) == (1, "MalformedNote"), err
    assert "Traceback" not in err


def test_a_checkpoint_body_with_non_ascii_base64_is_malformed(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog, vkey_file: str, tmp_path: Path
) -> None:
    """Signed as it is (so the signature verifies): the body's root hash is the fault."""
    root = "\u00e9" + base64.b64encode(pristine.root_hash(300)).decode()[1:]
    text = f"{pristine.origin}\n300\n{root}\n"
    signed = sign_note(text, name=pristine.origin, private_key=pristine.key).to_bytes()
    old = _write(tmp_path, "old", pristine.checkpoint(300))
    code, result, err = run_json(
        capsys, "audit", old, _write(tmp_path, "new", signed), "--vkey", vkey_file
    )
    assert (code, result["error"]) == (1, "MalformedCheckpoint"), err
    assert "root hash is not valid base64" in err


def test_a_vkey_with_an_undecodable_byte_is_unusable_input(
    capsys: pytest.CaptureFixture[str], pristine: TiledLog
) -> None:
    """An undecodable byte in argv reaches Python as a lone surrogate."""
    name, rest = pristine.vkey.split("+", 1)
    with pytest.raises(SystemExit) as exit_:
        run(capsys, "verify", str(pristine.root), "--vkey", f"{name}\udcff+{rest}")
    assert exit_.value.code == 2
    assert "not a valid key name" in capsys.readouterr().err


# ---------------------------------------------------------------- extension


def test_other_packages_can_add_log_subcommands() -> None:
    """The hook the runtime uses for `anima log serve`."""
    parser = argparse.ArgumentParser(prog="anima")
    log_commands = log_cli.register(parser.add_subparsers(dest="command", required=True))
    serve = log_commands.add_parser("serve")
    serve.add_argument("--port", type=int)
    args = parser.parse_args(["log", "serve", "--port", "8080"])
    assert (args.command, args.log_command, args.port) == ("log", "serve", 8080)
