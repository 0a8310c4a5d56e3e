"""The beacon light client as the chain client's source of trusted heads.

With a beacon node configured, the chain client trusts no block hash of its own
configuration: each trusted head is the execution payload header of a beacon
header the sync committee signed (anima_verify.beacon), and the header store
accepts a node's header only when it is that block or one of its ancestors by
parent links. Dev chains without a beacon chain (anvil) keep `checkpoint_hash`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from anima_chain.config import BeaconSourceConfig
from anima_verify.beacon.client import ExecutionHead, LightClient
from anima_verify.beacon.rest import BeaconApi
from anima_verify.errors import AnimaError

log = logging.getLogger(__name__)


class BeaconHeads:
    """Syncs `client` at most every `poll_s` seconds and answers its verified head
    (`follow`: the optimistic or the finalized one)."""

    def __init__(
        self,
        client: LightClient,
        *,
        follow: str = "optimistic",
        poll_s: float = 6.0,
        api: BeaconApi | None = None,
    ) -> None:
        self._client = client
        self._api = api
        self._follow = follow
        self._poll_s = poll_s
        self._synced_at: float | None = None
        self._head: ExecutionHead | None = None
        self._lock = asyncio.Lock()
        #: The last refusal's reason (None after a sync that verified): for status and tests.
        self.last_refusal: str | None = None

    @classmethod
    def from_config(cls, config: BeaconSourceConfig, *, data_dir: Path) -> BeaconHeads:
        chain = config.chain_config()
        api = BeaconApi(config.url, chain, ssz=config.ssz)
        client = LightClient(
            config=chain,
            api=api,
            checkpoint=config.checkpoint_root,
            state_path=config.state_file or data_dir / "beacon-light-client.json",
            strict_checkpoint_age=config.strict_checkpoint_age,
            max_checkpoint_age=config.max_checkpoint_age_s,
        )
        return cls(client, follow=config.follow, poll_s=config.poll_s, api=api)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    async def verified_head(self) -> ExecutionHead:
        """The newest verified head. The first sync's refusal raises (nothing is trusted
        yet); a later one is logged and the last verified head stays, since a beacon
        node that sends a forged update must not move it, and reads proven at it stay
        true."""
        async with self._lock:
            due = self._synced_at is None or time.monotonic() - self._synced_at >= self._poll_s
            if due:
                try:
                    # Blocking HTTP and BLS checks: off the event loop.
                    await asyncio.to_thread(self._client.sync)
                    self.last_refusal = None
                except AnimaError as exc:
                    if self._head is None:
                        raise
                    self.last_refusal = exc.reason
                    log.warning(
                        "beacon light client refused new data (%s); trusted head stays at block %d",
                        exc.reason,
                        self._head.block_number,
                    )
                self._synced_at = time.monotonic()
                self._head = (
                    self._client.finalized_head()
                    if self._follow == "finalized"
                    else self._client.optimistic_head()
                )
            if self._head is None:  # set by the first sync, or it raised
                raise RuntimeError("the beacon light client has no verified head")
            return self._head
