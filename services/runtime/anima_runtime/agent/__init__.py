"""The agent: its message loop (`AgentRuntime`), the state a turn is answered from,
the prompts, and what a turn returns.

runtime.py is the running agent (what plugins see, its lifecycle, the rooms'
queues); loop.py how one turn is answered; limits.py what a turn may take
(`TurnLimits`); compose.py the state; template_values.py the prompt's values from
it; steps.py the actions and evaluators; record.py a turn's writes to memory and
the log; messages.py the checks on what comes in; payloads.py what a log entry
holds; progress.py a turn in progress and its model time.

`AgentRuntime` and the composition load on first use: plugins import the agent's
small modules (state, formats, prompts), and the runtime imports plugins back.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anima_runtime.agent.compose import Composed, compose_state
    from anima_runtime.agent.limits import TurnLimits
    from anima_runtime.agent.runtime import AgentRuntime
    from anima_runtime.agent.state import State
    from anima_runtime.agent.turn import (
        LoggedAction,
        LoggedEvaluation,
        LoggedResponse,
        TurnResult,
    )

_LAZY = {
    "AgentRuntime": "anima_runtime.agent.runtime",
    "TurnLimits": "anima_runtime.agent.limits",
    "Composed": "anima_runtime.agent.compose",
    "compose_state": "anima_runtime.agent.compose",
    "State": "anima_runtime.agent.state",
    "LoggedAction": "anima_runtime.agent.turn",
    "LoggedEvaluation": "anima_runtime.agent.turn",
    "LoggedResponse": "anima_runtime.agent.turn",
    "TurnResult": "anima_runtime.agent.turn",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AgentRuntime",
    "Composed",
    "LoggedAction",
    "LoggedEvaluation",
    "LoggedResponse",
    "State",
    "TurnLimits",
    "TurnResult",
    "compose_state",
]
