"""Splitting an agent root k-of-n: any k shares rebuild it, fewer or altered ones do not."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_verify.escrow.shamir import Share, combine_shares, split_secret


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), n=st.integers(1, 7), data=st.data())
def test_any_k_shares_rebuild_the_secret(secret: bytes, n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, n))
    shares = split_secret(secret, threshold=k, shares=n)
    assert [s.index for s in shares] == list(range(1, n + 1))
    chosen = data.draw(st.permutations(shares))[:k]
    assert combine_shares(list(chosen), threshold=k) == secret


def test_every_subset_of_three_of_five() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, threshold=3, shares=5)
    for subset in itertools.combinations(shares, 3):
        assert combine_shares(list(subset), threshold=3) == secret


def test_fewer_than_k_shares_do_not_rebuild_it() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, threshold=3, shares=5)
    # Two real shares and a guess for the third give an unrelated value.
    guess = Share(3, bytes(32))
    assert combine_shares([shares[0], shares[1], guess], threshold=3) != secret
    with pytest.raises(ValueError):
        combine_shares(shares[:2], threshold=3)
    with pytest.raises(ValueError):
        combine_shares([shares[0], shares[0], shares[1]], threshold=3)


def test_an_altered_share_changes_the_result() -> None:
    secret = os.urandom(32)
    shares = split_secret(secret, threshold=2, shares=3)
    bad = Share(shares[0].index, bytes([shares[0].value[0] ^ 1]) + shares[0].value[1:])
    assert combine_shares([bad, shares[1]], threshold=2) != secret


def test_two_splits_of_one_secret_differ_and_never_print_bytes() -> None:
    secret = os.urandom(32)
    one = split_secret(secret, threshold=2, shares=2)
    two = split_secret(secret, threshold=2, shares=2)
    assert one[0].value != two[0].value  # fresh random polynomials
    assert secret.hex() not in repr(one) and one[0].value.hex() not in repr(one)


@pytest.mark.parametrize(("k", "n"), [(0, 3), (4, 3), (2, 256)])
def test_bad_thresholds_are_refused(k: int, n: int) -> None:
    with pytest.raises(ValueError):
        split_secret(bytes(32), threshold=k, shares=n)
