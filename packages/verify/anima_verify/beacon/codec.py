"""Light-client data off the wire: SSZ bytes or beacon-API JSON, for a named fork,
checked against the fork its slot belongs to and upgraded to the latest shape.

Beacon-API JSON is the SSZ JSON mapping: unsigned integers as decimal strings,
byte vectors and lists as 0x-hex, bitvectors as the 0x-hex of their SSZ bytes,
vectors and lists as arrays, containers as objects with the field names.
"""

from __future__ import annotations

from typing import Any, Literal

from remerkleable.basic import uint
from remerkleable.bitfields import Bitlist, Bitvector
from remerkleable.byte_arrays import ByteList, ByteVector
from remerkleable.complex import Container, List, Vector

from anima_verify.beacon.config import FORKS, ChainConfig
from anima_verify.beacon.errors import MalformedLightClientData, WrongForkDigest
from anima_verify.beacon.ssz import UPGRADES, decode, light_client_types

Kind = Literal["bootstrap", "update", "finality_update", "optimistic_update"]


def _fork_types(config: ChainConfig, fork: str, kind: Kind) -> type[Container]:
    if fork not in FORKS:
        raise WrongForkDigest(f"unknown consensus version {fork!r}")
    forks = light_client_types(config.preset).forks
    return getattr(forks[config.light_client_fork(fork)], kind)  # type: ignore[no-any-return]


def _slot_of(kind: Kind, data: Any) -> int:
    header = data.header if kind == "bootstrap" else data.attested_header
    return int(header.beacon.slot)


def _checked(config: ChainConfig, fork: str, kind: Kind, data: Any) -> Any:
    slot = _slot_of(kind, data)
    expected = config.fork_at_slot(slot)
    if expected != fork:
        raise WrongForkDigest(
            f"{kind.replace('_', ' ')} for slot {slot} ({expected}) came labelled as {fork}"
        )
    return UPGRADES[kind](light_client_types(config.preset), data)


def decode_ssz(config: ChainConfig, kind: Kind, data: bytes, *, fork: str) -> Any:
    """`data` as the `kind` container of `fork`, checked and upgraded."""
    view = decode(_fork_types(config, fork, kind), data, f"{fork} {kind.replace('_', ' ')}")
    return _checked(config, fork, kind, view)


def decode_ssz_with_digest(config: ChainConfig, kind: Kind, data: bytes, *, digest: bytes) -> Any:
    """As decode_ssz, the fork named by its ForkDigest context, which must be the digest
    of the data's own epoch (from Fulu on, digests also change with the blob schedule)."""
    view = decode_ssz(config, kind, data, fork=config.fork_of_digest(bytes(digest)))
    epoch = config.preset.epoch_at_slot(_slot_of(kind, view))
    expected = config.fork_digest_at_epoch(epoch)
    if expected != bytes(digest):
        raise WrongForkDigest(
            f"fork digest 0x{bytes(digest).hex()} is not epoch {epoch}'s 0x{expected.hex()}"
        )
    return view


def decode_json(config: ChainConfig, kind: Kind, data: Any, *, fork: str) -> Any:
    """A beacon-API JSON object (the `data` member) as the `kind` container of `fork`."""
    container = _fork_types(config, fork, kind)
    try:
        view = from_json(container, data)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise MalformedLightClientData(f"{fork} {kind.replace('_', ' ')} JSON: {exc}") from None
    return _checked(config, fork, kind, view)


def from_json(typ: Any, value: Any) -> Any:
    """A remerkleable view of `typ` from its SSZ JSON form; ValueError/TypeError/KeyError
    on anything else."""
    if issubclass(typ, uint):
        if not isinstance(value, str) or not value.isdigit():
            raise ValueError(f"expected a decimal string, got {value!r}")
        return typ(int(value))
    if issubclass(typ, (ByteVector, ByteList, Bitvector, Bitlist)):
        if not isinstance(value, str) or not value.startswith("0x"):
            raise ValueError(f"expected 0x-hex, got {str(value)[:40]!r}")
        raw = bytes.fromhex(value[2:])
        if issubclass(typ, (Bitvector, Bitlist)):
            return typ.decode_bytes(raw)
        return typ(raw)
    if issubclass(typ, Container):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {typ.__name__}")
        return typ(**{name: from_json(ftype, value[name]) for name, ftype in typ.fields().items()})
    if issubclass(typ, (Vector, List)):
        if not isinstance(value, list):
            raise TypeError("expected an array")
        element = typ.element_cls()
        return typ(*(from_json(element, item) for item in value))
    raise TypeError(f"no JSON mapping for {typ}")


def to_json(view: Any) -> Any:
    """The SSZ JSON form of a remerkleable view (what a beacon node serves)."""
    if isinstance(view, uint):
        return str(int(view))
    if isinstance(view, (Bitvector, Bitlist)):
        return "0x" + view.encode_bytes().hex()
    if isinstance(view, (ByteVector, ByteList)):
        return "0x" + bytes(view).hex()
    if isinstance(view, Container):
        return {name: to_json(getattr(view, name)) for name in type(view).fields()}
    if isinstance(view, (Vector, List)):
        return [to_json(item) for item in view]
    raise TypeError(f"no JSON mapping for {type(view)}")
