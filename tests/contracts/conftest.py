"""The Node tooling the contract tests run: buf, and node with the pinned packages.

`./dev test` installs node_modules from package-lock.json before pytest runs, so
a missing tool is a broken setup, not a reason to skip: these tests fail and
say how to fix it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO_ROOT / "node_modules"
INSTALL_HINT = "run `./dev test` (it runs `npm ci` from package-lock.json) or `npm ci` yourself"


@pytest.fixture(scope="session")
def buf() -> Path:
    path = NODE_MODULES / ".bin" / "buf"
    if not path.exists():
        pytest.fail(f"buf is not installed at {path}: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: the Node client test needs Node.js 20.19+")
    if not (NODE_MODULES / "@grpc" / "grpc-js").is_dir():
        pytest.fail(f"the Node client's packages are not installed: {INSTALL_HINT}")
    return found
