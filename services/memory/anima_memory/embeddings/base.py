"""The interface the memory service embeds text through."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from anima_memory_api.types import Matrix


class Embedder(Protocol):
    """Turns texts into unit-length float32 rows of `dimension` columns."""

    @property
    def dimension(self) -> int: ...

    @property
    def model_name(self) -> str:
        """Names the model, so an export records what its vectors mean."""

    async def embed(self, texts: Sequence[str]) -> Matrix:
        """One row per text, in order; raises EmbeddingFailed if the backend fails."""

    async def aclose(self) -> None: ...
