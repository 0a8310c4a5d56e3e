"""The contracts stay lint-clean, and no change breaks existing clients silently.

`buf breaking` compares proto/ with the committed baseline image
(proto/buf.image.binpb, rules FILE in buf.yaml); `./dev contracts-image`
replaces the baseline on purpose. The last test proves the check can fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.conftest import REPO_ROOT

PROTO = REPO_ROOT / "proto"
IMAGE = PROTO / "buf.image.binpb"
SIGNER_PROTO = Path("proto/anima/signer/v1/signer.proto")


def run_buf(buf: Path, *args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(buf), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_buf_lint_is_clean(buf: Path) -> None:
    result = run_buf(buf, "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_contracts_do_not_break_the_committed_image(buf: Path) -> None:
    assert IMAGE.is_file(), f"{IMAGE} is missing: build it with `./dev contracts-image`"
    result = run_buf(buf, "breaking", "--against", str(IMAGE))
    assert result.returncode == 0, (
        "proto/ breaks existing clients (below). Keep the wire and the names compatible, "
        "or, if the break is deliberate, accept it with `./dev contracts-image` and commit "
        "the new image.\n" + result.stdout + result.stderr
    )


# (what is changed in signer.proto, into what, the buf rule that must object, words it must name)
BREAKING_CHANGES = {
    "a deleted field": (
        "  string idempotency_key = 2;\n",
        "",
        "FIELD_NO_DELETE",
        ("idempotency_key", "SignRequest"),
    ),
    "a field of another type": (
        "  uint64 chain_id = 3;\n",
        "  string chain_id = 3;\n",
        "FIELD_SAME_TYPE",
        ("chain_id", "EthTransaction"),
    ),
    # Same wire bytes, but generated code (and proto-loader objects) use the name.
    "a renamed field": (
        "  bytes nonce = 1;\n",
        "  bytes challenge = 1;\n",
        "FIELD_SAME_NAME",
        ("nonce", "challenge"),
    ),
}


@pytest.mark.parametrize("change", list(BREAKING_CHANGES))
def test_breaking_check_fails_on(change: str, buf: Path, tmp_path: Path) -> None:
    before, after, rule, names = BREAKING_CHANGES[change]
    shutil.copytree(PROTO, tmp_path / "proto")
    shutil.copy(REPO_ROOT / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / SIGNER_PROTO
    text = proto.read_text()
    assert text.count(before) == 1, f"signer.proto no longer has {before.strip()!r}"
    proto.write_text(text.replace(before, after))

    result = run_buf(
        buf, "breaking", "--against", str(IMAGE), "--error-format", "json", cwd=tmp_path
    )

    assert result.returncode != 0, f"buf breaking accepted {change}"
    errors: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines()]
    found = [e for e in errors if e["type"] == rule]
    assert found, f"expected {rule}, buf said: {result.stdout}{result.stderr}"
    assert found[0]["path"] == str(SIGNER_PROTO)
    assert all(name in found[0]["message"] for name in names), found[0]["message"]
