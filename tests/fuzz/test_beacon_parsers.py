"""Property: the light client's parsers and checks, fed any bytes or JSON, return or
raise the light client's own errors (LightClientError), never ValueError, IndexError
or anything else that would escape a caller's `except LightClientError`; and a
mutated update that is accepted must still be a correctly signed one.

Derandomized, like the other fuzz tests: reproducible in CI.
"""

from __future__ import annotations

import contextlib
import random
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_verify.beacon.codec import decode_json, decode_ssz, to_json
from anima_verify.beacon.errors import LightClientError
from anima_verify.beacon.rest import split_chunks
from anima_verify.beacon.sync import LightClientStore, initialize_store, process_update
from tests.beacon.chain_builder import SyntheticChain
from tests.beacon.conftest import synthetic_config

FAST = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KINDS = ("bootstrap", "update", "finality_update", "optimistic_update")
FORKS = ("altair", "capella", "deneb", "electra")


@cache
def fixture() -> tuple[SyntheticChain, LightClientStore, Any]:
    chain = SyntheticChain(synthetic_config())
    bootstrap, root = chain.bootstrap(8)
    store = initialize_store(
        chain.config,
        root,
        decode_ssz(chain.config, "bootstrap", bootstrap.encode_bytes(), fork="deneb"),
    )
    return chain, store, chain.period_update(0)


def mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(4)
        if choice == 0 and buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif choice == 1 and buf:
            del buf[rng.randrange(len(buf)) :][: rng.randint(1, 64)]
        elif choice == 2:
            at = rng.randrange(len(buf) + 1)
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif buf:
            at = rng.randrange(len(buf))
            buf[at : at + 4] = rng.randrange(2**32).to_bytes(4, "little")
    return bytes(buf)


@pytest.mark.parametrize("kind", KINDS)
@FAST
@given(data=st.binary(max_size=4096), fork=st.sampled_from(FORKS))
def test_random_bytes_raise_only_light_client_errors(kind: Any, data: bytes, fork: str) -> None:
    chain, _, _ = fixture()
    with contextlib.suppress(LightClientError):
        decode_ssz(chain.config, kind, data, fork=fork)


@FAST
@given(rng=st.randoms(use_true_random=False))
def test_mutated_updates_are_refused_cleanly_or_still_valid(rng: random.Random) -> None:
    chain, store, update = fixture()
    raw = mutate(update.encode_bytes(), rng)
    try:
        decoded = decode_ssz(chain.config, "update", raw, fork="deneb")
        after = process_update(store, decoded, int(update.signature_slot) + 5)
    except LightClientError:
        return
    # Accepted: then everything signed or proven is the original's (a mutation in a
    # part no check covers, e.g. an empty header's padding, changes nothing that counts).
    assert decoded.attested_header.hash_tree_root() == update.attested_header.hash_tree_root()
    assert decoded.finalized_header.beacon.hash_tree_root() == (
        update.finalized_header.beacon.hash_tree_root()
    )
    assert (
        decoded.next_sync_committee.hash_tree_root() == update.next_sync_committee.hash_tree_root()
    )
    assert after.finalized_slot == int(update.finalized_header.beacon.slot)


@FAST
@given(
    rng=st.randoms(use_true_random=False),
    value=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=20),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    ),
)
def test_mutated_json_raises_only_light_client_errors(rng: random.Random, value: object) -> None:
    chain, _, update = fixture()
    document = to_json(update)
    target: Any = document
    path = []
    while isinstance(target, (dict, list)) and target:
        key = rng.choice(sorted(target)) if isinstance(target, dict) else rng.randrange(len(target))
        path.append(key)
        if rng.random() < 0.3 or not isinstance(target[key], (dict, list)):
            target[key] = value
            break
        target = target[key]
    with contextlib.suppress(LightClientError):
        decode_json(chain.config, "update", document, fork="deneb")


@FAST
@given(data=st.binary(max_size=512))
def test_update_chunks_raise_only_light_client_errors(data: bytes) -> None:
    with contextlib.suppress(LightClientError):
        split_chunks(data)
