"""The memory service's session-wide model, shared with tests/memory."""

from tests.memory.conftest import minilm

__all__ = ["minilm"]
