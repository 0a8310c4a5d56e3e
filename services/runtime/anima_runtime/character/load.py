"""Reading ElizaOS character files (v0.25 and v1 shapes) into a `Character`.

Both shapes load unmodified. v1 is recognised by a top-level `secrets` object or by
example lines that name their speaker with "name" (v0.25 uses "user"); anything
else reads as v0.25. The fields Anima reads are checked; every other field is kept
as it is, unchecked, in the character's document. `null` for an optional field
reads as absent. Errors are `InvalidCharacter` naming the source, the field path and
the reason: `c.json: messageExamples[2][0].content.text: expected a string, got a
number` (the checks: field_checks.py).

Checked by hand rather than with pydantic: a field may be a string or a list, a line
"user" or "name", and one error with one path reads better than a union's list.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NoReturn

from anima_runtime.character.field_checks import (
    MAX_DEPTH,
    FieldPath,
    Refused,
    check_json,
    kind_of,
    optional,
    render_path,
    texts,
)
from anima_runtime.character.model import (
    REDACTED,
    Character,
    FrozenDict,
    KnowledgeItem,
    Secrets,
    SecretValue,
    freeze,
)
from anima_runtime.errors import InvalidCharacter
from anima_runtime.plugins.types import ExampleLine
from anima_verify import jsonsafe

MAX_CHARACTER_BYTES = 4 * 1024 * 1024


def load_character(path: str | os.PathLike[str]) -> Character:
    """Read and check a character file. A missing or unreadable file is InvalidCharacter
    too, its message saying why."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_CHARACTER_BYTES + 1)
    except OSError as exc:
        raise InvalidCharacter(f"{source}: cannot read: {exc.strerror or exc}") from None
    return parse_character_json(data, source=source)


def parse_character_json(text: bytes | str, *, source: str) -> Character:
    """Check a character given as JSON text (UTF-8 bytes, a leading BOM allowed)."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CHARACTER_BYTES:
        _refuse_source(source, _too_large())
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            _refuse_source(source, f"not UTF-8 text (bad byte at offset {exc.start})")
    text = text.removeprefix("\ufeff")
    try:
        # Depth-checked before decoding (see anima_verify.jsonsafe).
        data = jsonsafe.loads(
            text, max_depth=MAX_DEPTH, object_pairs_hook=_object, parse_constant=_no_constant
        )
    except jsonsafe.TooDeep:
        _refuse_source(source, f"nested more than {MAX_DEPTH} levels deep")
    except json.JSONDecodeError as exc:
        _refuse_source(source, f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except Refused as exc:
        _refuse_source(source, exc.reason)
    return _parse(data, source, sized=True)


def parse_character(data: Any, *, source: str) -> Character:
    """Check a character given as an already-decoded JSON document (e.g. a request
    body). `source` names it in error messages."""
    return _parse(data, source, sized=False)


def _parse(data: Any, source: str, *, sized: bool) -> Character:
    try:
        check_json(data, (), 1)
        if not sized and _json_size(data) > MAX_CHARACTER_BYTES:
            raise Refused((), _too_large())
        return _character(data, source)
    except Refused as exc:
        where = render_path(exc.path)
        _refuse_source(source, f"{where}: {exc.reason}" if where else exc.reason)


def _json_size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


def _refuse_source(source: str, reason: str) -> NoReturn:
    raise InvalidCharacter(f"{source}: {reason}" if source else reason)


def _too_large() -> str:
    return f"larger than {MAX_CHARACTER_BYTES // (1024 * 1024)} MiB, the most a character may be"


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Writing the document back would silently drop one of the two.
            raise Refused((), f"not JSON this loader accepts: the key {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise Refused((), f"not JSON: {name} is not a JSON number")


# ---------------------------------------------------------------- the document


def _character(doc: Any, source: str) -> Character:
    if not isinstance(doc, dict):
        raise Refused((), f"expected a JSON object, got {kind_of(doc)}")
    name = doc.get("name")
    if name is None:
        raise Refused(("name",), "missing; a character needs a name")
    if not isinstance(name, str):
        raise Refused(("name",), f"expected a string, got {kind_of(name)}")
    if not name.strip():
        raise Refused(("name",), "empty; a character needs a name")
    shape = _shape(doc)
    style = optional(doc, ("style",), dict) or {}
    settings = optional(doc, ("settings",), dict) or {}
    secrets = Secrets(
        top_level=_secrets(doc, ("secrets",), scalars=True),
        in_settings=_secrets(settings, ("settings", "secrets"), scalars=False),
    )
    return Character(
        name=name,
        username=optional(doc, ("username",), str) or "",
        system=optional(doc, ("system",), str) or "",
        bio=_text_or_texts(doc, "bio"),
        lore=_text_or_texts(doc, "lore"),
        message_examples=_examples(doc, shape),
        post_examples=texts(doc, ("postExamples",)),
        topics=texts(doc, ("topics",)),
        adjectives=texts(doc, ("adjectives",)),
        style_all=texts(style, ("style", "all")),
        style_chat=texts(style, ("style", "chat")),
        style_post=texts(style, ("style", "post")),
        knowledge=_knowledge(doc),
        plugins=_plugins(doc),
        templates=FrozenDict(_templates(doc)),
        model_provider=optional(doc, ("modelProvider",), str) or "",
        settings=freeze({k: v for k, v in settings.items() if k != "secrets"}),
        shape=shape,
        source=source,
        secrets=secrets,
        redacted_document=freeze(_redacted(doc)),
    )


def _shape(doc: dict[str, Any]) -> str:
    if doc.get("secrets") is not None:
        return "v1"
    examples = doc.get("messageExamples")
    if isinstance(examples, list):
        for conversation in examples:
            for line in conversation if isinstance(conversation, list) else ():
                if isinstance(line, dict) and ("name" in line or "user" in line):
                    return "v1" if "name" in line and "user" not in line else "v0.25"
    return "v0.25"


def _text_or_texts(doc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if isinstance(value, str):
        return (value,) if value else ()
    if value is not None and not isinstance(value, list):
        raise Refused((key,), f"expected a string or a list of strings, got {kind_of(value)}")
    return texts(doc, (key,))


def _examples(doc: dict[str, Any], shape: str) -> tuple[tuple[ExampleLine, ...], ...]:
    speaker_key, other_key = ("name", "user") if shape == "v1" else ("user", "name")
    conversations = optional(doc, ("messageExamples",), list) or []
    result = []
    for c, conversation in enumerate(conversations):
        if not isinstance(conversation, list):
            raise Refused(
                ("messageExamples", c), f"expected a list of lines, got {kind_of(conversation)}"
            )
        lines = []
        for i, line in enumerate(conversation):
            at: FieldPath = ("messageExamples", c, i)
            if not isinstance(line, dict):
                raise Refused(at, f"expected an object, got {kind_of(line)}")
            if speaker_key not in line and other_key in line:
                raise Refused(
                    at,
                    f'names its speaker with "{other_key}", but this is a {shape} character '
                    f'(which uses "{speaker_key}"); use one shape throughout',
                )
            speaker = line.get(speaker_key)
            if not isinstance(speaker, str):
                got = "missing" if speaker is None else f"expected a string, got {kind_of(speaker)}"
                raise Refused((*at, speaker_key), got)
            content = line.get("content")
            if not isinstance(content, dict):
                got = (
                    "missing" if content is None else f"expected an object, got {kind_of(content)}"
                )
                raise Refused((*at, "content"), got)
            text = content.get("text")
            if text is None and shape == "v0.25":
                raise Refused((*at, "content", "text"), "missing")
            if text is not None and not isinstance(text, str):
                raise Refused((*at, "content", "text"), f"expected a string, got {kind_of(text)}")
            action = optional(content, (*at, "content", "action"), str)
            # ExampleLine carries one action; a v1 line's further actions stay in the document.
            actions = texts(content, (*at, "content", "actions"))
            lines.append(
                ExampleLine(speaker, text or "", action or (actions[0] if actions else None))
            )
        result.append(tuple(lines))
    return tuple(result)


def _knowledge(doc: dict[str, Any]) -> tuple[KnowledgeItem, ...]:
    items = optional(doc, ("knowledge",), list) or []
    result = []
    for index, item in enumerate(items):
        at: FieldPath = ("knowledge", index)
        if isinstance(item, str):
            result.append(KnowledgeItem(text=item))
            continue
        if not isinstance(item, dict) or ("path" in item) == ("directory" in item):
            raise Refused(
                at,
                'expected a string, or an object with one of "path" and "directory", '
                f"got {kind_of(item) if not isinstance(item, dict) else _describe(item)}",
            )
        path = optional(item, (*at, "path"), str)
        directory = optional(item, (*at, "directory"), str)
        if not (path or directory):
            raise Refused((*at, "path" if "path" in item else "directory"), "empty")
        shared = optional(item, (*at, "shared"), bool) or False
        result.append(KnowledgeItem(path=path or "", directory=directory or "", shared=shared))
    return tuple(result)


def _describe(item: dict[str, Any]) -> str:
    has = [k for k in ("path", "directory") if k in item]
    return "an object with both" if has else "an object with neither"


def _plugins(doc: dict[str, Any]) -> tuple[str, ...]:
    items = optional(doc, ("plugins",), list) or []
    names = []
    for index, item in enumerate(items):
        if isinstance(item, dict):  # a plugin object pasted in: its name is enough
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise Refused((*("plugins", index), "name"), "expected the plugin's name")
            names.append(name)
        elif isinstance(item, str) and item:
            names.append(item)
        else:
            raise Refused(("plugins", index), f"expected a plugin name, got {kind_of(item)}")
    return tuple(names)


def _templates(doc: dict[str, Any]) -> dict[str, str]:
    templates = optional(doc, ("templates",), dict) or {}
    for key, value in templates.items():
        if not isinstance(value, str):
            raise Refused(("templates", key), f"expected a string, got {kind_of(value)}")
    return dict(templates)


def _secrets(
    container: Mapping[str, Any], path: FieldPath, *, scalars: bool
) -> dict[str, SecretValue]:
    """The secrets at `path`, each value with its type. `scalars`: booleans and numbers
    too, as ElizaOS v1 types top-level `secrets` (string | boolean | number); v0.25 types
    `settings.secrets` as strings."""
    secrets = optional(container, path, dict) or {}
    for key, value in secrets.items():
        if isinstance(value, str) or (scalars and isinstance(value, bool | int | float)):
            continue
        expected = "a string, boolean or number" if scalars else "a string"
        raise Refused((*path, key), f"expected {expected}, got {kind_of(value)}")
    return dict(secrets)


def _redacted(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with each secret value (already checked: strings, booleans, numbers)
    redacted."""
    copy = dict(doc)
    if isinstance(doc.get("secrets"), dict):
        copy["secrets"] = dict.fromkeys(doc["secrets"], REDACTED)
    settings = doc.get("settings")
    if isinstance(settings, dict) and isinstance(settings.get("secrets"), dict):
        copy["settings"] = {**settings, "secrets": dict.fromkeys(settings["secrets"], REDACTED)}
    return copy
