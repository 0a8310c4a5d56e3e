"""Running consensus-spec-tests light-client `sync` cases (tests/formats/light_client/
sync.md): meta.yaml, config.yaml, bootstrap.ssz_snappy, steps.yaml and the
update_*.ssz_snappy files, in one directory per case.

Reads files, so it lives beside the pure protocol code rather than in it. A case
that cannot be read raises UnreadableCase; a step whose processing fails or whose
store disagrees with the checks is reported as not matched, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from anima_verify.beacon.codec import decode_ssz_with_digest
from anima_verify.beacon.config import ChainConfig
from anima_verify.beacon.errors import LightClientError
from anima_verify.beacon.sync import (
    LightClientStore,
    execution_root,
    initialize_store,
    process_force_update,
    process_update,
)


class UnreadableCase(Exception):
    """A case directory whose files are missing or not in the test format."""


def _yaml() -> ModuleType:
    try:
        import yaml  # the extra anima-verify[vectors]: only spec-test cases need it
    except ImportError as exc:
        raise ImportError(_NEEDS_EXTRA) from exc
    module: ModuleType = yaml
    return module


def _cramjam() -> ModuleType:
    try:
        import cramjam  # the extra anima-verify[vectors]
    except ImportError as exc:
        raise ImportError(_NEEDS_EXTRA) from exc
    return cramjam


_NEEDS_EXTRA = "running spec-test cases needs cramjam and pyyaml: install anima-verify[vectors]"


@dataclass(frozen=True)
class StepResult:
    index: int
    name: str  # the step's kind: process_update, force_update, upgrade_store
    matched: bool
    detail: str = ""


@dataclass
class CaseResult:
    path: Path
    steps: list[StepResult] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return all(s.matched for s in self.steps)


def _hex(value: object) -> bytes:
    text = str(value)
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UnreadableCase(f"{text[:40]!r} is not hex") from None


def read_yaml(path: Path) -> Any:
    yaml = _yaml()
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UnreadableCase(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UnreadableCase(f"{path} is not YAML: {exc}") from None


def read_ssz_snappy(path: Path) -> bytes:
    """A `.ssz_snappy` file: SSZ bytes compressed with raw (block) snappy."""
    cramjam = _cramjam()
    try:
        return bytes(cramjam.snappy.decompress_raw(path.read_bytes()))
    except OSError as exc:
        raise UnreadableCase(f"cannot read {path}: {exc.strerror}") from None
    except cramjam.DecompressionError as exc:
        raise UnreadableCase(f"{path} is not snappy-compressed: {exc}") from None


def load_chain_config(path: Path, genesis_validators_root: bytes) -> ChainConfig:
    """A network from a consensus-specs config.yaml and its genesis validators root."""
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise UnreadableCase(f"{path} must be a mapping")
    try:
        return ChainConfig.from_spec_config(
            config,
            genesis_validators_root=genesis_validators_root,
            name=str(config.get("CONFIG_NAME", path.stem)),
        )
    except (KeyError, ValueError) as exc:
        raise UnreadableCase(f"{path}: unusable chain config: {exc}") from None


def load_case_config(case: Path) -> tuple[ChainConfig, Mapping[str, Any]]:
    meta = read_yaml(case / "meta.yaml")
    config = read_yaml(case / "config.yaml")
    if not isinstance(meta, dict) or not isinstance(config, dict):
        raise UnreadableCase(f"{case}: meta.yaml and config.yaml must be mappings")
    try:
        chain = ChainConfig.from_spec_config(
            config, genesis_validators_root=_hex(meta["genesis_validators_root"]), name=case.name
        )
    except (KeyError, ValueError) as exc:
        raise UnreadableCase(f"{case}: unusable meta.yaml/config.yaml: {exc}") from None
    return chain, meta


def header_mismatch(config: ChainConfig, header: Any, expected: Mapping[str, Any]) -> str | None:
    """What differs between a store header and a steps.yaml header check, or None."""
    actual = {
        "slot": int(header.beacon.slot),
        "beacon_root": bytes(header.beacon.hash_tree_root()),
        "execution_root": execution_root(config, header),
    }
    for key, value in expected.items():
        want = int(value) if key == "slot" else _hex(value)
        if key not in actual:
            return f"unknown check {key!r}"
        got = actual[key]
        if got != want:
            shown = f"0x{got.hex()}" if isinstance(got, bytes) else str(got)
            return f"{key} is {shown}, expected {value}"
    return None


def _check(config: ChainConfig, store: LightClientStore, checks: Mapping[str, Any]) -> str | None:
    for name, expected in (checks or {}).items():
        if name not in ("finalized_header", "optimistic_header"):
            return f"unknown check {name!r}"
        problem = header_mismatch(config, getattr(store, name), expected)
        if problem:
            return f"{name}: {problem}"
    return None


def run_case(case: Path) -> CaseResult:
    """Every step of one case; UnreadableCase when its files cannot be used."""
    case = Path(case)
    config, meta = load_case_config(case)
    steps = read_yaml(case / "steps.yaml")
    if not isinstance(steps, list):
        raise UnreadableCase(f"{case}/steps.yaml must be a list of steps")
    try:
        bootstrap = decode_ssz_with_digest(
            config,
            "bootstrap",
            read_ssz_snappy(case / "bootstrap.ssz_snappy"),
            digest=_hex(meta["bootstrap_fork_digest"]),
        )
        store = initialize_store(config, _hex(meta["trusted_block_root"]), bootstrap)
    except KeyError as exc:
        raise UnreadableCase(f"{case}/meta.yaml lacks {exc}") from None
    except LightClientError as exc:
        raise UnreadableCase(f"{case}: bootstrap refused: {exc.message}") from None
    result = CaseResult(case)
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            raise UnreadableCase(f"{case}/steps.yaml step {index} is not a one-key mapping")
        ((name, body),) = step.items()
        store, outcome = _run_step(case, config, store, name, body)
        result.steps.append(StepResult(index, name, outcome is None, outcome or ""))
    return result


def _run_step(
    case: Path, config: ChainConfig, store: LightClientStore, name: str, body: Any
) -> tuple[LightClientStore, str | None]:
    if not isinstance(body, dict):
        raise UnreadableCase(f"{case}/steps.yaml: step {name} has no parameters")
    try:
        if name == "process_update":
            data = read_ssz_snappy(case / f"{body['update']}.ssz_snappy")
            update = decode_ssz_with_digest(
                config, "update", data, digest=_hex(body["update_fork_digest"])
            )
            store = process_update(store, update, int(body["current_slot"]))
        elif name == "force_update":
            store = process_force_update(store, int(body["current_slot"]))
        elif name == "upgrade_store":
            pass  # the store is always in the latest shape
        else:
            return store, f"unknown step {name!r}"
    except KeyError as exc:
        raise UnreadableCase(f"{case}/steps.yaml: step {name} lacks {exc}") from None
    except LightClientError as exc:
        return store, f"refused: {type(exc).__name__}: {exc.message}"
    return store, _check(config, store, body.get("checks", {}))
