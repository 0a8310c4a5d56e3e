"""Which plugins an agent runs: the bootstrap plugin first, always (ElizaOS includes
it by default), then the built-ins its character names. Names this runtime does
not have come back to the caller, which keeps them on the character and warns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from anima_runtime.plugins.bootstrap import bootstrap_plugin
from anima_runtime.plugins.types import Plugin

#: Built-in plugins by the names characters use for them (compared case-insensitively).
BUILTIN_PLUGINS: Mapping[str, Callable[[], Plugin]] = {
    "bootstrap": bootstrap_plugin,
    "@elizaos/plugin-bootstrap": bootstrap_plugin,
    "@ai16z/plugin-bootstrap": bootstrap_plugin,
}

#: ElizaOS plugins whose work this runtime does itself: named, they need nothing more.
#: plugin-sql is the memory store (the memory service here); plugin-knowledge is the
#: knowledge provider, which the bootstrap plugin carries.
PROVIDED_BY_RUNTIME = frozenset(
    {
        "@elizaos/plugin-sql",
        "@elizaos/plugin-knowledge",
        "@elizaos/adapter-sqlite",
        "@elizaos/adapter-postgres",
        "@ai16z/adapter-sqlite",
        "@ai16z/adapter-postgres",
    }
)


def resolve_plugins(
    names: Sequence[str],
    *,
    builtins: Mapping[str, Callable[[], Plugin]] = BUILTIN_PLUGINS,
) -> tuple[list[Plugin], list[str]]:
    """The plugins to run (bootstrap first, each once) and the names not known here
    (as the character spelled them, first occurrence, in order)."""
    table = {key.lower(): factory for key, factory in builtins.items()}
    factories: list[Callable[[], Plugin]] = [bootstrap_plugin]
    unknown: list[str] = []
    for raw in names:
        name = raw.strip()
        key = name.lower()
        if not key or key in PROVIDED_BY_RUNTIME:
            continue
        factory = table.get(key)
        if factory is None:
            if name not in unknown:
                unknown.append(name)
        elif factory not in factories:
            factories.append(factory)
    return [factory() for factory in factories], unknown
