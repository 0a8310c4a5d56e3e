"""An ElizaOS character as the runtime uses it.

`Character` holds what Anima reads from a character file (bio, examples, style,
templates...) plus the whole document, so the fields Anima does not use are kept and
the file can be written back unchanged. Secret values live only in `Secrets`, whose
repr never shows them; the stored document has them replaced by "[redacted]" and
`document()` puts them back for the one caller that needs the original (a backup
of the agent's life data). Build one with `anima_runtime.character.load`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeAlias

from anima_runtime.plugins.types import ExampleLine

REDACTED = "[redacted]"

#: What a secret may be: ElizaOS v1 types `secrets` values as string | boolean | number
#: (flags such as DISCORD_ENABLED, ports).
SecretValue: TypeAlias = str | bool | int | float

#: Top-level fields of a character file that Anima reads; any other is kept unread.
READ_FIELDS = frozenset(
    {
        "name",
        "username",
        "system",
        "bio",
        "lore",
        "messageExamples",
        "postExamples",
        "topics",
        "adjectives",
        "style",
        "knowledge",
        "plugins",
        "templates",
        "modelProvider",
        "settings",
        "secrets",
    }
)


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    """One knowledge entry: inline text, or a file/directory path as the file named it."""

    text: str = ""
    path: str = ""
    directory: str = ""
    shared: bool = False


class Secrets:
    """A character's secrets (API keys and the like), shown by name only, never by value.

    ElizaOS keeps them in `settings.secrets` (v0.25 and v1) and in top-level `secrets`
    (v1). Where both name a key the top-level value wins, as in ElizaOS v1's
    `getSetting`. Values keep their JSON type (see SecretValue), so the document can be
    written back as it was read.
    """

    __slots__ = ("_in_settings", "_top_level")

    def __init__(
        self,
        *,
        top_level: Mapping[str, SecretValue] | None = None,
        in_settings: Mapping[str, SecretValue] | None = None,
    ) -> None:
        self._top_level = dict(top_level or {})
        self._in_settings = dict(in_settings or {})

    def get(self, key: str) -> SecretValue | None:
        """The value as the document has it (a string, boolean or number)."""
        if key in self._top_level:
            return self._top_level[key]
        return self._in_settings.get(key)

    def names(self) -> tuple[str, ...]:
        """The secrets' keys (not secret themselves), sorted."""
        return tuple(sorted(self._top_level.keys() | self._in_settings.keys()))

    def every_value(self) -> frozenset[str]:
        """Every secret string the document holds, including a `settings.secrets` value
        shadowed by a top-level one: what to scrub from text before it is logged.
        Booleans and numbers are left out: `true` or `3000` is no secret text, and
        scrubbing it would blank every such word in a log."""
        values = (*self._top_level.values(), *self._in_settings.values())
        return frozenset(v for v in values if isinstance(v, str))

    def __len__(self) -> int:
        return len(self._top_level.keys() | self._in_settings.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, key: object) -> bool:
        return key in self._top_level or key in self._in_settings

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secrets):
            return NotImplemented
        return self._top_level == other._top_level and self._in_settings == other._in_settings

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Secrets: {len(self)} (values redacted)>"

    def restore(self, document: dict[str, Any]) -> None:
        """Put the values back into a (thawed) redacted document, in place."""
        top = document.get("secrets")
        if isinstance(top, dict):
            top.update((k, v) for k, v in self._top_level.items() if k in top)
        settings = document.get("settings")
        nested = settings.get("secrets") if isinstance(settings, dict) else None
        if isinstance(nested, dict):
            nested.update((k, v) for k, v in self._in_settings.items() if k in nested)


@dataclass(frozen=True)
class Character:
    """A loaded character. `repr` and `str` never show secret values (see `Secrets`)."""

    name: str
    username: str = ""
    system: str = ""
    bio: tuple[str, ...] = ()
    lore: tuple[str, ...] = ()
    message_examples: tuple[tuple[ExampleLine, ...], ...] = ()
    post_examples: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    adjectives: tuple[str, ...] = ()
    style_all: tuple[str, ...] = ()
    style_chat: tuple[str, ...] = ()
    style_post: tuple[str, ...] = ()
    knowledge: tuple[KnowledgeItem, ...] = ()
    plugins: tuple[str, ...] = ()
    templates: Mapping[str, str] = field(default_factory=dict)
    model_provider: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)  # without secrets
    shape: str = "v0.25"  # "v0.25" | "v1"
    #: Where the character came from (a file path), for messages.
    source: str = field(default="", compare=False)
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    #: The whole document as read, read-only, every secret value replaced by
    #: REDACTED. Empty for a Character built in code rather than loaded.
    redacted_document: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def secret(self, key: str) -> str | None:
        """A secret by key (e.g. "OPENAI_API_KEY"): top-level `secrets` first, then
        `settings.secrets`; None if neither has it. Never falls back to the environment.
        A boolean or number comes as its JSON text ("true", "3000"), as an environment
        variable would spell it; `secrets.get` has the value with its type."""
        value = self.secrets.get(key)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def public_document(self) -> dict[str, Any]:
        """The document as read, every secret value replaced by "[redacted]": safe to
        show, log or send (a fresh copy each call)."""
        thawed: dict[str, Any] = thaw(self.redacted_document)
        return thawed

    def document(self) -> dict[str, Any]:
        """The document exactly as read, secrets included, with every field kept (for
        writing the character back); a fresh copy each call. Never log it."""
        original = self.public_document()
        self.secrets.restore(original)
        return original

    @property
    def kept_fields(self) -> tuple[str, ...]:
        """Top-level fields of the document Anima does not read, in document order."""
        return tuple(k for k in self.redacted_document if k not in READ_FIELDS)


class FrozenDict(dict[str, Any]):
    """A dict that refuses changes. Unlike a mappingproxy it survives `json.dumps`,
    `copy.deepcopy`, `dataclasses.asdict` and pickling, as a shared value should."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a character's settings and document are read-only; copy them first")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


def freeze(value: Any) -> Any:
    """A read-only copy of a JSON value: objects become FrozenDicts, lists tuples."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of `freeze`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
