from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetLatestManifestRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class GetLatestManifestResponse(_message.Message):
    __slots__ = ("version", "manifest_hash")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_HASH_FIELD_NUMBER: _ClassVar[int]
    version: int
    manifest_hash: bytes
    def __init__(self, version: _Optional[int] = ..., manifest_hash: _Optional[bytes] = ...) -> None: ...

class SyncAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class AnchorUpdate(_message.Message):
    __slots__ = ("chain_id", "contract", "agent_address", "v", "r", "s")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    V_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    S_FIELD_NUMBER: _ClassVar[int]
    chain_id: int
    contract: bytes
    agent_address: bytes
    v: int
    r: bytes
    s: bytes
    def __init__(self, chain_id: _Optional[int] = ..., contract: _Optional[bytes] = ..., agent_address: _Optional[bytes] = ..., v: _Optional[int] = ..., r: _Optional[bytes] = ..., s: _Optional[bytes] = ...) -> None: ...

class SyncAgentResponse(_message.Message):
    __slots__ = ("version", "manifest_hash", "log_size", "checkpoint_root", "published", "anchor_update")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_HASH_FIELD_NUMBER: _ClassVar[int]
    LOG_SIZE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_ROOT_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_UPDATE_FIELD_NUMBER: _ClassVar[int]
    version: int
    manifest_hash: bytes
    log_size: int
    checkpoint_root: bytes
    published: bool
    anchor_update: AnchorUpdate
    def __init__(self, version: _Optional[int] = ..., manifest_hash: _Optional[bytes] = ..., log_size: _Optional[int] = ..., checkpoint_root: _Optional[bytes] = ..., published: _Optional[bool] = ..., anchor_update: _Optional[_Union[AnchorUpdate, _Mapping]] = ...) -> None: ...
