"""`anima-verify lightclient check-vectors` (also `anima lightclient check-vectors`):
exit 0 only when every step of every case matched, 1 on a mismatch, 2 unreadable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anima_verify.cli.main import main
from tests.beacon.conftest import CASES
from tests.vectors import require_vectors


@pytest.fixture
def cases() -> list[Path]:
    base = require_vectors("beacon-light-client", *(f"deneb/{c}/steps.yaml" for c in CASES))
    return [base / "deneb" / c for c in CASES]


def copy_case(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / source.name
    shutil.copytree(source, target)
    return target


def test_all_cases_match(cases: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lightclient", "check-vectors", *map(str, cases)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{cases[0]}: 10/10 steps matched" in out
    assert "  ok     5 force_update" in out
    assert "FAIL" not in out


def test_one_mismatching_step_fails_the_run(
    cases: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy_case(cases[0], tmp_path)
    steps = (broken / "steps.yaml").read_text().replace("{slot: 24,", "{slot: 25,", 1)
    (broken / "steps.yaml").write_text(steps)
    code = main(["lightclient", "check-vectors", "--json", str(broken), str(cases[1])])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [r["matched"] for r in lines] == [False, True]
    assert [s["index"] for s in lines[0]["steps"] if not s["matched"]] == [0]
    assert "slot is 24, expected 25" in lines[0]["steps"][0]["detail"]


def test_a_refused_update_is_a_mismatch_with_its_reason(
    cases: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy_case(cases[2], tmp_path)
    steps = (broken / "steps.yaml").read_text().replace("current_slot: 33", "current_slot: 1")
    (broken / "steps.yaml").write_text(steps)
    assert main(["lightclient", "check-vectors", str(broken)]) == 1
    assert "FAIL   0 process_update  refused: InvalidUpdateSlots" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["missing", "not yaml", "not snappy"])
def test_unreadable_input_exits_2(
    cases: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    broken = copy_case(cases[2], tmp_path)
    if damage == "missing":
        (broken / "meta.yaml").unlink()
    elif damage == "not yaml":
        (broken / "steps.yaml").write_text("- [unclosed\n")
    else:
        (broken / "bootstrap.ssz_snappy").write_bytes(b"\xff" * 40)
    code = main(["lightclient", "check-vectors", str(cases[1]), str(broken)])
    captured = capsys.readouterr()
    assert code == 2
    assert "5/5 steps matched" in captured.out  # the readable case still ran
    assert captured.err.startswith("error: ")


def test_the_umbrella_command_has_it(cases: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    from anima_dev.cli import main as anima

    assert anima(["lightclient", "check-vectors", str(cases[2])]) == 0
    assert "1/1 steps matched" in capsys.readouterr().out


def test_without_the_vectors_extra_it_says_what_to_install(
    cases: list[Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # as if pyyaml were absent
    assert main(["lightclient", "check-vectors", str(cases[2])]) == 2
    assert "install anima-verify[vectors]" in capsys.readouterr().err
