"""What one message turn did, as the API returns it: every step with its log index;
together they name every entry the turn appended. The types live in the runtime's API
package (callers share them); the loop builds them here."""

from __future__ import annotations

from anima_runtime_api.types import LoggedAction, LoggedEvaluation, LoggedResponse, TurnResult

__all__ = ["LoggedAction", "LoggedEvaluation", "LoggedResponse", "TurnResult"]
