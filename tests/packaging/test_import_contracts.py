"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and they bite.

`lint-imports` checks the installed workspace. To show that a contract is not
vacuous, a copy of the sources gets one forbidden import and the same contracts
must then fail, naming the contract that broke.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "pyproject.toml"


def _lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert found, "lint-imports is missing: it comes with anima-dev[dev] (./dev test installs it)"
    return found


def _top_level_packages() -> dict[str, Path]:
    """Every importable top-level package of the workspace, by name."""
    found: dict[str, Path] = {}
    for member in REPO_ROOT.glob("*/pyproject.toml"):
        found.update(_packages_of(member.parent))
    for member in REPO_ROOT.glob("*/*/pyproject.toml"):
        found.update(_packages_of(member.parent))
    return found


def _packages_of(member: Path) -> dict[str, Path]:
    return {
        path.parent.name: path.parent
        for path in member.glob("*/__init__.py")
        if path.parent.name.startswith("anima")
    }


def _run(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_lint_imports(), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workspace_keeps_every_import_contract() -> None:
    result = _run(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_workspace_package_is_under_contract() -> None:
    # A new package (say anima_runtime_api) must join root_packages, or no
    # contract can name it and the linter would not see what it imports.
    settings = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
    assert set(_top_level_packages()) == set(settings["root_packages"])


@pytest.fixture(scope="module")
def pristine_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources")
    for name, path in _top_level_packages().items():
        shutil.copytree(path, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _copy_with(pristine: Path, target: Path, module: str, line: str) -> Path:
    shutil.copytree(pristine, target)
    path = target / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return target


def _run_on_copy(sources: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on sys.path, ahead of the editable installs' finders.
    return _run(sources, env={**os.environ, "PYTHONPATH": str(sources)})


def test_an_unchanged_copy_keeps_the_contracts(pristine_sources: Path) -> None:
    result = _run_on_copy(pristine_sources)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("anima_signer/core.py", "import anima_runtime.manager", "No service imports another"),
        ("anima_memory/service.py", "import anima_signer.keys", "No service imports another"),
        ("anima_core/config.py", "import anima_dev.cli", "Nothing but the dev stack"),
        ("anima_verify/tlog/merkle.py", "import grpc", "The verification library"),
        ("anima_verify/eth.py", "import httpx", "The verification library"),
        ("anima_verify/jsonsafe.py", "import anima_core.server", "The verification library"),
        ("anima_memory_api/types.py", "import anima_memory.service", "API packages import"),
        ("anima_signer/keys.py", "import numpy", "The enclave's package"),
        ("anima_signer/policy/engine.py", "import anima_signer.api.servicer", "Signer core logic"),
        ("anima_memory/store/base.py", "import grpc", "Memory core logic"),
        ("anima_runtime/agent/loop.py", "import fastapi", "Runtime core logic"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    pristine_sources: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    sources = _copy_with(pristine_sources, tmp_path / "sources", module, line)
    result = _run_on_copy(sources)
    assert result.returncode != 0, result.stdout
    # Others may break too: a module that imports the changed one imports its imports.
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(row.startswith(contract) for row in broken), result.stdout
