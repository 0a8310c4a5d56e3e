"""Chain client configuration: defaults -> file -> ANIMA_CHAIN_* environment.

The one thing the service trusts is either `checkpoint_hash`, a block hash the
operator got from somewhere it trusts (dev chains such as anvil), or `beacon`: a
beacon node and a weak-subjectivity checkpoint root, from which the light client
verifies every trusted head (networks with a beacon chain). Without one of them
the service refuses to start; nothing is read from the RPC node before it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from anima_chain_api.endpoint import published_certificate_path
from anima_core.config import ConfigError, FrozenConfig
from anima_core.tokens import checked_callers
from anima_verify.beacon.client import DEFAULT_MAX_CHECKPOINT_AGE
from anima_verify.beacon.config import MAINNET
from anima_verify.beacon.config import ChainConfig as BeaconChain

ENV_PREFIX = "ANIMA_CHAIN"

ROLE_RUNTIME = "runtime"  # reads and sends (the agent runtime)
ROLE_READER = "reader"  # reads only (dashboards, `anima chain head`)
ROLE_ADMIN = "admin"
ROLES = (ROLE_RUNTIME, ROLE_READER, ROLE_ADMIN)
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class RpcNodeConfig(FrozenConfig):
    """The (untrusted) JSON-RPC node: how long to wait and how often to retry reads."""

    url: str = "http://127.0.0.1:8545"
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    # Reads are retried on timeouts and transport failures; sends never are (a
    # send is repeated only through its idempotency key, with the same bytes).
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_s: float = Field(default=0.05, ge=0, le=5)


class FeeRule(FrozenConfig):
    """EIP-1559 fees from the verified head's base fee: a fixed tip, and a cap of
    base fee x `base_fee_multiplier` + tip (2x survives six full blocks of rises)."""

    priority_fee_wei: int = Field(default=1_000_000_000, ge=0)
    base_fee_multiplier: int = Field(default=2, ge=1, le=16)
    max_gas_limit: int = Field(default=1_000_000, ge=21_000)


class BeaconSourceConfig(FrozenConfig):
    """The beacon light client that supplies trusted heads (off while `url` is empty).

    `network` "mainnet" uses the built-in schedule; "custom" takes the consensus
    config.yaml keys (PRESET_BASE, <FORK>_FORK_VERSION/_EPOCH, MIN_GENESIS_TIME,
    GENESIS_DELAY, SECONDS_PER_SLOT) in `spec_config` and `genesis_validators_root`.
    """

    url: str = ""  # the (untrusted) beacon node's REST API
    checkpoint: str = ""  # the weak-subjectivity beacon block root, 0x + 64 hex digits
    network: Literal["mainnet", "custom"] = "mainnet"
    spec_config: dict[str, Any] = Field(default_factory=dict)
    genesis_validators_root: str = ""
    # A checkpoint older than max_checkpoint_age_s may be outside the weak-subjectivity
    # period: refused unless strict mode is turned off (then only warned about).
    strict_checkpoint_age: bool = True
    max_checkpoint_age_s: float = Field(default=DEFAULT_MAX_CHECKPOINT_AGE, gt=0)
    state_file: Path | None = None  # default: data_dir/beacon-light-client.json
    follow: Literal["optimistic", "finalized"] = "optimistic"
    poll_s: float = Field(default=6.0, ge=0, le=3600)  # beacon sync at most this often
    ssz: bool = False  # ask the node for SSZ instead of JSON

    @field_validator("checkpoint", "genesis_validators_root")
    @classmethod
    def _is_a_root(cls, value: str) -> str:
        if value and not _HASH.fullmatch(value):
            raise ValueError("must be 0x and 64 hex digits")
        return value.lower()

    @field_validator("url")
    @classmethod
    def _is_http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("the beacon URL must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _custom_network_is_complete(self) -> BeaconSourceConfig:
        if self.network == "custom" and (not self.spec_config or not self.genesis_validators_root):
            raise ValueError("network 'custom' needs spec_config and genesis_validators_root")
        if self.network == "mainnet" and (self.spec_config or self.genesis_validators_root):
            raise ValueError("spec_config and genesis_validators_root are for network 'custom'")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def checkpoint_root(self) -> bytes:
        return bytes.fromhex(self.checkpoint[2:])

    def chain_config(self) -> BeaconChain:
        if self.network == "mainnet":
            return MAINNET
        try:
            return BeaconChain.from_spec_config(
                self.spec_config,
                genesis_validators_root=bytes.fromhex(self.genesis_validators_root[2:]),
                name="custom",
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"beacon.spec_config is unusable: {exc}") from None


class ChainConfig(FrozenConfig):
    listen: str = "127.0.0.1:7460"
    # A plaintext listener serving gRPC health only (Kubernetes' native probe
    # speaks no TLS); None: health is on the API listener alone.
    health_listen: str | None = None
    data_dir: Path = Path(".anima/chain")
    production: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    insecure_plaintext: bool = False
    callers: dict[str, str] = Field(default_factory=dict)

    chain_id: int = Field(default=0, ge=0)  # 0: refused at start (name the chain)
    checkpoint_hash: str = ""  # 0x + 64 hex digits: the trusted block (no beacon)
    beacon: BeaconSourceConfig = BeaconSourceConfig()
    rpc: RpcNodeConfig = RpcNodeConfig()
    fees: FeeRule = FeeRule()
    receipt_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    receipt_poll_s: float = Field(default=0.02, gt=0, le=10)
    # Headers kept below the head for reorg detection and reads at older blocks.
    keep_headers: int = Field(default=256, ge=8, le=100_000)
    # A read at the head asks the node for newer blocks when the head was checked
    # longer ago than this (0: on every read).
    head_max_age_s: float = Field(default=0.0, ge=0, le=60)

    @field_validator("checkpoint_hash")
    @classmethod
    def _is_a_block_hash(cls, value: str) -> str:
        if value and not _HASH.fullmatch(value):
            raise ValueError("checkpoint_hash must be 0x and 64 hex digits")
        return value.lower()

    @field_validator("callers")
    @classmethod
    def _digests_are_sha256(cls, callers: dict[str, str]) -> dict[str, str]:
        return checked_callers(callers, ROLES)

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> ChainConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file are set together or not at all")
        return self

    @property
    def certificate_path(self) -> Path:
        return published_certificate_path(self.data_dir)

    @property
    def checkpoint(self) -> bytes:
        """The configured trusted block hash (empty when the beacon supplies heads)."""
        return bytes.fromhex(self.checkpoint_hash[2:])

    def check_startable(self) -> None:
        """Fail closed: no trusted checkpoint, no chain id or no callers, no service."""
        if self.beacon.enabled:
            if self.checkpoint_hash:
                raise ConfigError(
                    "both checkpoint_hash and beacon.url are set: with a beacon node the"
                    " light client supplies the trusted heads; set one of them"
                )
            if not self.beacon.checkpoint:
                raise ConfigError(
                    "beacon.url is set without beacon.checkpoint (the weak-subjectivity"
                    " beacon block root the light client starts from)"
                )
            self.beacon.chain_config()
        elif not self.checkpoint_hash:
            raise ConfigError(
                "no checkpoint_hash: the chain client trusts one block hash you give it "
                "(ANIMA_CHAIN_CHECKPOINT_HASH) and nothing the RPC node says, or a beacon"
                " node's light client (beacon.url and beacon.checkpoint)"
            )
        if self.chain_id == 0:
            raise ConfigError("chain_id is not set (ANIMA_CHAIN_CHAIN_ID)")
        if not self.callers:
            raise ConfigError("no callers configured: set callers (role -> token SHA-256)")
        if self.production and self.insecure_plaintext:
            raise ConfigError("production refuses insecure_plaintext")
        if self.insecure_plaintext and self.tls_cert_file is not None:
            raise ConfigError("both TLS files and insecure_plaintext are set")
