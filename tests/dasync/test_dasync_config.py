"""da-sync's configuration fails closed: callers checked like every service's
(anima_core.tokens.checked_callers), and a memory feed only with its token and a
pinned certificate (or an INSECURE switch production refuses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from anima_core.auth import token_digest
from anima_dasync.cli import load_dasync_config
from anima_dasync.config import DaSyncConfig, DaSyncMisconfigured
from anima_dasync.main import command_line

BASE = {
    "signer_token": "signer-token",
    "insecure_allow_simulated_signer": True,
    "callers": {"admin": token_digest("admin-token")},
}


@pytest.mark.parametrize(
    ("callers", "says"),
    [
        ({"runtime": token_digest("x")}, "unknown role 'runtime'"),
        ({"admin": "ABC"}, "lowercase SHA-256"),
        ({"admin": token_digest("x").upper()}, "lowercase SHA-256"),
    ],
)
def test_callers_are_checked_like_every_service(callers: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        DaSyncConfig.model_validate({**BASE, "callers": callers})


def test_a_memory_feed_needs_its_token_and_a_pinned_certificate(tmp_path: Path) -> None:
    memory = {"memory": ["anima-memory-0.anima-memory:7450"]}
    with pytest.raises(DaSyncMisconfigured, match="MEMORY_TOKEN"):
        DaSyncConfig.model_validate({**BASE, **memory}).check_startable()
    with pytest.raises(DaSyncMisconfigured, match="memory_certificate"):
        DaSyncConfig.model_validate({**BASE, **memory, "memory_token": "t"}).check_startable()
    pinned = {**BASE, **memory, "memory_token": "t", "memory_certificate": tmp_path / "m.pem"}
    DaSyncConfig.model_validate(pinned).check_startable()


def test_production_refuses_a_plaintext_memory_feed() -> None:
    config = DaSyncConfig.model_validate(
        {
            **BASE,
            "insecure_allow_simulated_signer": False,
            "signer_measurement_policy": "/etc/policy.json",
            "production": True,
            "memory": ["m:7450"],
            "memory_token": "t",
            "insecure_memory_plaintext": True,
        }
    )
    with pytest.raises(DaSyncMisconfigured, match="insecure"):
        config.check_startable()


def test_tls_files_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(DaSyncMisconfigured, match="together"):
        DaSyncConfig.model_validate({**BASE, "tls_cert_file": tmp_path / "c"}).check_startable()


def test_the_entry_point_parses_repeated_memory_shards() -> None:
    args = command_line().parse_args(
        ["serve", "--memory=a:7450", "--memory=b:7450", "--interval-s=0.5"]
    )
    assert (args.memory, args.interval_s) == (["a:7450", "b:7450"], 0.5)


def test_the_loop_defaults_to_every_second() -> None:
    assert DaSyncConfig.model_validate(BASE).interval_s == 1.0


def test_the_runtime_record_source_needs_its_admin_token_and_a_pinned_certificate(
    tmp_path: Path,
) -> None:
    runtime = {"runtime": "anima-runtime:7460"}
    with pytest.raises(DaSyncMisconfigured, match="RUNTIME_TOKEN"):
        DaSyncConfig.model_validate({**BASE, **runtime}).check_startable()
    with pytest.raises(DaSyncMisconfigured, match="runtime_certificate"):
        DaSyncConfig.model_validate({**BASE, **runtime, "runtime_token": "t"}).check_startable()
    pinned = {**BASE, **runtime, "runtime_token": "t", "runtime_certificate": tmp_path / "r.pem"}
    DaSyncConfig.model_validate(pinned).check_startable()
    production = {
        **BASE,
        **runtime,
        "runtime_token": "t",
        "insecure_allow_simulated_signer": False,
        "signer_measurement_policy": "/etc/policy.json",
        "production": True,
        "insecure_runtime_plaintext": True,
    }
    with pytest.raises(DaSyncMisconfigured, match="insecure"):
        DaSyncConfig.model_validate(production).check_startable()


def test_the_entry_point_takes_the_runtime_and_its_certificate() -> None:
    args = command_line().parse_args(
        ["serve", "--runtime=anima-runtime:7460", "--runtime-certificate=/etc/r.pem"]
    )
    config = load_dasync_config(args)
    assert (config.runtime, str(config.runtime_certificate)) == ("anima-runtime:7460", "/etc/r.pem")
