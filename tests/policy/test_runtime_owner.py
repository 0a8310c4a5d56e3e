"""The runtime names the owner when it creates agents; it cannot also set a policy."""

from __future__ import annotations

import pytest

from anima_runtime.config import RuntimeConfig
from tests.policy.conftest import OWNER


def test_the_runtime_can_name_an_owner() -> None:
    config = RuntimeConfig.model_validate({"signing": {"owner": OWNER}})
    assert config.signing.owner == OWNER


@pytest.mark.parametrize(
    "extra",
    [{"allowed_chain_ids": [1]}, {"max_value_wei": 1}, {"allow_personal_messages": True}],
)
def test_with_an_owner_the_runtime_sets_no_policy(extra: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="only policies the owner signs"):
        RuntimeConfig.model_validate({"signing": {"owner": OWNER, **extra}})


def test_the_owner_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="owner"):
        RuntimeConfig.model_validate({"signing": {"owner": "alice"}})
