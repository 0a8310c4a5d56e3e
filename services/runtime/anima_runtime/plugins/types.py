"""Plugin parts with ElizaOS semantics: actions, providers, evaluators, services.

An ElizaOS plugin bundles these; the runtime asks every provider for context
when it composes state, offers the validated actions to the model, runs the
actions the response names (each handler may answer through the callback), and
runs evaluators after the turn (`always_run`, or when `validate` says so).

Handlers get the `AgentContext` (ElizaOS passes the runtime itself): the agent's
character, memory, model and embedder, never the signer's keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from anima_memory_api.types import Matrix
    from anima_runtime.agent.memory import MemoryPort
    from anima_runtime.agent.state import State
    from anima_runtime.character.model import Character
    from anima_runtime.llm.base import ChatModel


@dataclass(frozen=True, slots=True)
class Content:
    """What a message says: text plus the actions the speaker chose (ElizaOS Content)."""

    text: str
    actions: tuple[str, ...] = ()
    thought: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    """One message in a room, as the runtime handles it (stored in the messages table)."""

    id: str  # memory UUID
    agent_id: str
    entity_id: str  # who said it: a user id, or the agent id for its own messages
    room_id: str
    content: Content
    created_at_ms: int


#: How an action answers the room while it runs (ElizaOS HandlerCallback); each call
#: becomes a stored, logged response.
HandlerCallback = Callable[[Content], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ExampleLine:
    """One line of an example conversation: who speaks, what, and the action chosen."""

    speaker: str
    text: str
    action: str | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    success: bool = True
    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderResult:
    """Context for the prompt: `text` goes into the providers section, `values` become
    template variables, `data` is for code (other providers, actions)."""

    text: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EvaluatorResult:
    """What an evaluator did this turn (logged as the evaluator's entry)."""

    summary: str
    data: Mapping[str, Any] = field(default_factory=dict)


class AgentContext(Protocol):
    """What plugins may use of the running agent."""

    @property
    def agent_id(self) -> str: ...

    @property
    def character(self) -> Character: ...

    @property
    def memory(self) -> MemoryPort: ...

    @property
    def model(self) -> ChatModel: ...

    async def embed(self, texts: Sequence[str]) -> Matrix: ...

    def setting(self, key: str) -> str | None:
        """A character setting or secret (secrets never reach logs or the API)."""

    def now_ms(self) -> int: ...


Validate = Callable[["AgentContext", Message, "State"], Awaitable[bool]]
ActionHandler = Callable[
    ["AgentContext", Message, "State", HandlerCallback], Awaitable[ActionResult | None]
]
ProviderGet = Callable[["AgentContext", Message, "State"], Awaitable[ProviderResult]]
EvaluatorHandler = Callable[
    ["AgentContext", Message, "State", Sequence[Message]], Awaitable[EvaluatorResult | None]
]


async def always(context: AgentContext, message: Message, state: State) -> bool:
    """The default `validate`: applies to every message."""
    return True


@dataclass(frozen=True, slots=True)
class Action:
    name: str  # upper snake case, as ElizaOS names them (SEND_TOKEN)
    description: str
    handler: ActionHandler
    similes: tuple[str, ...] = ()
    examples: tuple[tuple[ExampleLine, ...], ...] = ()
    validate: Validate = always


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    get: ProviderGet
    description: str = ""


@dataclass(frozen=True, slots=True)
class Evaluator:
    name: str
    description: str
    handler: EvaluatorHandler
    similes: tuple[str, ...] = ()
    examples: tuple[tuple[ExampleLine, ...], ...] = ()
    always_run: bool = False
    validate: Validate = always


class Service(Protocol):
    """A long-lived part a plugin starts with the agent and stops with it."""

    name: str

    async def start(self, context: AgentContext) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Plugin:
    name: str
    description: str = ""
    actions: tuple[Action, ...] = ()
    providers: tuple[Provider, ...] = ()
    evaluators: tuple[Evaluator, ...] = ()
    services: tuple[Callable[[], Service], ...] = ()  # factories: one service per agent
