"""Character files: the real ElizaOS characters, v0.25 and v1 fixtures, secrets kept out
of every representation, fields kept for write-back, and each refusal naming its field."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from anima_runtime.character import (
    MAX_CHARACTER_BYTES,
    REDACTED,
    Character,
    KnowledgeItem,
    load_character,
    parse_character,
    parse_character_json,
)
from anima_runtime.character.model import READ_FIELDS
from anima_runtime.errors import InvalidCharacter
from anima_runtime.plugins.types import ExampleLine
from tests.runtime.conftest import CHARACTERS, real_character
from tests.vectors import require_vectors

FIXTURES = Path(__file__).parent / "fixtures" / "characters"
V025 = FIXTURES / "v025-full.character.json"
V1 = FIXTURES / "v1-secrets.character.json"
REAL = sorted(CHARACTERS.glob("*.character.json"))

#: Every secret value planted in the fixtures carries this marker.
PLANTED = "PLANTED"


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


# ---------------------------------------------------------------- real characters


def test_the_four_real_characters_are_there() -> None:
    require_vectors("characters")
    assert [p.name.split(".")[0] for p in REAL] == ["c3po", "dobby", "eternalai", "trump"]


@pytest.mark.parametrize(
    ("file", "name", "provider"),
    [
        ("c3po", "C-3PO", "anthropic"),
        ("dobby", "Dobby", "openai"),
        ("eternalai", "TrollDetective.Exe", "eternalai"),
        ("trump", "trump", "openai"),
    ],
)
def test_real_character_known_facts(file: str, name: str, provider: str) -> None:
    character = load_character(real_character(file))
    assert character.name == name
    assert character.model_provider == provider
    assert character.shape == "v0.25"
    assert character.source == str(real_character(file))
    assert "voice" in character.settings
    assert len(character.secrets) == 0


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_real_character_loads_everything_the_file_says(path: Path) -> None:
    raw = read(path)
    character = load_character(path)

    assert character.bio == as_tuple(raw["bio"])
    assert character.lore == as_tuple(raw["lore"])
    assert character.post_examples == tuple(raw.get("postExamples", []))
    assert character.topics == tuple(raw.get("topics", []))
    assert character.adjectives == tuple(raw.get("adjectives", []))
    assert character.style_all == tuple(raw["style"].get("all", []))
    assert character.style_chat == tuple(raw["style"].get("chat", []))
    assert character.style_post == tuple(raw["style"].get("post", []))
    assert character.system == raw.get("system", "")
    assert character.plugins == tuple(raw.get("plugins", []))
    assert character.knowledge == tuple(KnowledgeItem(text=t) for t in raw.get("knowledge", []))

    assert len(character.message_examples) == len(raw["messageExamples"])
    for conversation, raw_conversation in zip(
        character.message_examples, raw["messageExamples"], strict=True
    ):
        assert conversation == tuple(
            ExampleLine(line["user"], line["content"]["text"], line["content"].get("action"))
            for line in raw_conversation
        )

    assert dict(character.settings) == {
        k: v for k, v in character.document()["settings"].items() if k != "secrets"
    }
    assert character.document() == raw
    assert character.kept_fields == tuple(k for k in raw if k not in READ_FIELDS)


def test_real_character_example_actions_are_read() -> None:
    raw = read(real_character("eternalai"))
    wanted = [
        line["content"]["action"]
        for conversation in raw["messageExamples"]
        for line in conversation
        if "action" in line["content"]
    ]
    assert wanted, "the eternalai character has example lines with an action"
    character = load_character(real_character("eternalai"))
    got = [line.action for c in character.message_examples for line in c if line.action]
    assert got == wanted


def test_c3po_keeps_its_twitter_spaces_settings_unread() -> None:
    character = load_character(real_character("c3po"))
    assert "twitterSpaces" in character.kept_fields
    raw = read(real_character("c3po"))
    assert character.public_document()["twitterSpaces"] == raw["twitterSpaces"]


# ---------------------------------------------------------------- v0.25 fixture


def test_v025_fixture_reads_every_field() -> None:
    character = load_character(V025)
    assert character.shape == "v0.25"
    assert character.name == "Ada Völund 🦉"
    assert character.username == "ada"
    assert character.system == "You are Ada, a careful archivist."
    assert character.bio == ("Ada keeps the archive of the northern library.",)
    assert len(character.lore) == 2
    assert character.message_examples[1][1] == ExampleLine(
        "Ada", "Fetching it now.", "FETCH_DOCUMENT"
    )
    assert character.message_examples[1][2] == ExampleLine("{{user1}}", "Thanks!", None)
    assert character.plugins == ("@elizaos/plugin-bootstrap", "@elizaos/plugin-sql")
    assert character.knowledge == (
        KnowledgeItem(text="The archive opens at nine."),
        KnowledgeItem(path="knowledge/catalogue.md"),
        KnowledgeItem(path="knowledge/shared-rules.md", shared=True),
        KnowledgeItem(directory="knowledge/maps"),
    )
    assert set(character.templates) == {"messageHandlerTemplate", "factsTemplate"}
    assert character.templates["factsTemplate"] == "Extract facts from {{recentMessages}}."
    assert character.model_provider == "openai"
    assert list(character.settings) == ["voice", "model", "modelConfig"]
    assert character.settings["modelConfig"]["temperature"] == 0.4
    assert character.style_post == ("one fact per post", "no hashtags", "lowercase")


def test_v025_secrets_come_from_settings() -> None:
    character = load_character(V025)
    assert character.secret("OPENAI_API_KEY") == "sk-PLANTED-v025-3f9c2e1d-DO-NOT-LEAK"
    assert character.secret("DISCORD_TOKEN") == "discord-PLANTED-v025-77aa"
    assert character.secret("ANTHROPIC_API_KEY") is None
    assert character.secrets.names() == ("DISCORD_TOKEN", "OPENAI_API_KEY")
    assert "secrets" not in character.settings


def test_unknown_fields_are_kept_and_round_trip() -> None:
    character = load_character(V025)
    assert character.kept_fields == ("clients", "imageModelProvider", "twitterProfile", "extends")
    assert character.document() == read(V025)
    # Written back and read again, nothing changes.
    again = parse_character_json(json.dumps(character.document()), source="again")
    assert again == character
    assert again.document() == read(V025)


def test_settings_and_document_are_read_only_copies() -> None:
    character = load_character(V025)
    with pytest.raises(TypeError):
        character.settings["model"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        character.templates["x"] = "y"  # type: ignore[index]
    document = character.document()
    document["settings"]["secrets"]["OPENAI_API_KEY"] = "changed"
    document["name"] = "changed"
    assert character.document() == read(V025)


def test_a_document_given_as_data_is_not_aliased() -> None:
    raw = read(V025)
    character = parse_character(raw, source="memory")
    raw["settings"]["voice"]["model"] = "changed"
    raw["secrets"] = {"X": "y"}
    assert character.settings["voice"]["model"] == "en_GB-alan-medium"
    assert character.document() == read(V025)


# ---------------------------------------------------------------- v1 fixture


def test_v1_fixture_loads_with_top_level_secrets() -> None:
    character = load_character(V1)
    assert character.shape == "v1"
    assert character.name == "Bram"
    assert character.bio == ("Bram pilots the night ferry.", "He knows every buoy on the river.")
    assert character.lore == ()
    assert character.message_examples[0][1] == ExampleLine("Bram", "Half past eleven.", "REPLY")
    # One action per ExampleLine: the first; the rest stay in the document.
    assert character.message_examples[1][1] == ExampleLine("Bram", "", "IGNORE")
    assert character.knowledge == (KnowledgeItem(directory="knowledge/charts", shared=True),)
    assert character.templates == {"replyTemplate": "{{providers}}\nReply as {{agentName}}."}
    assert list(character.settings) == ["model", "avatar"]
    assert character.kept_fields == ("id",)
    assert character.document() == read(V1)


def test_v1_top_level_secrets_win_over_settings_secrets() -> None:
    character = load_character(V1)
    assert character.secret("OPENAI_API_KEY") == "sk-PLANTED-v1-top-5b7e-DO-NOT-LEAK"
    assert character.secret("SOLANA_PRIVATE_KEY") == "solana-PLANTED-v1-c0ffee"
    assert character.secret("TELEGRAM_BOT_TOKEN") == "tg-PLANTED-v1-settings-1234"
    assert len(character.secrets) == 3
    assert "TELEGRAM_BOT_TOKEN" in character.secrets
    # For scrubbing, the shadowed settings value counts too.
    assert character.secrets.every_value() == {
        secret for place in ("top", "settings") for secret in _planted(V1, place)
    }


def _planted(path: Path, place: str) -> list[str]:
    raw = read(path)
    secrets = raw["secrets"] if place == "top" else raw["settings"]["secrets"]
    return list(secrets.values())


def test_v1_is_recognised_by_its_example_lines_alone() -> None:
    raw = read(V1)
    del raw["secrets"]
    assert parse_character(raw, source="v1").shape == "v1"


def test_v1_example_text_may_be_absent() -> None:
    raw = read(V1)
    del raw["messageExamples"][1][1]["content"]["text"]
    character = parse_character(raw, source="v1")
    assert character.message_examples[1][1] == ExampleLine("Bram", "", "IGNORE")


def test_minimal_character_and_nulls_read_as_absent() -> None:
    document = {"name": "Min", "system": None, "bio": None, "settings": None}
    character = parse_character(document, source="min")
    assert dataclasses.replace(character, redacted_document={}) == Character(name="Min")
    assert character.shape == "v0.25"
    assert character.kept_fields == ()
    assert character.document() == document


# ---------------------------------------------------------------- secrets never shown


@pytest.mark.parametrize("path", [V025, V1], ids=["v0.25", "v1"])
def test_secret_values_never_appear_in_representations(path: Path) -> None:
    character = load_character(path)
    secrets = [character.secret(k) for k in character.secrets.names()]
    assert secrets and all(s and PLANTED in s for s in secrets)
    shown = [
        repr(character),
        str(character),
        repr(character.secrets),
        repr(character.settings),
        json.dumps(character.public_document()),
        repr(dataclasses.asdict(character)),
        repr(copy.deepcopy(character)),
    ]
    for text in shown:
        assert PLANTED not in text


def test_public_document_redacts_both_secret_places() -> None:
    public = load_character(V1).public_document()
    assert public["secrets"] == {"OPENAI_API_KEY": REDACTED, "SOLANA_PRIVATE_KEY": REDACTED}
    assert public["settings"]["secrets"] == {
        "OPENAI_API_KEY": REDACTED,
        "TELEGRAM_BOT_TOKEN": REDACTED,
    }
    raw = read(V1)
    del raw["secrets"], public["secrets"]
    del raw["settings"]["secrets"], public["settings"]["secrets"]
    assert public == raw  # nothing else changed


def test_error_messages_do_not_carry_secrets() -> None:
    raw = read(V1)
    raw["secrets"]["BROKEN"] = ["sk-PLANTED-in-a-list"]
    with pytest.raises(InvalidCharacter) as caught:
        parse_character(raw, source="v1")
    assert caught.value.message == (
        "v1: secrets.BROKEN: expected a string, boolean or number, got a list"
    )
    assert PLANTED not in str(caught.value)


def test_v1_boolean_and_number_secrets_load_and_round_trip() -> None:
    """Regression: ElizaOS v1 types `secrets` values as string | boolean | number; a valid
    v1 character with a flag and a port was refused ("expected a string")."""
    document = {"name": "Eliza", "secrets": {"DISCORD_ENABLED": True, "PORT": 3000, "R": 0.5}}
    character = parse_character(document, source="v1")
    assert character.shape == "v1"
    assert character.secrets.get("DISCORD_ENABLED") is True
    assert character.secrets.get("PORT") == 3000
    # As text, each is spelled as an environment variable would spell it.
    assert character.secret("DISCORD_ENABLED") == "true"
    assert character.secret("PORT") == "3000"
    assert character.secret("R") == "0.5"
    # Written back, each keeps its JSON type.
    assert character.document() == document
    again = parse_character_json(json.dumps(character.document()), source="again")
    assert again.document() == document
    assert json.dumps(again.document()) == json.dumps(document)
    assert character.public_document()["secrets"] == dict.fromkeys(document["secrets"], REDACTED)
    # Only secret strings are scrubbed from text: a flag or a port is no secret text.
    assert character.secrets.every_value() == frozenset()
    mixed = parse_character(
        {"name": "M", "secrets": {"KEY": "sk-PLANTED-mixed", "ON": False}}, source="m"
    )
    assert mixed.secrets.every_value() == {"sk-PLANTED-mixed"}


# ---------------------------------------------------------------- text forms


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("One line.", ("One line.",)),
        ("", ()),
        ([], ()),
        (["a", "b"], ("a", "b")),
        (None, ()),
    ],
)
@pytest.mark.parametrize("field", ["bio", "lore"])
def test_bio_and_lore_are_a_string_or_a_list(field: str, value: Any, expected: Any) -> None:
    character = parse_character({"name": "T", field: value}, source="t")
    assert getattr(character, field) == expected


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.character.json"
    path.write_bytes(b"\xef\xbb\xbf" + V025.read_bytes())
    assert load_character(path).name == "Ada Völund 🦉"
    assert parse_character_json("\ufeff" + V1.read_text("utf-8"), source="s").name == "Bram"


# ---------------------------------------------------------------- refusals


def refused(document: Any) -> str:
    with pytest.raises(InvalidCharacter) as caught:
        parse_character(document, source="doc")
    message = caught.value.message
    assert message.startswith("doc: ")
    return message.removeprefix("doc: ")


def line(speaker: str = "A", **content: Any) -> dict[str, Any]:
    return {"user": speaker, "content": {"text": "hi", **content}}


REFUSALS: list[tuple[str, Any, str]] = [
    ("not-object", ["name"], "expected a JSON object, got a list"),
    ("not-object-str", "Ada", "expected a JSON object, got a string"),
    ("no-name", {"bio": "x"}, "name: missing; a character needs a name"),
    ("null-name", {"name": None}, "name: missing; a character needs a name"),
    ("empty-name", {"name": ""}, "name: empty; a character needs a name"),
    ("blank-name", {"name": "  \t"}, "name: empty; a character needs a name"),
    ("number-name", {"name": 7}, "name: expected a string, got a number"),
    ("username", {"name": "T", "username": 3}, "username: expected a string, got a number"),
    ("system", {"name": "T", "system": ["x"]}, "system: expected a string, got a list"),
    ("bio", {"name": "T", "bio": 5}, "bio: expected a string or a list of strings, got a number"),
    ("bio-item", {"name": "T", "bio": ["a", 1]}, "bio[1]: expected a string, got a number"),
    ("lore", {"name": "T", "lore": {}}, "lore: expected a string or a list of strings"),
    ("examples", {"name": "T", "messageExamples": "x"}, "messageExamples: expected a list"),
    (
        "conversation",
        {"name": "T", "messageExamples": [line()]},
        "messageExamples[0]: expected a list of lines, got an object",
    ),
    (
        "line",
        {"name": "T", "messageExamples": [["hi"]]},
        "messageExamples[0][0]: expected an object, got a string",
    ),
    (
        "speaker",
        {"name": "T", "messageExamples": [[{"content": {"text": "x"}}]]},
        "messageExamples[0][0].user: missing",
    ),
    (
        "speaker-type",
        {"name": "T", "messageExamples": [[{"user": 1, "content": {"text": "x"}}]]},
        "messageExamples[0][0].user: expected a string, got a number",
    ),
    (
        "content",
        {"name": "T", "messageExamples": [[{"user": "A"}]]},
        "messageExamples[0][0].content: missing",
    ),
    (
        "content-type",
        {"name": "T", "messageExamples": [[{"user": "A", "content": "hi"}]]},
        "messageExamples[0][0].content: expected an object, got a string",
    ),
    (
        "text-missing",
        {"name": "T", "messageExamples": [[{"user": "A", "content": {}}]]},
        "messageExamples[0][0].content.text: missing",
    ),
    (
        "text",
        {"name": "T", "messageExamples": [[line()], [line(), line(text=["x"])]]},
        "messageExamples[1][1].content.text: expected a string, got a list",
    ),
    (
        "action",
        {"name": "T", "messageExamples": [[line(action=1)]]},
        "messageExamples[0][0].content.action: expected a string, got a number",
    ),
    (
        "actions",
        {"name": "T", "messageExamples": [[line(actions="REPLY")]]},
        "messageExamples[0][0].content.actions: expected a list, got a string",
    ),
    (
        "actions-item",
        {"name": "T", "messageExamples": [[line(actions=["REPLY", None])]]},
        "messageExamples[0][0].content.actions[1]: expected a string, got null",
    ),
    (
        "mixed-lines",
        {"name": "T", "messageExamples": [[{"name": "A", "content": {"text": "x"}}], [line()]]},
        'messageExamples[1][0]: names its speaker with "user", but this is a v1 character',
    ),
    (
        "v1-secrets-with-v025-lines",
        {"name": "T", "secrets": {}, "messageExamples": [[line()]]},
        'messageExamples[0][0]: names its speaker with "user", but this is a v1 character',
    ),
    ("posts", {"name": "T", "postExamples": [1]}, "postExamples[0]: expected a string"),
    ("topics", {"name": "T", "topics": "x"}, "topics: expected a list, got a string"),
    ("adjectives", {"name": "T", "adjectives": [None]}, "adjectives[0]: expected a string"),
    ("style", {"name": "T", "style": ["x"]}, "style: expected an object, got a list"),
    ("style-all", {"name": "T", "style": {"all": [1]}}, "style.all[0]: expected a string"),
    ("style-chat", {"name": "T", "style": {"chat": "x"}}, "style.chat: expected a list"),
    ("knowledge", {"name": "T", "knowledge": "x"}, "knowledge: expected a list"),
    (
        "knowledge-item",
        {"name": "T", "knowledge": [1]},
        'knowledge[0]: expected a string, or an object with one of "path" and "directory", '
        "got a number",
    ),
    (
        "knowledge-neither",
        {"name": "T", "knowledge": ["a", {"shared": True}]},
        "knowledge[1]: expected a string, or an object with one of",
    ),
    (
        "knowledge-both",
        {"name": "T", "knowledge": [{"path": "a", "directory": "b"}]},
        "knowledge[0]: expected a string, or an object with one of "
        '"path" and "directory", got an object with both',
    ),
    (
        "knowledge-path",
        {"name": "T", "knowledge": [{"path": 1}]},
        "knowledge[0].path: expected a string, got a number",
    ),
    ("knowledge-empty", {"name": "T", "knowledge": [{"directory": ""}]}, "knowledge[0].directory"),
    (
        "knowledge-shared",
        {"name": "T", "knowledge": [{"path": "a", "shared": "yes"}]},
        "knowledge[0].shared: expected a boolean, got a string",
    ),
    ("plugins", {"name": "T", "plugins": "x"}, "plugins: expected a list"),
    ("plugin", {"name": "T", "plugins": ["a", 2]}, "plugins[1]: expected a plugin name"),
    ("plugin-empty", {"name": "T", "plugins": [""]}, "plugins[0]: expected a plugin name"),
    ("plugin-object", {"name": "T", "plugins": [{"v": 1}]}, "plugins[0].name: expected"),
    ("templates", {"name": "T", "templates": ["x"]}, "templates: expected an object"),
    (
        "template",
        {"name": "T", "templates": {"factsTemplate": 1}},
        "templates.factsTemplate: expected a string, got a number",
    ),
    (
        "template-odd-key",
        {"name": "T", "templates": {"my template": None}},
        'templates["my template"]: expected a string, got null',
    ),
    ("provider", {"name": "T", "modelProvider": 1}, "modelProvider: expected a string"),
    ("settings", {"name": "T", "settings": []}, "settings: expected an object, got a list"),
    (
        "settings-secrets",
        {"name": "T", "settings": {"secrets": "k"}},
        "settings.secrets: expected an object, got a string",
    ),
    (
        "settings-secret",
        {"name": "T", "settings": {"secrets": {"OPENAI_API_KEY": 1}}},
        "settings.secrets.OPENAI_API_KEY: expected a string, got a number",
    ),
    ("secrets", {"name": "T", "secrets": ["k"]}, "secrets: expected an object, got a list"),
    (
        "secret",
        {"name": "T", "secrets": {"FLAG": {"on": True}}},
        "secrets.FLAG: expected a string, boolean or number, got an object",
    ),
    (
        "secret-null",
        {"name": "T", "secrets": {"FLAG": None}},
        "secrets.FLAG: expected a string, boolean or number, got null",
    ),
    ("nan", {"name": "T", "extra": {"x": float("nan")}}, "extra.x: not a finite number"),
    ("set", {"name": "T", "extra": {1, 2}}, "extra: not a JSON value (set)"),
    ("tuple", {"name": "T", "bio": ("a",)}, "bio: not a JSON value (tuple)"),
    ("key", {"name": "T", "extra": {1: "x"}}, "extra: object keys must be strings, got a number"),
    ("surrogate", {"name": "T\ud800"}, "name: not valid Unicode text"),
]


@pytest.mark.parametrize(
    ("document", "expected"),
    [pytest.param(doc, want, id=name) for name, doc, want in REFUSALS],
)
def test_refusal_names_the_field_and_reason(document: Any, expected: str) -> None:
    assert refused(document).startswith(expected)


def test_refusal_of_absurd_nesting() -> None:
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    assert refused({"name": "T", "extra": deep}).startswith(
        "extra" + "[0]" * 63 + ": nested more than 64 levels deep"
    )


def test_nesting_up_to_the_limit_is_fine() -> None:
    deep: Any = []
    for _ in range(62):
        deep = [deep]
    document = {"name": "T", "extra": {"x": "[[[[" * 100}, "deep": deep}  # 64 levels
    assert parse_character(document, source="t").document() == document
    text = json.dumps(document)
    assert parse_character_json(text, source="t").document() == document


def test_refusal_of_a_document_too_large() -> None:
    big = {"name": "T", "postExamples": ["x" * 1024] * (4 * 1024 + 1)}
    assert refused(big) == "larger than 4 MiB, the most a character may be"


# ---------------------------------------------------------------- refused files


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        ("invalid-not-json", "not JSON: Expecting ',' delimiter (line 4, column 1)"),
        ("invalid-not-object", "expected a JSON object, got a list"),
        (
            "invalid-example-text",
            "messageExamples[2][0].content.text: expected a string, got a number",
        ),
        ("invalid-secret-number", "settings.secrets.API_PORT: expected a string, got a number"),
    ],
)
def test_invalid_fixture_files_are_refused(file: str, reason: str) -> None:
    path = FIXTURES / f"{file}.character.json"
    with pytest.raises(InvalidCharacter) as caught:
        load_character(path)
    assert caught.value.message == f"{path}: {reason}"


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "c.character.json"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not JSON: Expecting value (line 1, column 1)"),
        (b'{"name": "\xff"}', "not UTF-8 text (bad byte at offset 10)"),
        (b'\xff\xfe{\x00"\x00', "not UTF-8 text (bad byte at offset 0)"),
        (b'{"name": "A", "name": "B"}', "not JSON this loader accepts: the key 'name' appears"),
        (b'{"name": "A", "x": NaN}', "not JSON: NaN is not a JSON number"),
        (b'{"name": "A", "x": 1e999}', "x: not a finite number"),
        (b'{"name": "A", "x": "\\ud800"}', "x: not valid Unicode text"),
        (b'{"name": "A", "x": ' + b"[" * 64 + b"]" * 64 + b"}", "nested more than 64 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 64 levels deep"),
    ],
    ids=["empty", "latin1", "utf16", "duplicate", "nan", "inf", "surrogate", "deep", "deeper"],
)
def test_unreadable_json_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InvalidCharacter) as caught:
        load_character(path)
    assert caught.value.message.startswith(f"{path}: {reason}")


def test_a_file_over_4_mib_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, b" " * (MAX_CHARACTER_BYTES + 1))
    with pytest.raises(InvalidCharacter) as caught:
        load_character(path)
    assert caught.value.message == f"{path}: larger than 4 MiB, the most a character may be"
    # Exactly at the cap is read (and then refused for what it is, not for its size).
    path = write(tmp_path, b'{"name": "A"}'.ljust(MAX_CHARACTER_BYTES))
    assert load_character(path).name == "A"


def test_missing_and_unreadable_files_are_invalid_characters(tmp_path: Path) -> None:
    with pytest.raises(InvalidCharacter, match=re.escape(f"{tmp_path / 'nope.json'}: cannot read")):
        load_character(tmp_path / "nope.json")
    with pytest.raises(InvalidCharacter, match=re.escape(f"{tmp_path}: cannot read")):
        load_character(tmp_path)


# ---------------------------------------------------------------- a shared value


def test_a_character_copies_pickles_and_serialises() -> None:
    character = load_character(V1)
    assert pickle.loads(pickle.dumps(character)) == character
    assert copy.deepcopy(character) == character
    assert json.loads(json.dumps(character.settings)) == {
        "model": "gpt-4o",
        "avatar": "https://example.invalid/bram.png",
    }
    as_dict = dataclasses.asdict(character)
    assert as_dict["templates"] == dict(character.templates)
    with pytest.raises(TypeError, match="read-only"):
        character.redacted_document["settings"]["secrets"]["X"] = "y"
