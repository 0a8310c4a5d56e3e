"""`anima character inspect FILE [--json]`: what Anima understood of a character file.

Prints counts and names, never secret values (secrets are counted only). Exit 0 when
the file is a valid character, 1 with `anima character inspect: FILE: reason` on
stderr when it is not or cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anima_runtime.character.load import load_character
from anima_runtime.character.model import Character
from anima_runtime.errors import InvalidCharacter

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_INVALID = 1


def register(commands: SubParsers) -> None:
    """Add `character inspect` to the `anima` command line."""
    character = commands.add_parser("character", help="check ElizaOS character files")
    sub = character.add_subparsers(dest="character_command", required=True, metavar="COMMAND")
    inspect = sub.add_parser(
        "inspect",
        help="show what Anima understands of a character file",
        description="Exit 0 if FILE is a valid ElizaOS character (v0.25 or v1), 1 if not. "
        "Secret values are never printed.",
    )
    inspect.add_argument("file", metavar="FILE", type=Path, help="the character JSON file")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(func=_inspect)


def summary(character: Character) -> dict[str, Any]:
    """What was understood, as JSON-ready values (no secret values)."""
    knowledge = character.knowledge
    return {
        "file": character.source,
        "name": character.name,
        "shape": character.shape,
        "username": character.username,
        "system_prompt": bool(character.system),
        "bio": len(character.bio),
        "lore": len(character.lore),
        "message_examples": len(character.message_examples),
        "message_example_lines": sum(len(c) for c in character.message_examples),
        "post_examples": len(character.post_examples),
        "topics": len(character.topics),
        "adjectives": len(character.adjectives),
        "style": {
            "all": len(character.style_all),
            "chat": len(character.style_chat),
            "post": len(character.style_post),
        },
        "knowledge": {
            "items": len(knowledge),
            "texts": sum(1 for k in knowledge if k.text),
            "paths": sum(1 for k in knowledge if k.path),
            "directories": sum(1 for k in knowledge if k.directory),
        },
        "plugins": list(character.plugins),
        "templates": sorted(character.templates),
        "model_provider": character.model_provider,
        "settings": list(character.settings),
        "secrets": len(character.secrets),
        "kept_fields": list(character.kept_fields),
    }


def _text(info: dict[str, Any]) -> str:
    def names(values: list[str]) -> str:
        return ", ".join(values) if values else "(none)"

    style, knowledge = info["style"], info["knowledge"]
    rows = [
        ("name", info["name"]),
        ("shape", info["shape"]),
        ("username", info["username"] or "(none)"),
        ("system prompt", "yes" if info["system_prompt"] else "no"),
        ("bio", info["bio"]),
        ("lore", info["lore"]),
        (
            "message examples",
            f"{info['message_examples']} conversations, {info['message_example_lines']} lines",
        ),
        ("post examples", info["post_examples"]),
        ("topics", info["topics"]),
        ("adjectives", info["adjectives"]),
        ("style", f"all {style['all']}, chat {style['chat']}, post {style['post']}"),
        (
            "knowledge",
            f"{knowledge['items']} items ({knowledge['texts']} texts, {knowledge['paths']} "
            f"files, {knowledge['directories']} directories)",
        ),
        ("plugins", names(info["plugins"])),
        ("templates", names(info["templates"])),
        ("model provider", info["model_provider"] or "(none)"),
        ("settings", names(info["settings"])),
        ("secrets", f"{info['secrets']} (values not shown)"),
        ("kept fields", names(info["kept_fields"])),
    ]
    return "\n".join(f"{label + ':':<18}{value}" for label, value in rows)


def _inspect(args: argparse.Namespace) -> int:
    try:
        character = load_character(args.file)
    except InvalidCharacter as exc:
        print(f"anima character inspect: {exc.message}", file=sys.stderr)
        return EXIT_INVALID
    info = summary(character)
    print(json.dumps(info, ensure_ascii=False, indent=2) if args.json else _text(info))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`anima character ...` on its own (tests, or before the command is registered)."""
    parser = argparse.ArgumentParser(prog="anima")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
