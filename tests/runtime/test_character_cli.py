"""`anima character inspect FILE [--json]`: exit codes, text and JSON output, and no
secret value in either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from anima_runtime.character.cli import main
from anima_runtime.character.model import READ_FIELDS
from tests.runtime.conftest import CHARACTERS

FIXTURES = Path(__file__).parent / "fixtures" / "characters"
V025 = FIXTURES / "v025-full.character.json"
V1 = FIXTURES / "v1-secrets.character.json"
REAL = sorted(CHARACTERS.glob("*.character.json"))
PLANTED = "PLANTED"  # in every secret value the fixtures plant


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["character", "inspect", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, out, err = run(capsys, str(path), "--json")
    assert (code, err) == (0, "")
    result: dict[str, Any] = json.loads(out)
    return result


def count(value: str | list[str] | None) -> int:
    if not value:
        return 0
    return 1 if isinstance(value, str) else len(value)


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_inspect_json_reports_what_the_real_file_holds(
    capsys: pytest.CaptureFixture[str], path: Path
) -> None:
    raw = json.loads(path.read_text("utf-8"))
    info = run_json(capsys, path)
    assert info["file"] == str(path)
    assert info["name"] == raw["name"]
    assert info["shape"] == "v0.25"
    assert info["bio"] == count(raw["bio"])
    assert info["lore"] == count(raw["lore"])
    assert info["message_examples"] == len(raw["messageExamples"])
    assert info["message_example_lines"] == sum(len(c) for c in raw["messageExamples"])
    assert info["post_examples"] == len(raw["postExamples"])
    assert info["topics"] == len(raw["topics"])
    assert info["adjectives"] == len(raw["adjectives"])
    assert info["style"] == {k: len(raw["style"].get(k, [])) for k in ("all", "chat", "post")}
    assert info["knowledge"]["items"] == len(raw.get("knowledge", []))
    assert info["plugins"] == raw["plugins"]
    assert info["templates"] == []
    assert info["model_provider"] == raw["modelProvider"]
    assert info["settings"] == [k for k in raw["settings"] if k != "secrets"]
    assert info["secrets"] == len(raw["settings"].get("secrets", {}))
    assert info["kept_fields"] == [k for k in raw if k not in READ_FIELDS]


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_inspect_text_names_the_character(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    raw = json.loads(path.read_text("utf-8"))
    code, out, err = run(capsys, str(path))
    assert (code, err) == (0, "")
    assert f"name:             {raw['name']}\n" in out
    assert "shape:            v0.25\n" in out
    assert f"topics:           {len(raw['topics'])}\n" in out
    assert f"model provider:   {raw['modelProvider']}\n" in out


def test_inspect_v025_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(capsys, V025)
    assert info["name"] == "Ada Völund 🦉"
    assert info["username"] == "ada"
    assert info["system_prompt"] is True
    assert (info["bio"], info["lore"]) == (1, 2)
    assert (info["message_examples"], info["message_example_lines"]) == (2, 5)
    assert info["knowledge"] == {"items": 4, "texts": 1, "paths": 2, "directories": 1}
    assert info["plugins"] == ["@elizaos/plugin-bootstrap", "@elizaos/plugin-sql"]
    assert info["templates"] == ["factsTemplate", "messageHandlerTemplate"]
    assert info["settings"] == ["voice", "model", "modelConfig"]
    assert info["secrets"] == 2
    assert info["kept_fields"] == ["clients", "imageModelProvider", "twitterProfile", "extends"]

    code, out, _ = run(capsys, str(V025))
    assert code == 0
    assert "name:             Ada Völund 🦉\n" in out
    assert "templates:        factsTemplate, messageHandlerTemplate\n" in out
    assert "secrets:          2 (values not shown)\n" in out
    assert "kept fields:      clients, imageModelProvider, twitterProfile, extends\n" in out
    assert "knowledge:        4 items (1 texts, 2 files, 1 directories)\n" in out


def test_inspect_v1_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    info = run_json(capsys, V1)
    assert info["shape"] == "v1"
    assert info["secrets"] == 3
    assert info["lore"] == 0
    assert info["templates"] == ["replyTemplate"]
    assert info["kept_fields"] == ["id"]


@pytest.mark.parametrize("path", [V025, V1], ids=["v0.25", "v1"])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_inspect_never_prints_a_secret(
    capsys: pytest.CaptureFixture[str], path: Path, as_json: bool
) -> None:
    assert PLANTED in path.read_text("utf-8")
    code, out, err = run(capsys, str(path), *(["--json"] if as_json else []))
    assert code == 0
    assert PLANTED not in out + err
    assert "OPENAI_API_KEY" not in out  # not even the names: a count only


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("invalid-not-json", "not JSON: Expecting ',' delimiter (line 4, column 1)"),
        ("invalid-not-object", "expected a JSON object, got a list"),
        (
            "invalid-example-text",
            "messageExamples[2][0].content.text: expected a string, got a number",
        ),
        ("invalid-secret-number", "settings.secrets.API_PORT: expected a string, got a number"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_inspect_invalid_character_exits_1(
    capsys: pytest.CaptureFixture[str], file: str, reason: str, as_json: bool
) -> None:
    path = FIXTURES / f"{file}.character.json"
    code, out, err = run(capsys, str(path), *(["--json"] if as_json else []))
    assert (code, out) == (1, "")
    assert err == f"anima character inspect: {path}: {reason}\n"


def test_inspect_missing_file_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "absent.character.json"
    code, out, err = run(capsys, str(path))
    assert (code, out) == (1, "")
    assert err == f"anima character inspect: {path}: cannot read: No such file or directory\n"


def test_inspect_directory_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path))
    assert code == 1
    assert err.startswith(f"anima character inspect: {tmp_path}: cannot read: ")


def test_inspect_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["character", "inspect"])
    assert exited.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_anima_character_inspect_as_a_process() -> None:
    # Needs the lead's one line in devstack/anima_dev/cli.py's build_parser:
    #     character_cli.register(commands)
    # (from anima_runtime.character import cli as character_cli). Until then it skips.
    done = subprocess.run(
        [sys.executable, "-m", "anima_dev.cli", "character", "inspect", str(V1), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode == 2 and "invalid choice: 'character'" in done.stderr:
        pytest.skip("`anima character` is not registered in anima_dev.cli yet")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["name"] == "Bram"
    assert PLANTED not in done.stdout
