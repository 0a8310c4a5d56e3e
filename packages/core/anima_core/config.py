"""Configuration: loaded once, at startup, into a frozen pydantic model.

Precedence, lowest first: the model's defaults → a file (TOML or JSON, by
suffix) → the environment. The resulting object is passed through
constructors; nothing else in Anima reads `os.environ`.

Environment names are `{PREFIX}_{FIELD}` in upper case, with `__` between the
levels of nested models (`ANIMA_SIGNER_TLS__CERT_FILE`). A value that is a JSON
object or array is parsed as JSON (`ANIMA_SIGNER_CHAIN_IDS=[1,8453]`); any
other value is kept as the string it is and pydantic converts it to the
field's type, so a `str` field given `007` stays "007" and an `int` field
given `8080` becomes 8080. Names that match no field are ignored, because the
environment is shared: Kubernetes, for one, injects `<SERVICE>_PORT` and
friends (set `enableServiceLinks: false` if a Service name equals a prefix).
Files are strict: an unknown key is an error (models use extra="forbid").

Secrets: declare them as `pydantic.SecretStr` so the config's repr and logs
show `**********`. Errors name the field, the problem and the source (file or
variable) but never quote a value: a value in the wrong field may still be a
secret. For fields whose name (or an enclosing model's field name) contains
"token", "secret" or "key", a validator's own message, which might quote the
value, is replaced too; name secret fields accordingly.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from anima_verify.errors import AnimaError, ErrorKind

__all__ = ["ConfigError", "FrozenConfig", "load_config"]

T = TypeVar("T", bound=BaseModel)

_SENSITIVE_WORDS: Final = ("token", "secret", "key")
_VALIDATOR_ERROR_TYPES: Final = frozenset({"value_error", "assertion_error"})


class ConfigError(AnimaError):
    """The configuration (or a startup setting) is unusable; the service must not start.

    FAILED_PRECONDITION: this is the operator's input, not a caller's request.
    """

    kind = ErrorKind.FAILED_PRECONDITION
    reason = "INVALID_CONFIG"


class FrozenConfig(BaseModel):
    """A convenient base for config models: immutable, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


FieldPath = tuple[str, ...]  # ("tls", "cert_file")


def load_config(
    model: type[T],
    *,
    env_prefix: str,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> T:
    """Build `model` from defaults, then `file`, then the environment (`os.environ` if None),
    then `overrides`: top-level fields from command-line flags, None meaning not given."""
    if not model.model_config.get("frozen") or model.model_config.get("extra") != "forbid":
        raise TypeError(f"{model.__name__} must set model_config frozen=True, extra='forbid'")
    data: dict[str, Any] = {}
    sources: dict[FieldPath, str] = {}
    if file is not None:
        data = _read_file(file)
        sources.update(dict.fromkeys(_leaf_paths(data), str(file)))
    env = os.environ if environ is None else environ
    for path, name, value in _env_entries(model, env_prefix, env):
        _set_path(data, path, value)
        sources[path] = name
    for field, value in (overrides or {}).items():
        if value is not None:
            data[field] = value
            sources[(field,)] = "the command line"
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(model, exc, sources)) from None


def _read_file(file: Path) -> dict[str, Any]:
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"config file {file}: unsupported suffix {suffix!r} (use .toml or .json)")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {file}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file}: not UTF-8") from None
    # Parser messages give a position, never the offending text.
    try:
        parsed: object = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {file}: invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {file}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"config file {file}: top level must be an object")
    return parsed


def _env_entries(
    model: type[BaseModel], prefix: str, environ: Mapping[str, str]
) -> list[tuple[FieldPath, str, object]]:
    """(field path, variable name, value) for each variable naming a field, shallowest first."""
    head = prefix.upper().rstrip("_") + "_"
    entries = []
    for name, raw in environ.items():
        if not name.upper().startswith(head):
            continue
        path = tuple(part.lower() for part in name[len(head) :].split("__"))
        if path[0] in model.model_fields and all(path):
            entries.append((path, name, _parse_env_value(raw)))
    entries.sort(key=lambda entry: len(entry[0]))
    return entries


def _parse_env_value(raw: str) -> object:
    stripped = raw.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed: object = json.loads(stripped)
        except json.JSONDecodeError:
            return raw
        return parsed
    return raw


def _set_path(data: dict[str, Any], path: FieldPath, value: object) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def _leaf_paths(data: Mapping[str, Any], prefix: FieldPath = ()) -> list[FieldPath]:
    paths: list[FieldPath] = []
    for key, value in data.items():
        here = (*prefix, str(key))
        paths.extend(_leaf_paths(value, here) if isinstance(value, Mapping) else [here])
    return paths


def _describe(
    model: type[BaseModel], exc: ValidationError, sources: Mapping[FieldPath, str]
) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        field = ".".join(loc) or "<root>"
        message = error["msg"]
        if _is_sensitive(loc) and error["type"] in _VALIDATOR_ERROR_TYPES:
            message = "rejected by its validator"
        problems.append(f"{field}: {message} (from {_source_of(loc, sources)})")
    return f"invalid {model.__name__} configuration: " + "; ".join(problems)


def _is_sensitive(loc: FieldPath) -> bool:
    return any(word in part.lower() for part in loc for word in _SENSITIVE_WORDS)


def _source_of(loc: FieldPath, sources: Mapping[FieldPath, str]) -> str:
    # The longest set path that is a prefix of the error's location set it;
    # an error above the leaves (a whole object) is blamed on anything below.
    for end in range(len(loc), 0, -1):
        if loc[:end] in sources:
            return sources[loc[:end]]
    below = sorted({src for path, src in sources.items() if path[: len(loc)] == loc})
    return ", ".join(below) if below else "defaults"
