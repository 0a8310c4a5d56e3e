"""`anima-verify lightclient check-vectors` (also `anima lightclient check-vectors`):
exit 0 only when every step of every case matched, 1 on a mismatch, 2 unreadable."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.spectest import load_chain_config
from anima_verify.cli.main import main
from tests.beacon.beacon_api_server import node_data, serve_beacon_api
from tests.beacon.chain_builder import SyntheticChain
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


# ---------------------------------------------------------------- sync


def chain_config_file(tmp_path: Path, now_slot: int) -> tuple[Path, ChainConfig]:
    """A consensus-specs config.yaml for the synthetic chain, its genesis set so that
    the wall clock now is `now_slot`."""
    genesis = int(time.time()) - now_slot * 6
    text = "\n".join(
        [
            "PRESET_BASE: 'minimal'",
            "CONFIG_NAME: 'synthetic'",
            f"MIN_GENESIS_TIME: {genesis}",
            "GENESIS_DELAY: 0",
            "SECONDS_PER_SLOT: 6",
            "GENESIS_FORK_VERSION: 0x00000009",
            "ALTAIR_FORK_VERSION: 0x01000009",
            "ALTAIR_FORK_EPOCH: 0",
            "BELLATRIX_FORK_VERSION: 0x02000009",
            "BELLATRIX_FORK_EPOCH: 0",
            "CAPELLA_FORK_VERSION: 0x03000009",
            "CAPELLA_FORK_EPOCH: 0",
            "DENEB_FORK_VERSION: 0x04000009",
            "DENEB_FORK_EPOCH: 0",
            "ELECTRA_FORK_VERSION: 0x05000009",
            "ELECTRA_FORK_EPOCH: 16",
            "",
        ]
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = load_chain_config(path, GENESIS_VALIDATORS_ROOT)
    return path, config


GENESIS_VALIDATORS_ROOT = bytes.fromhex("11" * 32)


@pytest.mark.parametrize("wire", ["json", "ssz"])
def test_sync_prints_the_verified_heads_and_resumes_from_its_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], wire: str
) -> None:
    path, config = chain_config_file(tmp_path, now_slot=3 * 64 + 60)
    chain = SyntheticChain(config)
    data, root = node_data(chain)
    state = tmp_path / "state.json"
    args = [
        "lightclient",
        "sync",
        "--checkpoint",
        "0x" + root.hex(),
        "--chain-config",
        str(path),
        "--genesis-validators-root",
        "0x" + GENESIS_VALIDATORS_ROOT.hex(),
        "--state",
        str(state),
        "--json",
        *(["--ssz"] if wire == "ssz" else []),
    ]
    with serve_beacon_api(data) as url:
        assert main([*args, "--beacon-url", url]) == 0
        heads = json.loads(capsys.readouterr().out)
        assert heads["finalized"]["beacon_slot"] == 3 * 64 + 40
        assert heads["finalized"]["block_number"] == 1000 + 3 * 64 + 40
        expected = chain.header(3 * 64 + 40)[0].execution
        assert heads["finalized"]["block_hash"] == "0x" + bytes(expected.block_hash).hex()
        assert heads["optimistic"]["beacon_slot"] == 3 * 64 + 55
        data.requests.clear()
        assert main([*args, "--beacon-url", url]) == 0
    assert json.loads(capsys.readouterr().out)["finalized"] == heads["finalized"]
    assert not any("bootstrap" in r for r in data.requests)


def test_sync_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, config = chain_config_file(tmp_path, now_slot=3 * 64 + 60)
    chain = SyntheticChain(config)
    data, root = node_data(chain)
    base = [
        "lightclient",
        "sync",
        "--chain-config",
        str(path),
        "--genesis-validators-root",
        "0x" + GENESIS_VALIDATORS_ROOT.hex(),
    ]
    with serve_beacon_api(data) as url:
        wrong_root = ["--checkpoint", "0x" + "ab" * 32, "--beacon-url", url]
        assert main([*base, *wrong_root]) == 2  # the node has no such bootstrap: 404
        forged = chain.update(0, 3 * 64 + 56, kind="optimistic_update", signers=[0])
        forged.sync_aggregate.sync_committee_bits[1] = True
        data.optimistic_update = forged
        assert main([*base, "--checkpoint", "0x" + root.hex(), "--beacon-url", url]) == 1
        assert "refused: InvalidSyncSignature" in capsys.readouterr().err
    assert (
        main(
            [
                "lightclient",
                "sync",
                "--checkpoint",
                "0x" + root.hex(),
                "--chain-config",
                str(path),
                "--beacon-url",
                "http://127.0.0.1:9",
            ]
        )
        == 2
    )
    assert "--genesis-validators-root" in capsys.readouterr().err
