"""A log writer for the kill -9 test: appends forever, printing what was acknowledged.

Usage: python -m tests.log.crash_writer STATE_DIR
Each line `ack <producer> <seq> <index>` is printed (and flushed) only after
AgentLog.append returned, i.e. after the checkpoint covering it was durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from anima_dev.inprocess_log import InProcessSequencer
from anima_runtime.log.items import LogItem
from anima_runtime.log.service import AgentLog
from anima_signer_api.errors import AgentExists
from anima_verify.tlog.entry import EntryKind
from tests.log.conftest import AGENT, SIGNING_POLICY, open_signer

PRODUCERS = 8


def payload(producer: int, seq: int) -> bytes:
    return f"producer {producer} item {seq}".encode() * (1 + seq % 3)


async def main(state: Path) -> None:
    signer = await open_signer(state / "signer")
    with contextlib.suppress(AgentExists):  # a restart on the same state
        signer.create_agent(agent_id=AGENT, wallet_count=1, policy=SIGNING_POLICY)
    log = await AgentLog.open(
        agent_id=AGENT, directory=state / "log", sequencer=InProcessSequencer(signer)
    )

    async def produce(producer: int) -> None:
        seq = 0
        while True:
            batch = [(seq + k) for k in range(1 + seq % 5)]
            items = [
                LogItem(EntryKind.MESSAGE_IN, f"user{producer}", "room", payload(producer, s))
                for s in batch
            ]
            indices = await log.append(items)
            sys.stdout.write(
                "".join(f"ack {producer} {s} {i}\n" for s, i in zip(batch, indices, strict=True))
            )
            sys.stdout.flush()
            seq += len(batch)

    await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
