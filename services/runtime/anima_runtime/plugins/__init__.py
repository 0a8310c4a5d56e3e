"""Plugins with ElizaOS semantics: the part types, the bootstrap plugin, knowledge,
and the registry that picks an agent's plugins.

The part types load with the package. Everything else loads on first use: the
agent modules import `plugins.types`, and the bootstrap plugin imports them back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from anima_runtime.plugins.types import (
    Action,
    ActionResult,
    AgentContext,
    Content,
    Evaluator,
    EvaluatorResult,
    ExampleLine,
    HandlerCallback,
    Message,
    Plugin,
    Provider,
    ProviderResult,
    Service,
)

if TYPE_CHECKING:
    from anima_runtime.plugins.bootstrap import bootstrap_plugin
    from anima_runtime.plugins.knowledge.chunking import chunk_text
    from anima_runtime.plugins.knowledge.ingest import (
        IngestedDocument,
        IngestReport,
        ingest_knowledge,
    )
    from anima_runtime.plugins.knowledge.provider import knowledge_provider
    from anima_runtime.plugins.knowledge.sources import SkippedSource
    from anima_runtime.plugins.registry import resolve_plugins

_LAZY = {
    "bootstrap_plugin": "anima_runtime.plugins.bootstrap",
    "IngestReport": "anima_runtime.plugins.knowledge.ingest",
    "IngestedDocument": "anima_runtime.plugins.knowledge.ingest",
    "SkippedSource": "anima_runtime.plugins.knowledge.sources",
    "chunk_text": "anima_runtime.plugins.knowledge.chunking",
    "ingest_knowledge": "anima_runtime.plugins.knowledge.ingest",
    "knowledge_provider": "anima_runtime.plugins.knowledge.provider",
    "resolve_plugins": "anima_runtime.plugins.registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Action",
    "ActionResult",
    "AgentContext",
    "Content",
    "Evaluator",
    "EvaluatorResult",
    "ExampleLine",
    "HandlerCallback",
    "IngestReport",
    "IngestedDocument",
    "Message",
    "Plugin",
    "Provider",
    "ProviderResult",
    "Service",
    "SkippedSource",
    "bootstrap_plugin",
    "chunk_text",
    "ingest_knowledge",
    "knowledge_provider",
    "resolve_plugins",
]
