"""The runtime never decodes gRPC by hand: the signer's and the memory service's API
clients raise their typed errors, so no AioRpcError, status code or grpc import belongs
in the runtime's source (the import-linter contracts say the same for its core). Only
its own gRPC transport (the RuntimeService servicer and its server) imports grpc, to
serve; it too names no client error or status code: domain errors map by one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import anima_runtime

SOURCE = Path(anima_runtime.__file__).parent
FILES = sorted(SOURCE.rglob("*.py"))
GRPC_IMPORT = re.compile(r"^\s*(?:import grpc\b|from grpc\b)", re.M)
#: The runtime's own gRPC transport: what serves RuntimeService.
TRANSPORT = {SOURCE / "api" / "grpc_servicer.py", SOURCE / "grpc_serve.py"}


def test_the_runtime_has_sources_to_check() -> None:
    assert len(FILES) > 20 and SOURCE / "manager" / "agents.py" in FILES
    assert set(FILES) >= TRANSPORT


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_runtime_module_imports_grpc_or_names_its_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path not in TRANSPORT:
        assert GRPC_IMPORT.search(text) is None, "import the API packages' typed errors instead"
    assert "AioRpcError" not in text
    assert "StatusCode" not in text
