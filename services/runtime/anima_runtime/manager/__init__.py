"""The agents this runtime hosts: create, start, stop, talk to, and bring back.

    manager = await AgentManager.open(config=config, memory=memory, logs=registry,
                                      signer=runtime_client, admin=admin_client)
    view = await manager.create(document)            # keys in the enclave, log, loop
    result = await manager.send_message(view.agent_id, room_id="r1", text="hi")

Creating an agent asks the signer to derive its keys (the admin client's
CreateAgent; with no admin client the agent must already exist there, and
GetAgent finds it: keys.py), opens its log, and persists it under
<data_dir>/agents/<id>/ (records.py): the character document as given (mode
0600: it may hold secrets) and agent.json (running flag, creation time, wallet
addresses, log verifier key). The data directory, agents/ and the logs root are
created owner-only (0700). `open` brings every persisted agent back in the state
it was left in, so a restarted runtime answers as before; an agent directory it
cannot read is skipped with a warning (and left as it is, for the operator), and
an agent that fails to start stays listed, stopped, with the reason in its view's
`problem` (failures.py). Stopping keeps every piece of data; a stopped agent
refuses messages (AgentStopped).

Views never carry the character's secrets, and nothing here logs them.
"""

from anima_runtime.errors import AgentKeysMissing, InvalidAgentId, SignerUnavailable
from anima_runtime.manager.agents import AgentManager
from anima_runtime.manager.keys import derive_agent_id
from anima_runtime.manager.ports import (
    AgentCreator,
    AgentDirectory,
    AgentLoop,
    ModelFactory,
    RuntimeFactory,
    configured_models,
)
from anima_runtime.manager.records import AgentRecord
from anima_runtime_api.types import AgentView

__all__ = [
    "AgentCreator",
    "AgentDirectory",
    "AgentKeysMissing",
    "AgentLoop",
    "AgentManager",
    "AgentRecord",
    "AgentView",
    "InvalidAgentId",
    "ModelFactory",
    "RuntimeFactory",
    "SignerUnavailable",
    "configured_models",
    "derive_agent_id",
]
