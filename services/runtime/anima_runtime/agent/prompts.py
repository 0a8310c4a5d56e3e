"""The default prompt templates of the message loop (ElizaOS names and placeholders).

A character overrides one by naming it in its `templates` (`template_for`). The
values they draw on are composed per message (`template_values.py`); a section value
carries its own heading and is empty when it has nothing to say, so an empty
section leaves no heading behind. Knowledge, facts and the time reach the
prompt through {{providers}}: from the plugins' providers, or the runtime's own
when no provider gives them (they are also values of their own: {{knowledge}},
{{facts}}, {{time}}).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from anima_runtime.agent.templates import render

MESSAGE_HANDLER = "messageHandlerTemplate"
CONTINUE_MESSAGE_HANDLER = "continueMessageHandlerTemplate"

_CONTEXT = """\
{{system}}

# About {{agentName}}
{{bio}}
{{lore}}
{{adjectives}}
{{topics}}

{{characterMessageExamples}}

{{messageDirections}}

{{providers}}

{{relevantMemories}}

{{actionsWithDescriptions}}

{{actionExamples}}

{{recentMessages}}
"""

_ANSWER_FORMAT = """\
Answer with one JSON object and nothing else, like this:
```json
{"thought": "...", "text": "...", "actions": ["NONE"]}
```
"thought" says briefly why {{agentName}} answers this way; "text" is the message \
{{agentName}} sends; "actions" names the actions to take, in order, chosen from: \
{{actionNames}} (NONE: just the reply). To say nothing, answer with "actions": ["IGNORE"] \
and an empty "text".
"""

MESSAGE_HANDLER_TEMPLATE = (
    "# Task: write the next message of {{agentName}} in this conversation, "
    "and choose the actions {{agentName}} takes.\n\n"
    + _CONTEXT
    + """
# Instructions
Write the next message of {{agentName}} in reply to {{senderName}}, in the voice and \
style described above. Use the knowledge, facts and earlier messages where they help; \
the examples only show the style and must not be quoted as facts.
"""
    + _ANSWER_FORMAT
)

CONTINUE_MESSAGE_HANDLER_TEMPLATE = (
    "# Task: continue the last message of {{agentName}} in this conversation.\n\n"
    + _CONTEXT
    + """
# Instructions
{{agentName}} has more to say after the last message. Write only what follows it, \
without repeating it; if nothing is left to say, answer with an empty "text" and \
"actions": ["NONE"].
"""
    + _ANSWER_FORMAT
)

_BLANK_LINES = re.compile(r"\n\s*\n(\s*\n)+")

DEFAULT_TEMPLATES: dict[str, str] = {
    MESSAGE_HANDLER: MESSAGE_HANDLER_TEMPLATE,
    CONTINUE_MESSAGE_HANDLER: CONTINUE_MESSAGE_HANDLER_TEMPLATE,
}


def render_prompt(template: str, values: Mapping[str, str]) -> str:
    """`template` rendered, without the runs of blank lines that empty sections leave."""
    return _BLANK_LINES.sub("\n\n", render(template, values)).strip() + "\n"
