"""DaSyncService over gRPC: thin, converts and calls the Syncer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anima.dasync.v1 import dasync_pb2 as pb
from anima.dasync.v1 import dasync_pb2_grpc as pb_grpc
from anima_dasync.config import ROLE_ADMIN
from anima_dasync.syncer import Syncer

if TYPE_CHECKING:
    from anima_core.interceptors import Context

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["DaSyncService"].full_name
ERROR_DOMAIN = "dasync.anima"
ACCESS_LIST = {
    f"/{SERVICE_NAME}/GetLatestManifest": frozenset({ROLE_ADMIN}),
    f"/{SERVICE_NAME}/SyncAgent": frozenset({ROLE_ADMIN}),
}


class DaSyncServicer(pb_grpc.DaSyncServiceServicer):  # type: ignore[misc]
    def __init__(self, *, syncer: Syncer) -> None:
        self._syncer = syncer

    async def GetLatestManifest(
        self, request: pb.GetLatestManifestRequest, context: Context
    ) -> pb.GetLatestManifestResponse:
        version, digest = self._syncer.latest(request.agent_id)
        return pb.GetLatestManifestResponse(version=version, manifest_hash=digest)

    async def SyncAgent(
        self, request: pb.SyncAgentRequest, context: Context
    ) -> pb.SyncAgentResponse:
        outcome = await self._syncer.sync(request.agent_id)
        response = pb.SyncAgentResponse(
            version=outcome.anchored.version,
            manifest_hash=outcome.anchored.manifest_hash,
            log_size=outcome.anchored.checkpoint_size,
            checkpoint_root=outcome.anchored.checkpoint_root,
            published=outcome.published,
        )
        if outcome.signed_update is not None and self._syncer.anchor is not None:
            address, v, r, s = outcome.signed_update
            response.anchor_update.CopyFrom(
                pb.AnchorUpdate(
                    chain_id=self._syncer.anchor.chain_id,
                    contract=self._syncer.anchor.contract,
                    agent_address=address,
                    v=v,
                    r=r,
                    s=s,
                )
            )
        return response
