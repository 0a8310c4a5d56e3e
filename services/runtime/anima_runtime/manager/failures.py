"""How the manager reports what went wrong: in a view's `problem`, in a warning, as
SignerUnavailable when the signer fails under the runtime's own request.

The signer's client raises the signer's typed errors (anima_signer_api.errors), and
an in-process signer core raises the same ones, so nothing here decodes gRPC.
"""

from __future__ import annotations

from typing import Final

from anima_runtime.errors import SignerUnavailable
from anima_verify.errors import AnimaError

#: How a call to the signer, or an agent's start, fails in ways this runtime expects:
#: a domain error (the signer's, typed by its client, or the runtime's own) or the
#: network. Anything else is logged with its traceback.
KNOWN_FAILURES: Final = (AnimaError, OSError)


def describe(exc: BaseException) -> str:
    """Why something failed, for a view or a warning: the messages of domain errors
    (they never carry secrets: the runtime's own, or what the signer said), the OS's,
    or only the kind of an unknown error."""
    if isinstance(exc, AnimaError):
        return exc.message
    if isinstance(exc, OSError):
        return str(exc)
    return f"unexpected {type(exc).__name__}; see the runtime's log"


def signer_failure(exc: BaseException, doing: str) -> SignerUnavailable:
    """The runtime's error for a signer call that failed under `doing`."""
    return SignerUnavailable(f"signer, {doing}: {describe(exc)}")
