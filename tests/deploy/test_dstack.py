"""The signer's dstack app definition and `anima attest policy`.

The compose hash is checked against dstack's own Python SDK (dstack-sdk, which
the signer already depends on): same bytes in, same hash out, for the real
app-compose.json and for generated documents. The RTMR3 replay is checked
against the SDK's replay. Event logs here are built with dstack's event digest
rule; a tampered event, another compose, or a malformed file is refused.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dstack_sdk import get_compose_hash
from dstack_sdk.dstack_client import replay_rtmr
from hypothesis import given, settings
from hypothesis import strategies as st

from anima_signer.config import ENV_PREFIX, SignerConfig
from anima_verify.attestation import MeasurementPolicy
from anima_verify.attestation.dstack_app import (
    DSTACK_RUNTIME_EVENT_TYPE,
    ComposeHashMismatch,
    MalformedAppCompose,
    MalformedEventLog,
    check_event_log,
    compose_hash,
    normalized_app_compose,
    parse_event_log,
    runtime_event_digest,
)
from anima_verify.errors import AnimaError
from tests.deploy.manifests import DEPLOY, container, field_variables, render, workloads

APP_COMPOSE = DEPLOY / "dstack" / "app-compose.json"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
OS = {"mrtd": "aa" * 48, "rtmr0": "b0" * 48, "rtmr1": "b1" * 48, "rtmr2": "b2" * 48}


def _event(name: str, payload: bytes, imr: int = 3) -> dict[str, Any]:
    return {
        "imr": imr,
        "event_type": DSTACK_RUNTIME_EVENT_TYPE,
        "digest": runtime_event_digest(name, payload).hex(),
        "event": name,
        "event_payload": payload.hex(),
    }


def boot_log(compose: str) -> list[dict[str, Any]]:
    """An instance's event log as the guest agent reports it (RTMR3 runtime events)."""
    firmware = {"imr": 0, "event_type": 1, "digest": "11" * 48, "event": "", "event_payload": ""}
    return [
        firmware,
        _event("system-preparing", b""),
        _event("app-id", bytes.fromhex("ab" * 20)),
        _event("compose-hash", bytes.fromhex(compose)),
        _event("instance-id", bytes.fromhex("cd" * 20)),
        _event("boot-mr-done", b""),
        _event("key-provider", b'{"name":"kms"}'),
        _event("system-ready", b""),
    ]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(APP_COMPOSE.read_text(encoding="utf-8"))
    return document


# ---------------------------------------------------------------- the app definition


def test_the_compose_hash_is_dstacks() -> None:
    document = APP_COMPOSE.read_bytes()
    assert compose_hash(document) == get_compose_hash(json.loads(document))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8).map(lambda key: f"x-{key}"),  # beside the SDK's own fields
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=12),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=6), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_any_document_hashes_as_dstack_does(document: dict[str, Any]) -> None:
    document = {"manifest_version": 2, "name": "app", "runner": "docker-compose", **document}
    text = json.dumps(document, indent=1, ensure_ascii=True)  # another layout, same JSON
    expected = get_compose_hash(dict(document))
    assert compose_hash(text) == expected


def test_normalizing_sorts_compacts_and_keeps_utf8() -> None:
    normalized = normalized_app_compose('{"b": [NaN], "a": "é", "c": [Infinity, 1], "d": null}')
    assert normalized == '{"a":"é","b":[null],"c":[null,1]}'.encode()


@pytest.mark.parametrize(
    "document",
    [b"[]", b"not json", b'{"a": 1, "a": 2}', b"\xff\xfe"],
)
def test_a_malformed_app_compose_is_refused(document: bytes) -> None:
    with pytest.raises(MalformedAppCompose):
        compose_hash(document)


def test_the_signer_image_is_pinned_and_configured_as_the_code_reads() -> None:
    services = yaml.safe_load(_compose()["docker_compose_file"])["services"]
    assert set(services) == {"signer"}  # the enclave runs the signer and nothing else
    signer = services["signer"]
    assert DIGEST.search(signer["image"]), signer["image"]
    known = set(field_variables(SignerConfig, ENV_PREFIX))
    for name in signer["environment"]:
        assert name in known or name.startswith("OTEL_"), name
    environment = signer["environment"]
    assert environment["ANIMA_SIGNER_TEE"] == "dstack"
    assert environment["ANIMA_SIGNER_PRODUCTION"] == "true"
    # Secrets arrive as dstack's encrypted environment, never in the compose.
    assert environment["ANIMA_SIGNER_CALLERS"] == "${ANIMA_SIGNER_CALLERS}"
    assert "ANIMA_SIGNER_CALLERS" in _compose()["allowed_envs"]
    assert signer["read_only"] is True and signer["user"].split(":")[0] != "0"


def test_dstack_and_kubernetes_run_the_same_signer_build() -> None:
    services = yaml.safe_load(_compose()["docker_compose_file"])["services"]
    production = workloads(render(DEPLOY / "overlays" / "production"))
    assert services["signer"]["image"] == container(production["anima-signer"])["image"]


# ---------------------------------------------------------------- event logs


def test_rtmr3_is_the_replay_of_the_events_that_boot_this_compose() -> None:
    digest = compose_hash(APP_COMPOSE.read_bytes())
    log = boot_log(digest)
    events = parse_event_log(json.dumps(log))
    rtmr3 = check_event_log(events, expected_compose_hash=digest)
    assert rtmr3.hex() == replay_rtmr([e["digest"] for e in log if e["imr"] == 3])


def test_another_compose_is_refused() -> None:
    events = parse_event_log(json.dumps(boot_log("ee" * 32)))
    with pytest.raises(ComposeHashMismatch):
        check_event_log(events, expected_compose_hash=compose_hash(APP_COMPOSE.read_bytes()))


def test_an_event_whose_digest_is_not_its_content_is_refused() -> None:
    log = boot_log("ee" * 32)
    log[3]["event_payload"] = "ff" * 32  # the compose-hash event, rewritten after the fact
    with pytest.raises(MalformedEventLog, match="compose-hash"):
        parse_event_log(json.dumps(log))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_arbitrary_bytes_never_crash_the_parsers(data: bytes) -> None:
    for parse in (parse_event_log, normalized_app_compose):
        with contextlib.suppress(AnimaError):
            parse(data)


# ---------------------------------------------------------------- the command


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "anima"
    return subprocess.run(
        [command, "attest", "policy", *map(str, args)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    digest = compose_hash(APP_COMPOSE.read_bytes())
    (tmp_path / "os.json").write_text(json.dumps({"fields": OS}))  # attest verify --json
    (tmp_path / "events.json").write_text(json.dumps(boot_log(digest)))
    return {"os": tmp_path / "os.json", "events": tmp_path / "events.json", "dir": tmp_path}


def test_the_command_writes_a_policy_that_pins_the_compose(inputs: dict[str, Path]) -> None:
    out, normalized = inputs["dir"] / "policy.json", inputs["dir"] / "app-compose.normal.json"
    result = _run(
        "--app-compose", APP_COMPOSE, "--os-measurements", inputs["os"],
        "--event-log", inputs["events"], "--normalized-out", normalized, "-o", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    policy = MeasurementPolicy.from_file(out)
    events = parse_event_log(inputs["events"].read_bytes())
    digest = compose_hash(APP_COMPOSE.read_bytes())
    assert policy.rtmr3 == {check_event_log(events, expected_compose_hash=digest).hex()}
    assert policy.mrtd == {OS["mrtd"]} and policy.rtmr2 == {OS["rtmr2"]}
    assert not policy.allow_insecure_simulated
    assert digest in result.stdout
    # What dstack is given to deploy hashes to the same compose hash, byte for byte.
    import hashlib

    assert hashlib.sha256(normalized.read_bytes()).hexdigest() == digest
    # An upgrade: merging a second instance keeps both.
    other = inputs["dir"] / "events2.json"
    log = boot_log(digest)
    log[4] = _event("instance-id", bytes.fromhex("ef" * 20))
    other.write_text(json.dumps(log))
    merged = inputs["dir"] / "merged.json"
    again = _run(
        "--app-compose", APP_COMPOSE, "--os-measurements", inputs["os"],
        "--event-log", other, "--merge", out, "-o", merged,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    rtmr3 = MeasurementPolicy.from_file(merged).rtmr3
    assert rtmr3 is not None and len(rtmr3) == 2


def test_the_command_refuses_an_instance_of_another_compose(inputs: dict[str, Path]) -> None:
    inputs["events"].write_text(json.dumps(boot_log("ee" * 32)))
    out = inputs["dir"] / "policy.json"
    result = _run(
        "--app-compose", APP_COMPOSE, "--os-measurements", inputs["os"],
        "--event-log", inputs["events"], "-o", out,
    )  # fmt: skip
    assert result.returncode == 1
    assert "booted compose" in result.stderr
    assert not out.exists()


def test_the_command_names_unusable_input(inputs: dict[str, Path]) -> None:
    inputs["os"].write_text(json.dumps({"mrtd": "aa" * 48}))
    result = _run(
        "--app-compose", APP_COMPOSE, "--os-measurements", inputs["os"],
        "--event-log", inputs["events"],
    )  # fmt: skip
    assert result.returncode == 2
    assert "rtmr0" in result.stderr
