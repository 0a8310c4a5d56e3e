"""A new agent's keys in the signer: created with the admin client, or adopted.

With an admin client the runtime creates the agent in the signer (CreateAgent);
an id the signer already holds is adopted (GetAgent) when the caller named it:
the agent was created in the signer beforehand (`anima agent create`) and this
runtime now hosts it. Without one, the agent must already exist there.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from typing import Final

from anima_runtime.character.model import Character
from anima_runtime.config import SigningDefaults
from anima_runtime.errors import (
    AgentAlreadyExists,
    AgentKeysMissing,
    InvalidAgentId,
    SignerUnavailable,
)
from anima_runtime.manager.failures import KNOWN_FAILURES, signer_failure
from anima_runtime.manager.ports import AgentCreator, AgentDirectory
from anima_signer_api.errors import AgentExists, UnknownAgent
from anima_signer_api.types import Agent

_SLUG_CHARS: Final = 40
_ID_ATTEMPTS: Final = 5


class _Taken(Exception):
    """A derived id the signer already holds: try another."""


class AgentKeys:
    """Finds or makes the signer's keys for the agents a runtime creates."""

    def __init__(
        self, *, signer: AgentDirectory, admin: AgentCreator | None, signing: SigningDefaults
    ) -> None:
        self._signer = signer
        self._admin = admin
        self._signing = signing

    async def for_new_agent(
        self, character: Character, agent_id: str | None, *, taken: Callable[[str], bool]
    ) -> tuple[Agent, str]:
        """The agent's keys in the signer, created unless the runtime may not; its id
        (`agent_id`, or one derived from the character's name that is not `taken`
        on this runtime nor in the signer)."""
        if agent_id is not None:
            if taken(agent_id):
                raise AgentAlreadyExists(f"agent {agent_id!r} already exists on this runtime")
            return await self._keys_for(agent_id, adopt=True), agent_id
        if self._admin is None:
            raise InvalidAgentId(
                "agent_id is required: this runtime cannot create agents in the signer, "
                "so the agent must exist there already"
            )
        for _ in range(_ID_ATTEMPTS):
            candidate = derive_agent_id(character.name)
            if taken(candidate):
                continue
            with contextlib.suppress(_Taken):
                return await self._keys_for(candidate, adopt=False), candidate
        raise SignerUnavailable(
            f"no free agent id for {character.name!r} in {_ID_ATTEMPTS} attempts"
        )

    async def restored(self, agent_id: str) -> Agent:
        """The keys of an agent restored into the signer (GetAgent, runtime role): never
        created here, since a restored agent's keys come from its recovered root."""
        try:
            return await self._signer.get_agent(agent_id)
        except UnknownAgent:
            raise AgentKeysMissing(
                f"the signer has no agent {agent_id!r}: restore it into the signer first "
                "(`anima agent recover`)"
            ) from None
        except KNOWN_FAILURES as exc:
            raise signer_failure(exc, f"looking up agent {agent_id!r}") from exc

    async def _keys_for(self, agent_id: str, *, adopt: bool) -> Agent:
        """CreateAgent with the admin client; an id the signer holds is adopted when
        `adopt` (the caller named it), else _Taken."""
        if self._admin is not None:
            try:
                return await self._admin.create_agent(
                    agent_id,
                    policy=self._signing.policy(),
                    wallet_count=self._signing.wallet_count,
                    owner=self._signing.owner,
                )
            except AgentExists:
                if not adopt:
                    raise _Taken from None
            except KNOWN_FAILURES as exc:
                raise signer_failure(exc, f"creating agent {agent_id!r}") from exc
        try:
            return await self._signer.get_agent(agent_id)
        except UnknownAgent:
            raise AgentKeysMissing(
                f"the signer has no agent {agent_id!r}, and this runtime has no admin "
                "access to create it: create it in the signer first"
            ) from None
        except KNOWN_FAILURES as exc:
            raise signer_failure(exc, f"looking up agent {agent_id!r}") from exc


def derive_agent_id(name: str) -> str:
    """An agent id from a character's name: its slug and a short random suffix
    ("Ada Lovelace" -> "ada-lovelace-3f9a1c")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:_SLUG_CHARS].strip("-") or "agent"
    return f"{slug}-{secrets.token_hex(3)}"
