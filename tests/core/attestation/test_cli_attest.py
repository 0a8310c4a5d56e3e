"""`anima attest verify`: exit codes 0/1/2, text and --json output, as a handler and a process."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from anima_verify.cli.attest import register

from .conftest import FIXED_NOW, REPO_ROOT, flip, independent_window, raw_fields


def run_handler(argv: list[str]) -> int:
    """Parse like the `anima` entry point does (a subparser per command) and call the handler."""
    parser = argparse.ArgumentParser(prog="anima")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture
def files(tmp_path: Path, tdx_quote: bytes, tdx_collateral: bytes) -> tuple[Path, Path]:
    quote = tmp_path / "quote.bin"
    collateral = tmp_path / "collateral.json"
    quote.write_bytes(tdx_quote)
    collateral.write_bytes(tdx_collateral)
    return quote, collateral


def test_verified_quote_prints_its_fields_and_exits_0(
    files: tuple[Path, Path], tdx_quote: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    code = run_handler(
        ["attest", "verify", str(quote), "--collateral", str(collateral), "--now", str(FIXED_NOW)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "UpToDate" in out
    assert "advisory_ids  (none)" in out
    for name, value in raw_fields(tdx_quote).items():
        assert f"{name:<13} {value.hex()}" in out


def test_verified_quote_as_json(
    files: tuple[Path, Path], tdx_quote: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    argv = ["attest", "verify", str(quote), "--collateral", str(collateral)]
    code = run_handler([*argv, "--now", str(FIXED_NOW), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["verified"] is True
    assert report["reason"] is None
    fields = report["fields"]
    assert fields["tcb_status"] == "UpToDate"
    assert fields["advisory_ids"] == []
    assert fields["insecure"] is False
    for name, value in raw_fields(tdx_quote).items():
        assert fields[name] == value.hex()


def test_expired_collateral_exits_1_with_reason_on_stderr(
    files: tuple[Path, Path], tdx_collateral: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    _, end = independent_window(tdx_collateral)
    code = run_handler(
        ["attest", "verify", str(quote), "--collateral", str(collateral), "--now", str(end + 1)]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.startswith("rejected: ")
    assert "fetch fresh collateral" in captured.err


def test_forged_quote_exits_1_in_json(
    files: tuple[Path, Path], tdx_quote: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    quote.write_bytes(flip(tdx_quote, 48 + 136))
    argv = ["attest", "verify", str(quote), "--collateral", str(collateral)]
    code = run_handler([*argv, "--now", str(FIXED_NOW), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report == {
        "verified": False,
        "reason": report["reason"],
        "error": "QuoteVerificationFailed",
        "fields": None,
    }
    assert "signature is invalid" in report["reason"]


def test_garbage_quote_is_rejected_not_unreadable(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    quote.write_bytes(b"garbage")
    code = run_handler(["attest", "verify", str(quote), "--collateral", str(collateral)])
    assert code == 1
    assert "not a decodable TDX quote" in capsys.readouterr().err


def test_missing_file_exits_2(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, collateral = files
    missing = tmp_path / "no-such-quote"
    code = run_handler(["attest", "verify", str(missing), "--collateral", str(collateral)])
    assert code == 2
    assert f"cannot read {missing}" in capsys.readouterr().err


def test_collateral_not_json_exits_2_also_in_json(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    quote, collateral = files
    collateral.write_text("this is not json")
    argv = ["attest", "verify", str(quote), "--collateral", str(collateral), "--json"]
    code = run_handler(argv)
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert report["verified"] is False
    assert report["error"] == "MalformedCollateral"
    assert "not JSON" in report["reason"]


def test_negative_now_is_a_usage_error(files: tuple[Path, Path]) -> None:
    quote, collateral = files
    with pytest.raises(SystemExit) as caught:
        run_handler(
            ["attest", "verify", str(quote), "--collateral", str(collateral), "--now", "-1"]
        )
    assert caught.value.code == 2


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anima_verify.cli.main", "attest", "verify", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )


def test_module_entry_point_exit_codes(files: tuple[Path, Path], tmp_path: Path) -> None:
    quote, collateral = files
    ok = run_module(str(quote), "--collateral", str(collateral), "--now", str(FIXED_NOW), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verified"] is True

    expired = run_module(str(quote), "--collateral", str(collateral), "--now", "1900000000")
    assert expired.returncode == 1
    assert "rejected:" in expired.stderr

    missing = run_module(str(tmp_path / "nope"), "--collateral", str(collateral))
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
