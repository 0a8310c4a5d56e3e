"""One service's own environment: its distribution and what it declares, nothing else.

    members = workspace_members()
    wheels = build_wheels(closure(members, ["anima-signer"]), tmp / "wheels")
    python = create_env(tmp / "signer", wheels.values())
    installed_distributions(python), site_packages_bytes(python)

Wheels are built from a copy of each workspace member (no build/ or egg-info
left in the tree) with the setuptools of this environment; uv installs them
together with the third-party requirements they declare, from the package
index through uv's cache. Only the workspace members named on its command line
are local, so a workspace dependency a pyproject.toml forgets is missing from
the environment (or refused by the index), never quietly supplied.

`module_dump_program` runs an entry point so that, when the process exits, it
writes the names of every module it loaded: what a service really imports.
Used by tests/packaging and bench/signer_footprint_bench.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_NOT_SOURCES = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*")

# Run with `python -I -c`: argv is [-c, OUT, "module:function", ARGS...]. The
# dump is written at exit, after a graceful shutdown, and lists every module
# imported from startup to shutdown (the interpreter's own startup ones too).
_DUMP_MODULES = """\
import atexit, importlib, sys
out, target = sys.argv[1], sys.argv[2]
del sys.argv[1:3]
def dump():
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)) + "\\n")
atexit.register(dump)
module, _, function = target.partition(":")
sys.exit(getattr(importlib.import_module(module), function)())
"""


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Member:
    """One distribution of the workspace, as its pyproject.toml declares it."""

    name: str  # canonical
    path: Path
    requires: tuple[str, ...]  # [project].dependencies
    extras: Mapping[str, tuple[str, ...]]  # [project.optional-dependencies]
    scripts: Mapping[str, str]  # [project.scripts]: command -> "module:function"


def workspace_members(root: Path = REPO_ROOT) -> dict[str, Member]:
    """Every folder with a pyproject.toml that declares a [project], by canonical name."""
    members: dict[str, Member] = {}
    for pyproject in sorted([*root.glob("*/pyproject.toml"), *root.glob("*/*/pyproject.toml")]):
        project = tomllib.loads(pyproject.read_text()).get("project")
        if project is None:
            continue
        member = Member(
            name=canonical(project["name"]),
            path=pyproject.parent,
            requires=tuple(project.get("dependencies", ())),
            extras={k: tuple(v) for k, v in project.get("optional-dependencies", {}).items()},
            scripts=dict(project.get("scripts", {})),
        )
        members[member.name] = member
    return members


def requirement_name(requirement: str) -> tuple[str, tuple[str, ...]]:
    """The canonical name and the extras of a PEP 508 requirement."""
    found = _NAME.match(requirement)
    if found is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    extras = tuple(e.strip() for e in (found.group(2) or "").split(",") if e.strip())
    return canonical(found.group(1)), extras


def closure(members: Mapping[str, Member], wanted: Iterable[str]) -> list[Member]:
    """The members named (a requirement each: "anima-core[http]") and the workspace
    members they declare, directly or through other members, extras included."""
    found: dict[str, Member] = {}
    pending = list(wanted)
    while pending:
        name, extras = requirement_name(pending.pop())
        member = members.get(name)
        if member is None:
            continue  # third-party: the installer resolves it
        if name not in found:
            found[name] = member
            pending.extend(member.requires)
        for extra in extras:
            pending.extend(member.extras.get(extra, ()))
    return sorted(found.values(), key=lambda m: m.name)


def uv() -> str:
    """The uv of this environment (anima-dev[dev] installs it), else the one on PATH."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise RuntimeError("uv is not installed: pip install 'anima-dev[dev]' (./dev test does)")
    return found


def _uv_environ() -> dict[str, str]:
    environ = dict(os.environ)
    # uv reads no pip.conf: pass on an index or CA bundle given to pip.
    if "PIP_INDEX_URL" in environ:
        environ.setdefault("UV_DEFAULT_INDEX", environ["PIP_INDEX_URL"])
    if "PIP_CERT" in environ:
        environ.setdefault("SSL_CERT_FILE", environ["PIP_CERT"])
    return environ


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True, env=_uv_environ())
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")


def build_wheels(members: Iterable[Member], out: Path) -> dict[str, Path]:
    """A wheel per member, built from a copy of its folder; by canonical name."""
    wheels: dict[str, Path] = {}
    for member in members:
        source = out / "src" / member.path.name
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(member.path, source, ignore=_NOT_SOURCES)
        target = out / member.name
        shutil.rmtree(target, ignore_errors=True)
        # This environment's setuptools (pyproject's build-system) builds them:
        # no build environment to set up for each.
        build = [uv(), "build", "-q", "--wheel", "--no-build-isolation"]
        _run([*build, "--python", sys.executable, "--out-dir", str(target), str(source)])
        (wheel,) = target.glob("*.whl")
        wheels[member.name] = wheel
    return wheels


def create_env(
    path: Path,
    requirements: Iterable[Path | str],
    *,
    without_dependencies: Sequence[str] = (),
) -> Path:
    """A fresh virtual environment at `path` holding `requirements` (wheel files, or
    requirement strings) and what they declare, plus `without_dependencies` installed
    alone; returns its python."""
    shutil.rmtree(path, ignore_errors=True)
    _run([uv(), "venv", "-q", "--python", sys.executable, str(path)])
    python = path / "bin" / "python"
    _run([uv(), "pip", "install", "-q", "--python", str(python), *map(str, requirements)])
    if without_dependencies:
        install = [uv(), "pip", "install", "-q", "--no-deps", "--python", str(python)]
        _run([*install, *without_dependencies])
    return python


def _ask(python: Path, code: str) -> object:
    result = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def installed_distributions(python: Path) -> dict[str, str]:
    """Canonical name -> version of every distribution in `python`'s environment."""
    found = _ask(
        python,
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))",
    )
    assert isinstance(found, dict)
    return {canonical(name): str(version) for name, version in found.items()}


def site_packages(python: Path) -> Path:
    found = _ask(python, "import json, sysconfig; print(json.dumps(sysconfig.get_path('purelib')))")
    assert isinstance(found, str)
    return Path(found)


def site_packages_bytes(python: Path) -> int:
    """Bytes of the files installed under site-packages: each file counted (hard links
    too: an image would hold a copy of each), bytecode caches written since not."""
    root = site_packages(python)
    files = (p for p in root.rglob("*") if not p.is_symlink() and p.is_file())
    return sum(p.stat().st_size for p in files if "__pycache__" not in p.relative_to(root).parts)


def module_dump_program(python: Path, entry_point: str, out: Path) -> tuple[str, ...]:
    """A command that runs `entry_point` ("module:function") in `python`'s environment,
    isolated (-I: no PYTHONPATH, no user site, no current directory), and writes the
    names of the modules it loaded to `out` when it exits. Add the command's arguments."""
    return (str(python), "-I", "-c", _DUMP_MODULES, str(out), entry_point)


def top_level(modules: Iterable[str]) -> set[str]:
    return {module.partition(".")[0] for module in modules}


__all__ = [
    "REPO_ROOT",
    "Member",
    "build_wheels",
    "canonical",
    "closure",
    "create_env",
    "installed_distributions",
    "module_dump_program",
    "requirement_name",
    "site_packages",
    "site_packages_bytes",
    "top_level",
    "uv",
    "workspace_members",
]
