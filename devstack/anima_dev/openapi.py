"""Write the runtime HTTP API's OpenAPI document to services/runtime/openapi.json.

    python -m anima_dev.openapi           # after a deliberate change to the HTTP API

The committed file is the HTTP contract, as proto/ is the gRPC one; a test checks
that the app still produces exactly it, so an API change shows up in review as a
change of this file. The document is what the app serves at /openapi.json under the
default configuration, as pretty JSON with sorted keys.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from anima_runtime.api.http import create_runtime_app
from anima_runtime.config import RuntimeConfig
from anima_runtime.handler import RuntimeHandler
from anima_runtime.log.reads import LogReads
from anima_runtime.log.registry import LogRegistry
from anima_runtime.manager import AgentManager

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_FILE = REPO_ROOT / "services" / "runtime" / "openapi.json"


class _NothingServed:
    """Stands in for the agents and logs behind the handler: building the document only
    declares routes, it never runs one."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name!r} used while only declaring the API's routes")


def runtime_openapi() -> dict[str, Any]:
    """The document the runtime's HTTP app serves at /openapi.json."""
    config = RuntimeConfig()
    handler = RuntimeHandler(
        manager=cast(AgentManager, _NothingServed()),
        logs=LogReads(
            cast(LogRegistry, _NothingServed()), max_page=config.log.api.max_page_entries
        ),
    )
    return create_runtime_app(handler, config).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    OPENAPI_FILE.write_text(render(runtime_openapi()), encoding="utf-8")
    print(f"wrote {OPENAPI_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
