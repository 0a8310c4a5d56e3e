"""Property: on any bytes the sealed-blob parser and the vault's unseal raise only the
vault's own errors, and no edit of a valid blob opens (to anything). A few hundred
examples per property here; `python -m tests.fuzz.test_sealed_blob N` runs N."""

from __future__ import annotations

import contextlib
import random
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anima_signer.keys import KeyRing
from anima_signer.vault import SealedBlobMalformed, SealedBlobRefused, Vault, parse_sealed_blob
from tests.fuzz.targets import mutate

VAULT = Vault(keyring=KeyRing(root_secret=bytes(range(32))))
SEEDS = tuple(
    VAULT.seal(plain, agent_id=agent, purpose=purpose, epoch=epoch, context=b"ctx")
    for plain, agent, purpose, epoch in [
        (b"", "alice", "state-row", 0),
        (b"x" * 300, "agent-7", "memories", 2),
        (bytes(range(256)), "a" * 64, "k" * 32, 2**32 - 1),
    ]
)
FAST = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def attack(data: bytes) -> None:
    """Parse and open under every seed's own names: only vault errors, and an edited
    blob never opens."""
    with contextlib.suppress(SealedBlobMalformed):
        parse_sealed_blob(data)
    for seed in SEEDS:
        head = parse_sealed_blob(seed)
        try:
            VAULT.unseal(
                data,
                agent_id=head.agent_id,
                purpose=head.purpose,
                epochs=(head.epoch,),
                context=b"ctx",
            )
        except (SealedBlobMalformed, SealedBlobRefused):
            continue
        assert data == seed, "an edited blob opened"


def test_the_seeds_open() -> None:
    for seed in SEEDS:
        head = parse_sealed_blob(seed)
        VAULT.unseal(
            seed, agent_id=head.agent_id, purpose=head.purpose, epochs=(head.epoch,), context=b"ctx"
        )


@FAST
@given(data=st.binary(max_size=1024))
def test_random_bytes(data: bytes) -> None:
    attack(data)


@FAST
@given(choice=st.integers(min_value=0), rng=st.randoms(use_true_random=False))
def test_mutated_blobs(choice: int, rng: random.Random) -> None:
    attack(mutate(SEEDS[choice % len(SEEDS)], rng))


def main(examples: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    for n in range(examples):
        data = mutate(rng.choice(SEEDS), rng) if n % 2 else rng.randbytes(rng.randrange(400))
        attack(data)
    print(f"sealed_blob: {examples} inputs, only vault errors, no edited blob opened")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
