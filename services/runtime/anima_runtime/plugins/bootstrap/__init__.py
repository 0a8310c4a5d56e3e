"""The bootstrap plugin every agent has, as ElizaOS includes plugin-bootstrap by
default: the CONTINUE, IGNORE and NONE actions, the time, facts and knowledge
providers, and the fact evaluator."""

from __future__ import annotations

from anima_runtime.plugins.bootstrap.actions import (
    BOOTSTRAP_ACTIONS,
    MAX_CONTINUES_IN_A_ROW,
    continue_action,
    ignore_action,
    none_action,
)
from anima_runtime.plugins.bootstrap.facts import FACTS_TEMPLATE, fact_evaluator
from anima_runtime.plugins.bootstrap.providers import facts_provider, time_provider
from anima_runtime.plugins.knowledge.provider import knowledge_provider
from anima_runtime.plugins.types import Plugin

BOOTSTRAP = "bootstrap"


def bootstrap_plugin() -> Plugin:
    return Plugin(
        name=BOOTSTRAP,
        description="What every agent can do: continue, ignore, answer; time, facts, knowledge.",
        actions=BOOTSTRAP_ACTIONS,
        providers=(time_provider, facts_provider, knowledge_provider),
        evaluators=(fact_evaluator,),
    )


__all__ = [
    "BOOTSTRAP",
    "FACTS_TEMPLATE",
    "MAX_CONTINUES_IN_A_ROW",
    "bootstrap_plugin",
    "continue_action",
    "fact_evaluator",
    "facts_provider",
    "ignore_action",
    "none_action",
    "time_provider",
]
