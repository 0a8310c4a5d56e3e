"""What the agent manager needs from the outside: the signer, a running agent, a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from anima_runtime.agent.memory import MemoryPort
from anima_runtime.agent.turn import TurnResult
from anima_runtime.character.model import Character
from anima_runtime.llm.base import ChatModel
from anima_runtime.llm.config import ModelConfig
from anima_runtime.llm.offline import OfflineModel
from anima_runtime.llm.select import chat_model_for
from anima_signer_api.types import Agent, SigningPolicy


class AgentDirectory(Protocol):
    """Looks up an agent's public keys (the signer's GetAgent; runtime role)."""

    async def get_agent(self, agent_id: str) -> Agent: ...


class AgentCreator(AgentDirectory, Protocol):
    """Creates agents in the signer (CreateAgent; admin role): SignerClient as it is."""

    async def create_agent(
        self, agent_id: str, *, policy: SigningPolicy, wallet_count: int = 1, owner: str = ""
    ) -> Agent: ...


class AgentLoop(Protocol):
    """What the manager needs of a running agent (anima_runtime.agent.runtime.AgentRuntime)."""

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def handle_message(
        self, *, room_id: str, entity_id: str, text: str, user_name: str | None = None
    ) -> TurnResult: ...


#: Builds an agent's loop; takes AgentRuntime's keywords (agent_id, character, memory,
#: model, log, plugins, limits, knowledge_dir). The default is AgentRuntime itself.
RuntimeFactory = Callable[..., AgentLoop]
#: The chat model for a character (the configured one, or the character's own choice).
ModelFactory = Callable[[Character], ChatModel]


def configured_models(
    config: ModelConfig, memory: MemoryPort, *, production: bool = False
) -> ModelFactory:
    """The model each character talks to under `config` (models/select.py), the offline
    model (embedding through `memory`) wherever no endpoint is known."""

    def factory(character: Character) -> ChatModel:
        return chat_model_for(
            character,
            config,
            offline=lambda: OfflineModel(memory.embed),
            production=production,
        )

    return factory
