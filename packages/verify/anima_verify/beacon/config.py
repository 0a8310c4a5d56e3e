"""Presets, fork schedules, fork digests and signing domains of the beacon chain.

A `Preset` fixes the sizes SSZ types depend on (mainnet: 512-key sync committees,
minimal: 32); a `ChainConfig` is one network's fork schedule and genesis
validators root, which together decide which fork (and so which SSZ types and
which signing domain) a slot belongs to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from anima_verify.beacon.errors import WrongForkDigest

FAR_FUTURE_EPOCH = 2**64 - 1
DOMAIN_SYNC_COMMITTEE = bytes.fromhex("07000000")

#: Forks in order. Phase0 has no light-client data; Bellatrix reuses Altair's
#: light-client types and Fulu reuses Electra's.
FORKS = ("phase0", "altair", "bellatrix", "capella", "deneb", "electra", "fulu")
LightClientFork = Literal["altair", "capella", "deneb", "electra"]
_LIGHT_CLIENT_FORK: dict[str, LightClientFork] = {
    "altair": "altair",
    "bellatrix": "altair",
    "capella": "capella",
    "deneb": "deneb",
    "electra": "electra",
    "fulu": "electra",
}


@dataclass(frozen=True)
class Preset:
    name: str
    slots_per_epoch: int
    epochs_per_sync_committee_period: int
    sync_committee_size: int
    min_sync_committee_participants: int = 1

    @property
    def slots_per_period(self) -> int:
        return self.slots_per_epoch * self.epochs_per_sync_committee_period

    @property
    def update_timeout(self) -> int:
        """Slots without finality after which a store may force its best update."""
        return self.slots_per_period

    def epoch_at_slot(self, slot: int) -> int:
        return slot // self.slots_per_epoch

    def period_at_slot(self, slot: int) -> int:
        return slot // self.slots_per_period


MAINNET_PRESET = Preset(
    "mainnet", slots_per_epoch=32, epochs_per_sync_committee_period=256, sync_committee_size=512
)
MINIMAL_PRESET = Preset(
    "minimal", slots_per_epoch=8, epochs_per_sync_committee_period=8, sync_committee_size=32
)
PRESETS = {p.name: p for p in (MAINNET_PRESET, MINIMAL_PRESET)}


def compute_fork_data_root(fork_version: bytes, genesis_validators_root: bytes) -> bytes:
    """hash_tree_root(ForkData(current_version, genesis_validators_root))."""
    return hashlib.sha256(fork_version.ljust(32, b"\0") + genesis_validators_root).digest()


def compute_domain(
    domain_type: bytes, fork_version: bytes, genesis_validators_root: bytes
) -> bytes:
    return domain_type + compute_fork_data_root(fork_version, genesis_validators_root)[:28]


def compute_signing_root(object_root: bytes, domain: bytes) -> bytes:
    """hash_tree_root(SigningData(object_root, domain))."""
    return hashlib.sha256(object_root + domain).digest()


@dataclass(frozen=True)
class ChainConfig:
    """One network: its preset, genesis validators root and fork schedule
    (fork name -> (version, activation epoch)), phase0 at epoch 0."""

    name: str
    preset: Preset
    genesis_validators_root: bytes
    forks: Mapping[str, tuple[bytes, int]]
    genesis_time: int = 0
    seconds_per_slot: int = 12
    #: Fulu's blob-parameter-only forks: (epoch, max blobs per block), and Electra's
    #: blob limit, the parameters before the first entry. They enter fork digests.
    blob_schedule: tuple[tuple[int, int], ...] = ()
    max_blobs_per_block_electra: int = 9

    def __post_init__(self) -> None:
        if len(self.genesis_validators_root) != 32:
            raise ValueError("genesis_validators_root must be 32 bytes")
        if "phase0" not in self.forks:
            raise ValueError("the fork schedule needs phase0 (GENESIS_FORK_VERSION)")

    def fork_at_epoch(self, epoch: int) -> str:
        current = "phase0"
        for name in FORKS:
            spec = self.forks.get(name)
            if spec is not None and epoch >= spec[1]:
                current = name
        return current

    def fork_at_slot(self, slot: int) -> str:
        return self.fork_at_epoch(self.preset.epoch_at_slot(slot))

    def fork_version_at_slot(self, slot: int) -> bytes:
        return self.forks[self.fork_at_slot(slot)][0]

    def fork_epoch(self, name: str) -> int:
        spec = self.forks.get(name)
        return FAR_FUTURE_EPOCH if spec is None else spec[1]

    def light_client_fork(self, fork: str) -> LightClientFork:
        """The fork whose light-client SSZ types `fork` uses; phase0 has none."""
        if fork not in _LIGHT_CLIENT_FORK:
            raise WrongForkDigest(f"fork {fork!r} has no light-client data")
        return _LIGHT_CLIENT_FORK[fork]

    def fork_digest(self, fork: str) -> bytes:
        """The ForkDigest of `fork` (at its first epoch, for Fulu)."""
        version, epoch = self.forks[fork]
        return self._digest(version, epoch, blob_mask=fork == "fulu")

    def fork_digest_at_epoch(self, epoch: int) -> bytes:
        """compute_fork_digest as Fulu modified it: from Fulu on, the fork data root is
        XORed with the hash of the blob parameters in force at `epoch`."""
        fork = self.fork_at_epoch(epoch)
        return self._digest(self.forks[fork][0], epoch, blob_mask=fork == "fulu")

    def _digest(self, version: bytes, epoch: int, *, blob_mask: bool) -> bytes:
        base = compute_fork_data_root(version, self.genesis_validators_root)[:4]
        if not blob_mask:
            return base
        blob_epoch, max_blobs = self.blob_parameters(epoch)
        mask = hashlib.sha256(blob_epoch.to_bytes(8, "little") + max_blobs.to_bytes(8, "little"))
        return bytes(a ^ b for a, b in zip(base, mask.digest()[:4], strict=True))

    def blob_parameters(self, epoch: int) -> tuple[int, int]:
        """get_blob_parameters: the blob-schedule entry in force at `epoch`."""
        for entry_epoch, max_blobs in sorted(self.blob_schedule, reverse=True):
            if epoch >= entry_epoch:
                return entry_epoch, max_blobs
        return self.fork_epoch("electra"), self.max_blobs_per_block_electra

    def fork_of_digest(self, digest: bytes) -> str:
        """The fork a ForkDigest context names (any of its blob-parameter epochs from
        Fulu on); WrongForkDigest when none of this chain."""
        for name, (version, epoch) in self.forks.items():
            if name != "fulu" and self.fork_digest(name) == digest:
                return name
            if name == "fulu":
                epochs = [epoch, *(e for e, _ in self.blob_schedule if e >= epoch)]
                if any(self._digest(version, e, blob_mask=True) == digest for e in epochs):
                    return name
        raise WrongForkDigest(f"fork digest 0x{digest.hex()} names no fork of {self.name}")

    def sync_committee_domain(self, signature_slot: int) -> bytes:
        """The domain a sync committee signs with at `signature_slot` (the fork of the
        slot before it, as the spec says)."""
        fork_version = self.fork_version_at_slot(max(signature_slot, 1) - 1)
        return compute_domain(DOMAIN_SYNC_COMMITTEE, fork_version, self.genesis_validators_root)

    def slot_at_time(self, unix_seconds: float) -> int:
        if unix_seconds < self.genesis_time:
            return 0
        return int(unix_seconds - self.genesis_time) // self.seconds_per_slot

    @classmethod
    def from_spec_config(
        cls, config: Mapping[str, object], *, genesis_validators_root: bytes, name: str = "custom"
    ) -> ChainConfig:
        """A chain from a consensus-specs config (config.yaml as parsed: PRESET_BASE,
        <FORK>_FORK_VERSION / <FORK>_FORK_EPOCH, MIN_GENESIS_TIME, SECONDS_PER_SLOT)."""
        preset_name = str(config.get("PRESET_BASE", "mainnet")).strip("'\"")
        if preset_name not in PRESETS:
            raise ValueError(f"unknown preset {preset_name!r} (mainnet or minimal)")
        forks: dict[str, tuple[bytes, int]] = {
            "phase0": (_version(config["GENESIS_FORK_VERSION"]), 0)
        }
        for fork in FORKS[1:]:
            version = config.get(f"{fork.upper()}_FORK_VERSION")
            epoch = config.get(f"{fork.upper()}_FORK_EPOCH")
            if version is not None and epoch is not None and int(str(epoch)) < FAR_FUTURE_EPOCH:
                forks[fork] = (_version(version), int(str(epoch)))
        genesis_time = int(str(config.get("MIN_GENESIS_TIME", 0))) + int(
            str(config.get("GENESIS_DELAY", 0))
        )
        schedule = config.get("BLOB_SCHEDULE") or []
        if not isinstance(schedule, list):
            raise ValueError("BLOB_SCHEDULE must be a list")
        blob_schedule = tuple(
            (int(str(entry["EPOCH"])), int(str(entry["MAX_BLOBS_PER_BLOCK"]))) for entry in schedule
        )
        return cls(
            name=name,
            preset=PRESETS[preset_name],
            genesis_validators_root=genesis_validators_root,
            forks=forks,
            genesis_time=genesis_time,
            seconds_per_slot=int(str(config.get("SECONDS_PER_SLOT", 12))),
            blob_schedule=blob_schedule,
            max_blobs_per_block_electra=int(str(config.get("MAX_BLOBS_PER_BLOCK_ELECTRA", 9))),
        )


def _version(value: object) -> bytes:
    # YAML reads an unquoted 0x00000001 as the integer 1.
    if isinstance(value, int):
        return value.to_bytes(4, "big")
    text = str(value).strip("'\"")
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != 4:
        raise ValueError(f"fork version {text!r} is not 4 bytes")
    return raw


MAINNET = ChainConfig(
    name="mainnet",
    preset=MAINNET_PRESET,
    genesis_validators_root=bytes.fromhex(
        "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
    ),
    forks={
        "phase0": (bytes.fromhex("00000000"), 0),
        "altair": (bytes.fromhex("01000000"), 74240),
        "bellatrix": (bytes.fromhex("02000000"), 144896),
        "capella": (bytes.fromhex("03000000"), 194048),
        "deneb": (bytes.fromhex("04000000"), 269568),
        "electra": (bytes.fromhex("05000000"), 364032),
        "fulu": (bytes.fromhex("06000000"), 411392),
    },
    genesis_time=1606824023,
    seconds_per_slot=12,
    blob_schedule=((412672, 15), (419072, 21)),
    max_blobs_per_block_electra=9,
)
