"""The embedded lines the offline model retrieves from (an action's triggers, a
character's example prompts) and the caches it keeps of them, so that a character's or
an action's lines are embedded once, not per message."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from anima_memory_api.types import Matrix
from anima_runtime.errors import ModelFailed


@dataclass(frozen=True, slots=True)
class Index:
    """Embedded lines (an action's triggers, a character's example prompts) and what
    answers each."""

    lines: tuple[str, ...]
    replies: tuple[str, ...]
    vectors: Matrix

    def best(self, vector: Matrix) -> tuple[int, float]:
        if not self.lines:
            return -1, -1.0
        scores = self.vectors @ vector
        i = int(np.argmax(scores))
        return i, float(scores[i])


_K = TypeVar("_K", bound=Hashable)
_V = TypeVar("_V")


class Lru(OrderedDict[_K, _V]):
    """A map that keeps the `size` entries used last."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def recall(self, key: _K) -> _V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def remember(self, key: _K, value: _V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def checked_rows(vectors: Matrix, count: int) -> Matrix:
    """The embedder's answer as float32 rows, one per text; ModelFailed if it is not."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise ModelFailed(f"the embedder returned {matrix.shape} for {count} texts")
    return matrix


def unit_vector(vector: Matrix) -> Matrix:
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    return flat / np.float32(norm) if norm > 0 else flat
