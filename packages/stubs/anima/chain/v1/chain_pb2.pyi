from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetVerifiedHeadRequest(_message.Message):
    __slots__ = ("chain_id",)
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    chain_id: int
    def __init__(self, chain_id: _Optional[int] = ...) -> None: ...

class GetVerifiedHeadResponse(_message.Message):
    __slots__ = ("number", "hash", "state_root")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    number: int
    hash: bytes
    state_root: bytes
    def __init__(self, number: _Optional[int] = ..., hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ...) -> None: ...
