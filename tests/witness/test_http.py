"""The witness over HTTP (starlette's test client drives the real app): the status
codes and bodies of C2SP tlog-witness, the monitoring route, and the log
registration's token check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from anima_core.tokens import token_digest
from anima_verify.tlog.cosignature import WitnessPolicy
from anima_verify.tlog.note import parse_note
from anima_verify.tlog.witness_protocol import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE
from anima_witness.core import Witness
from anima_witness.http import LOGS_PATH, build_app
from anima_witness.store import WitnessStore
from tests.witness.test_core import LOG_VKEY, ORIGIN, WITNESS_KEY, request

TOKEN = "registrar-token-for-tests"


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[TestClient, Witness, WitnessStore]]:
    store = WitnessStore(path=tmp_path / "witness.sqlite3")
    witness = Witness(name="w.test", key=WITNESS_KEY, store=store)
    app = build_app(witness=witness, store=store, registrars={"signer": token_digest(TOKEN)})
    with TestClient(app) as client:
        yield client, witness, store
    store.close()


def register(client: TestClient, vkey: str, token: str = TOKEN) -> int:
    answer = client.post(
        LOGS_PATH, content=vkey.encode(), headers={"Authorization": f"Bearer {token}"}
    )
    return answer.status_code


def test_a_log_is_registered_only_with_a_registrars_token(
    parts: tuple[TestClient, Witness, WitnessStore],
) -> None:
    client, _, _ = parts
    assert client.post("/add-checkpoint", content=request(0, 3)).status_code == 404
    assert register(client, LOG_VKEY, token="wrong") == 401
    assert client.post(LOGS_PATH, content=LOG_VKEY.encode()).status_code == 401
    assert register(client, "not a key") == 400
    assert register(client, LOG_VKEY) == 201
    assert register(client, LOG_VKEY) == 200
    other = LOG_VKEY.rsplit("+", 1)[0] + "+AeXhTMjfw/S0Lmh7hL8A5QyaZRSV7HOK+Xp8VMxQHDZe"
    assert register(client, other) in (400, 409)


def test_cosign_conflict_and_monitoring(parts: tuple[TestClient, Witness, WitnessStore]) -> None:
    client, witness, _ = parts
    register(client, LOG_VKEY)
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    assert client.get(f"/{origin_hash}/checkpoint").status_code == 404
    cosigned = client.post("/add-checkpoint", content=request(0, 5))
    assert cosigned.status_code == 200
    assert cosigned.content.startswith("\u2014 w.test ".encode())
    conflict = client.post("/add-checkpoint", content=request(3, 9))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"].startswith(SIZE_CONTENT_TYPE)
    assert conflict.content == b"5\n"
    served = client.get(f"/{origin_hash}/checkpoint")
    assert served.status_code == 200
    policy = WitnessPolicy.of([witness.verifier_key], 1)
    assert policy.check(parse_note(served.content)) == ("w.test",)
    assert client.post("/add-checkpoint", content=b"garbage").status_code == 400
    too_big = b"old 0\n\n" + b"x" * MAX_REQUEST_BYTES
    assert client.post("/add-checkpoint", content=too_big).status_code == 413
    assert client.get("/healthz").status_code == 200
