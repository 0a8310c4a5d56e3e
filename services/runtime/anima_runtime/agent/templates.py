"""Prompt templates: ElizaOS `{{name}}` placeholders, overridable by the character.

A character's `templates` maps a template name (messageHandlerTemplate,
factsTemplate, ...) to its own text; `template_for` picks it over the default.
Placeholders with no value render empty, as in ElizaOS (handlebars).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from anima_runtime.character.model import Character

_PLACEHOLDER = re.compile(r"\{\{\{?\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}?\}\}")


def render(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template)


def template_for(character: Character, name: str, default: str) -> str:
    override = character.templates.get(name)
    return override if isinstance(override, str) and override.strip() else default
