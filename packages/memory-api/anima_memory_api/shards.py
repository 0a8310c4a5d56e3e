"""Which memory replica owns an agent: several replicas shard the agents between them.

A memory service keeps its guarantees (a `unique` check and its insert as one
step, an export as a snapshot, an id claimed once) with locks inside its own
process. Qdrant has no transactions across processes, so with several replicas
every agent has exactly one: replica `i` of `N` serves the agents whose shard
is `i`, refuses every other agent (WrongShard), and callers route each call by
its agent (anima_memory_api.router).

The shard of an agent, for any caller in any language:

    shard_of(agent_id, N) = uint64_be(SHA-256(UTF-8(agent_id))[0:8]) mod N

(agent ids are ASCII by their grammar, so UTF-8 is their bytes as written).
Changing N moves agents between shards: re-shard by export and import.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SHARD_TEXT = re.compile(r"(\d{1,9})/(\d{1,9})")


def shard_of(agent_id: str, count: int) -> int:
    """The shard (0 <= shard < count) that owns `agent_id`; stable across processes."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, got {count}")
    # surrogatepass: a malformed id still gets a shard (its replica then refuses it).
    digest = hashlib.sha256(agent_id.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    """The agents one replica serves: those with shard_of(agent, count) == index."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in [0, {self.count}), got {self.index}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'INDEX/COUNT' (as `anima memory serve --shard 1/2` takes it)."""
        match = _SHARD_TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"a shard is INDEX/COUNT (e.g. 0/2), got {text!r}")
        return cls(index=int(match[1]), count=int(match[2]))

    def owns(self, agent_id: str) -> bool:
        return self.count == 1 or shard_of(agent_id, self.count) == self.index

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}"


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """What a replica says of itself (the Describe call)."""

    shard: Shard
    embedding_model: str
    dimension: int


__all__ = ["ReplicaInfo", "Shard", "shard_of"]
