"""Property: every parser of untrusted log input returns or raises the library's own
errors (LogVerificationError), whatever the bytes: random ones and mutations of valid
inputs. A few hundred examples per parser here; `python -m tests.fuzz.run` runs
millions (see run.py).

Derandomized, so a run is reproducible and CI never fails on a draw it has not seen
before; the long run explores with fresh seeds.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.targets import Target, check, mutate, targets

TARGETS = targets()
FAST = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(params=sorted(TARGETS))
def target(request: pytest.FixtureRequest) -> Target:
    return TARGETS[request.param]


def test_the_seeds_are_valid_inputs(target: Target) -> None:
    """Mutations start from inputs each parser accepts, so they reach deep into it."""
    for seed in target.seeds:
        target.parse(seed)


@pytest.mark.parametrize("name", sorted(TARGETS))
@FAST
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_only_the_librarys_errors(name: str, data: bytes) -> None:
    check(TARGETS[name], data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@FAST
@given(choice=st.integers(min_value=0), rng=st.randoms(use_true_random=False))
def test_mutated_valid_inputs_raise_only_the_librarys_errors(
    name: str, choice: int, rng: random.Random
) -> None:
    target = TARGETS[name]
    check(target, mutate(target.seeds[choice % len(target.seeds)], rng))


@pytest.mark.parametrize("name", ["note", "checkpoint", "verifier_key"])
@FAST
@given(text=st.text(max_size=300))
def test_random_text_raises_only_the_librarys_errors(name: str, text: str) -> None:
    """Any Unicode, as text parsers meet it (non-ASCII inside base64 was the bug)."""
    check(TARGETS[name], text.encode("utf-8", "surrogatepass"))
