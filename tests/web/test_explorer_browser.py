"""The explorer in a real browser (Debian's Chromium through playwright-core)
against a real runtime on loopback, with a real signer (simulated TEE) and
memory service: an agent chats and signs, and its log is explored directly
(green) and through a hostile proxy (tests/web/tamper_proxy.py) that flips a
bit in a hash tile, drops an entry, serves an older checkpoint after a newer
one was seen, serves a checkpoint signed by another key, or strips, replaces or
forges the witness's cosignatures: each turns the page red with its reason.
The signer has a real local witness (anima_dev.local_witness), whose key the
visits pin with &witness=; a visit that pins none is UNWITNESSED (amber, not
green). Screenshots of every state go to tests/web/artifacts/."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anima_dev.local_memory import local_memory
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import LocalSigner, local_signer
from anima_dev.local_witness import local_witness, signer_witness_env
from anima_signer_api.client import SignerClient
from anima_signer_api.types import PersonalMessage, SignRequest
from anima_verify.attestation import MeasurementPolicy
from anima_verify.tlog.checkpoint import open_checkpoint
from anima_verify.tlog.merkle import leaf_hash, verify_inclusion
from anima_verify.tlog.note import parse_verifier_key
from anima_web import assets_dir
from tests.contracts.conftest import REPO_ROOT
from tests.tlog.http_server import serve_directory
from tests.vectors import require_vectors
from tests.web.conftest import ARTIFACTS
from tests.web.tamper_proxy import tamper_proxy

pytestmark = pytest.mark.slow
DRIVER = Path(__file__).with_name("explorer_browser.mjs")
CHARACTER = REPO_ROOT / "examples" / "characters" / "ada.character.json"
RUNTIME_ENV = {
    "ANIMA_RUNTIME_SIGNING__ALLOW_PERSONAL_MESSAGES": "true",
    "ANIMA_RUNTIME_LOG__API__PUBLIC_PAYLOADS": "true",
}
TIMEOUT_S = 300


def _sign_message(signer: LocalSigner, agent_id: str) -> None:
    async def sign() -> None:
        trust = MeasurementPolicy.insecure_simulated_for_development()
        async with await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=trust
        ) as client:
            await client.sign(SignRequest(agent_id, PersonalMessage(b"gm from the explorer test")))

    asyncio.run(sign())


def _settled_checkpoint(api: httpx.Client, agent_id: str) -> bytes:
    """The checkpoint once the log has stopped growing for a while: the runtime
    collects the enclave's entries (signatures) every second."""
    last, stable = b"", 0
    for _ in range(200):
        note = api.get(f"/v1/logs/{agent_id}/checkpoint").content
        stable = stable + 1 if note == last else 0
        if stable >= 15:
            return note
        last = note
        time.sleep(0.1)
    raise AssertionError(f"the log of {agent_id} kept growing")


def _size(note: bytes | str) -> int:
    text = note if isinstance(note, str) else note.decode()
    return int(text.split("\n")[1])


def _cors(page_url: str) -> dict[str, str]:
    origin = page_url.rstrip("/")
    return {"ANIMA_RUNTIME_LOG__API__CORS_ORIGINS": json.dumps([origin])}


def _run_browser(node: str, chromium: str, visits: list[dict[str, Any]]) -> dict[str, Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "ANIMA_CHROMIUM": chromium,
        "ANIMA_EXPLORER_ARTIFACTS": str(ARTIFACTS),
        "ANIMA_EXPLORER_VISITS": json.dumps(visits),
    }
    result = subprocess.run(
        [node, str(DRIVER)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULTS "))
    results: dict[str, Any] = json.loads(line.removeprefix("RESULTS "))
    return results


@pytest.fixture(scope="module")
def explored(
    node: str, chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("explorer")
    with (
        # A copy of the page on another origin, which the runtime allows by CORS.
        serve_directory(assets_dir()) as elsewhere,
        local_witness(tmp / "witness", name="witness.explorer.test") as witness,
        local_signer(tmp, env=signer_witness_env([witness], quorum=1)) as signer,
        local_memory(tmp) as memory,
        local_runtime(
            tmp, signer=signer, memory=memory, env={**RUNTIME_ENV, **_cors(elsewhere)}
        ) as runtime,
        httpx.Client(
            base_url=runtime.url,
            headers={"Authorization": f"Bearer {runtime.api_token}"},
            timeout=60,
        ) as api,
        tamper_proxy(runtime.url) as (proxy, tamper),
    ):
        tdx = require_vectors("attestation", "tdx_quote", "tdx_quote_collateral.json")
        tamper.tdx = (
            (tdx / "tdx_quote").read_bytes(),
            (tdx / "tdx_quote_collateral.json").read_bytes(),
        )
        created = api.post("/v1/agents", json={"character": json.loads(CHARACTER.read_text())})
        created.raise_for_status()
        agent = created.json()
        agent_id = agent["agent_id"]
        say = {"room_id": "explorer", "entity_id": "visitor", "user_name": "Sam"}
        api.post(f"/v1/agents/{agent_id}/messages", json={**say, "text": "Hi, I'm Sam."})
        tamper.old_checkpoint = _settled_checkpoint(api, agent_id)
        old_size = _size(tamper.old_checkpoint)
        api.post(f"/v1/agents/{agent_id}/messages", json={**say, "text": "I live in Lisbon."})
        _sign_message(signer, agent_id)
        final = _settled_checkpoint(api, agent_id)
        assert _size(final) > old_size
        # The visitor pins the witness's key (its '+' and '/' encoded, as a link would).
        pinned = f"&witness={urllib.parse.quote(witness.verifier_key, safe='')}"
        unpinned_page = f"explorer/?agent={agent_id}"
        page = unpinned_page + pinned
        # One browser visits twice (the second time the server rolls back); fresh
        # browsers, with no earlier visits, for the others.
        visits: list[dict[str, Any]] = [
            {"name": "genuine", "url": f"{proxy}/{page}", "context": "visitor", "downloadIndex": 1},
            # The page served from elsewhere, reading the runtime's log across origins.
            {
                "name": "elsewhere",
                "url": f"{elsewhere}index.html?agent={agent_id}&server={runtime.url}{pinned}",
                "context": "elsewhere",
            },
            # Pages of 4: the newest four, then two clicks on "Older entries"; then a filter.
            {
                "name": "paged",
                "url": f"{proxy}/{page}&page=4",
                "context": "pages",
                "clickOlder": 2,
                "filterKind": "message_in",
            },
            *(
                {"name": mode, "url": f"{proxy}/m/{mode}/{page}", "context": context}
                for mode, context in [
                    ("old-checkpoint", "visitor"),
                    ("flip-tile", "flip"),
                    ("drop-entry", "drop"),
                    ("other-key", "key"),
                    ("tdx-evidence", "tdx"),
                    ("strip-cosignature", "strip"),
                    ("other-witness", "other-witness"),
                    ("forged-cosignature", "forged-cosignature"),
                ]
            ),
            # No witness pinned: the same genuine log, but never green.
            {"name": "unwitnessed", "url": f"{proxy}/{unpinned_page}", "context": "unwitnessed"},
        ]
        results = _run_browser(node, chromium, visits)
        results["_agent"] = agent
        results["_checkpoint"] = final.decode()
        results["_old_size"] = old_size
        results["_witness"] = witness.verifier_key
        yield results


GREEN = "rgb(230, 244, 234)"
RED = "rgb(252, 232, 230)"
AMBER = "rgb(253, 235, 208)"


def _failed(result: dict[str, Any], reason: str) -> None:
    assert result["state"] == "failed", result
    assert result["reason"] == reason, result
    assert result["title"] == f"Verification FAILED ({reason})"
    assert result["bannerColor"] == RED


def test_the_genuine_log_verifies_green(explored: dict[str, Any]) -> None:
    genuine = explored["genuine"]
    assert genuine["errors"] == []
    assert genuine["state"] == "verified", genuine
    assert genuine["bannerColor"] == GREEN
    size = _size(explored["_checkpoint"])
    assert [r["index"] for r in genuine["rows"]] == list(range(size - 1, -1, -1))
    assert all(r["status"] == "included" and r["proof"] == "✓ included" for r in genuine["rows"])
    # Payloads are public here: each one's hash was checked against its entry.
    assert all(r["payload"].startswith("✓ hash matches") for r in genuine["rows"])
    assert "first visit" in genuine["history"]
    # The enclave's first entry names the keys the attestation binds.
    assert genuine["rows"][-1]["kind"] == "lifecycle"
    assert "names the attested keys" in genuine["rows"][-1]["payload"]


def test_a_copy_of_the_page_on_another_origin_verifies_the_log(
    explored: dict[str, Any],
) -> None:
    elsewhere = explored["elsewhere"]
    assert elsewhere["errors"] == []
    assert elsewhere["state"] == "verified", elsewhere
    assert len(elsewhere["rows"]) == _size(explored["_checkpoint"])


def test_older_pages_load_verified_and_filters_narrow_the_timeline(
    explored: dict[str, Any],
) -> None:
    paged = explored["paged"]
    assert paged["state"] == "verified", paged
    size = _size(explored["_checkpoint"])
    shown = [r["index"] for r in paged["rows"]]
    # Three pages of four from the newest, filtered to the incoming messages.
    loaded = set(range(max(0, size - 12), size))
    messages = [r["index"] for r in explored["genuine"]["rows"] if r["kind"] == "message_in"]
    assert shown == [i for i in messages if i in loaded] and shown
    assert all(r["kind"] == "message_in" and r["status"] == "included" for r in paged["rows"])
    assert paged["olderHidden"] == (size <= 12)


def test_the_logged_signature_recovers_to_the_attested_wallet(explored: dict[str, Any]) -> None:
    signatures = [r for r in explored["genuine"]["rows"] if r["kind"] == "signature"]
    wallet = explored["_agent"]["wallets"][0]
    assert len(signatures) == 1
    assert f"signature recovers to wallet #0 {wallet}" in signatures[0]["payload"]


def test_simulated_attestation_is_flagged_insecure_in_red(explored: dict[str, Any]) -> None:
    genuine = explored["genuine"]
    assert genuine["attestation"] == "INSECURE"
    assert genuine["badgeColor"] == "rgb(217, 48, 37)"
    assert "simulated TEE" in genuine["attestationDetail"]


def test_the_downloaded_tlog_proof_verifies_with_anima_verify(explored: dict[str, Any]) -> None:
    text = Path(explored["genuine"]["proofPath"]).read_text()
    head, note = text.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ") and lines[2] == "index 1"
    import base64

    entry = base64.b64decode(lines[1].removeprefix("extra "))
    proof = [base64.b64decode(x) for x in lines[3:]]
    vkey = parse_verifier_key(explored["_agent"]["log_verifier_key"])
    tree = open_checkpoint(note.encode(), [vkey]).checkpoint
    verify_inclusion(
        leaf_hash=leaf_hash(entry), index=1, size=tree.size, proof=proof, root=tree.root_hash
    )


def test_a_flipped_bit_in_a_hash_tile_turns_the_page_red(explored: dict[str, Any]) -> None:
    result = explored["flip-tile"]
    _failed(result, "TILE_MISMATCH")
    assert "hash tile tile/0/000.p/" in result["detail"]
    assert any(r["status"] == "failed" for r in result["rows"])


def test_a_dropped_entry_turns_the_page_red(explored: dict[str, Any]) -> None:
    result = explored["drop-entry"]
    _failed(result, "MALFORMED_TILE")
    assert "tile/entries/000.p/" in result["detail"] and "entries, want" in result["detail"]


def test_an_older_checkpoint_after_a_newer_one_is_a_rollback(explored: dict[str, Any]) -> None:
    result = explored["old-checkpoint"]
    _failed(result, "ROLLBACK")
    size = _size(explored["_checkpoint"])
    assert f"served at size {explored['_old_size']}" in result["detail"]
    assert f"you saw it at size {size}" in result["detail"]


def test_a_checkpoint_signed_by_another_key_turns_the_page_red(explored: dict[str, Any]) -> None:
    result = explored["other-key"]
    _failed(result, "UNKNOWN_KEY")
    assert "not signed by the agent's log key" in result["detail"]


def test_tdx_evidence_is_checked_in_the_browser_by_dcap_qvl(explored: dict[str, Any]) -> None:
    """A genuine TDX quote, but for another enclave and nonce, its collateral long
    expired by the browser's clock: dcap-qvl (WebAssembly, allowed by the page's
    CSP) refuses it and the page is red."""
    result = explored["tdx-evidence"]
    assert result["errors"] == []  # the WebAssembly loaded: no CSP refusal
    _failed(result, "ATTESTATION_FAILED")
    assert result["detail"].startswith("the TDX quote does not verify:"), result["detail"]
    assert "expired" in result["detail"]


def test_the_pinned_witness_cosigned_the_genuine_checkpoint(explored: dict[str, Any]) -> None:
    genuine = explored["genuine"]
    assert genuine["witnesses"].startswith("cosigned by witness.explorer.test at 20"), genuine
    assert "quorum 1 of the 1 witnesses you pinned" in genuine["witnesses"]
    assert "cosigned by witness.explorer.test" in genuine["detail"]
    assert genuine["cosignatures"] == "none"
    # The checkpoint the runtime serves carries the witness's cosignature line.
    assert "\n\u2014 witness.explorer.test " in explored["_checkpoint"]


def test_a_stripped_cosignature_turns_the_page_red(explored: dict[str, Any]) -> None:
    result = explored["strip-cosignature"]
    _failed(result, "WITNESS_QUORUM_NOT_MET")
    assert "from 0 of the 1 witnesses you trust (none of them)" in result["detail"]
    assert result["rows"] == []  # no entry is shown as verified under an unwitnessed checkpoint


def test_a_cosignature_from_another_key_does_not_count(explored: dict[str, Any]) -> None:
    result = explored["other-witness"]
    _failed(result, "WITNESS_QUORUM_NOT_MET")
    assert "your policy needs 1" in result["detail"]


def test_a_forged_cosignature_claiming_the_witness_turns_the_page_red(
    explored: dict[str, Any],
) -> None:
    result = explored["forged-cosignature"]
    _failed(result, "INVALID_SIGNATURE")
    assert "the cosignature by witness witness.explorer.test does not verify" in result["detail"]


def test_without_a_pinned_witness_the_page_says_unwitnessed_not_verified(
    explored: dict[str, Any],
) -> None:
    result = explored["unwitnessed"]
    assert result["errors"] == []
    assert result["state"] == "unwitnessed", result
    assert result["reason"] == "UNWITNESSED"
    assert result["title"] == "UNWITNESSED checkpoint (INSECURE)"
    assert result["bannerColor"] == AMBER
    assert result["witnesses"].startswith("UNWITNESSED: no witness keys pinned")
    # The server's cosignature is shown, but as a key the visitor did not pin.
    shown = "1 by keys you did not pin (witness.explorer.test), not trusted"
    assert result["cosignatures"] == shown
