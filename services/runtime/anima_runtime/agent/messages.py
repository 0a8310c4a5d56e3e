"""Messages in and out of a turn: the checks an incoming message must pass (before
anything is stored or logged), and how a message is stored in memory.

An incoming message is taken with the character's secrets redacted from its text
and user name: what the agent heard is stored, embedded, logged and shown to
plugins without them, and the limits apply to it as taken."""

from __future__ import annotations

from collections.abc import Collection

from anima_memory_api.types import REF_ID_PATTERN, REF_ID_RULE, Matrix, MemoryDraft, shown
from anima_runtime.agent.compose import MESSAGES
from anima_runtime.agent.limits import TurnLimits
from anima_runtime.agent.payloads import AGENT_ACTOR, Redactor
from anima_runtime.errors import InvalidMessage
from anima_runtime.plugins.types import Message
from anima_verify.tlog.entry import EntryKind, check_host_writable
from anima_verify.tlog.errors import LogVerificationError
from anima_verify.tlog.labels import label_key


def check_message(
    *,
    agent_id: str,
    room_id: str,
    entity_id: str,
    text: str,
    user_name: str | None,
    agent_names: Collection[str],
    limits: TurnLimits,
    redactor: Redactor,
) -> tuple[str, str | None]:
    """The text and user name as the turn takes them (stripped, secrets redacted);
    InvalidMessage if refused. `agent_names`: the character's names, which no user
    may speak under."""
    for value, what in ((room_id, "room_id"), (entity_id, "entity_id")):
        if not isinstance(value, str) or REF_ID_PATTERN.fullmatch(value) is None:
            raise InvalidMessage(f"{what} must be {REF_ID_RULE}, got {shown(value)}")
    if entity_id == agent_id:
        raise InvalidMessage("entity_id is the agent's own id: messages come from others")
    if label_key(entity_id) == AGENT_ACTOR:  # "Agent" would read as the agent's own
        raise InvalidMessage(f"entity_id {AGENT_ACTOR!r} is the log actor of the agent's entries")
    try:
        check_host_writable(EntryKind.MESSAGE_IN, entity_id)
    except LogVerificationError as exc:
        raise InvalidMessage(f"entity_id cannot be a log actor: {exc.message}") from None
    if not isinstance(text, str):
        raise InvalidMessage(f"text must be a string, got {type(text).__name__}")
    text = redactor.text(text.strip())
    if not text:
        raise InvalidMessage("text is empty")
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise InvalidMessage("text is not valid Unicode (lone surrogate)") from None
    if size > limits.max_message_bytes:
        raise InvalidMessage(f"text is {size} bytes (UTF-8); at most {limits.max_message_bytes}")
    if user_name is not None:
        if not isinstance(user_name, str):
            raise InvalidMessage(f"user_name must be a string, got {type(user_name).__name__}")
        user_name = redactor.text(user_name.strip()) or None
    if user_name is not None:
        if len(user_name) > limits.max_user_name_chars:
            raise InvalidMessage(
                f"user_name is {len(user_name)} characters; at most {limits.max_user_name_chars}"
            )
        if not user_name.isprintable():
            raise InvalidMessage("user_name must be one line of printable characters")
        # Prompts name each speaker: a user named as the agent would put words in its mouth.
        if user_name.casefold() in {n.casefold() for n in agent_names if n}:
            raise InvalidMessage(f"user_name {user_name!r} is the agent's own name")
    return text, user_name


def draft(message: Message, vector: Matrix | None = None) -> MemoryDraft:
    """The memory of `message` in the messages table, with its embedding (None: the
    memory service embeds the text)."""
    return MemoryDraft(
        id=message.id,
        agent_id=message.agent_id,
        entity_id=message.entity_id,
        room_id=message.room_id,
        table=MESSAGES,
        text=message.content.text,
        fields=dict(message.content.fields),
        created_at_ms=message.created_at_ms,
        vector=vector,
    )
