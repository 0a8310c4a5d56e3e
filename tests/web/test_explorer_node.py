"""The explorer's verification modules (web/anima_web/static/js) under Node's
test runner (tests/node/explorer.test.mjs): the shared RFC 9162 and signed-note
vectors, and parity with anima_verify on a tiled log written here by the
independent test writer: the same inclusion proofs, consistency across sizes,
forks, rollbacks and equivocation caught, Ethereum recovery as eth-account
signs. Also: the committed @noble bundle is what web/build.mjs produces."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import coincurve
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account

from anima_verify.attestation.tdx import MEASUREMENT_REGISTERS, verify_tdx_quote
from anima_verify.eth import SECP256K1_ORDER
from anima_verify.tlog.cosignature import (
    WitnessPolicy,
    add_cosignatures,
    cosign,
    cosigned_message,
    cosigner_verifier_key,
)
from anima_verify.tlog.merkle import inclusion_proof
from anima_verify.tlog.note import parse_note, verifier_key
from tests.contracts.test_node_client import run_node_tests
from tests.core.attestation.conftest import FIXED_NOW
from tests.vectors import require_vectors, vectors_dir
from tests.web.conftest import WEB, anima_entry, b64, write_anima_log

EXPLORER_TEST = Path(__file__).resolve().parents[1] / "node" / "explorer.test.mjs"
SIZE = 700  # two full bundles and a partial one, two tile levels
EARLIER = 200
AGENT = "web-agent"


def _eth_fixture() -> dict[str, str]:
    account = Account.from_key(b"\x11" * 32)
    digest = bytes(range(32))
    signed = account.unsafe_sign_hash(digest)
    r, s, v = signed.r, signed.s, signed.v
    high_s = r.to_bytes(32, "big") + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([55 - v])
    return {
        "digest": digest.hex(),
        "signature": bytes(signed.signature).hex(),
        "address": account.address,
        "high_s": high_s.hex(),
    }


def _bound_keys() -> str:
    """What the enclave binds for an agent (anima_signer_api.binding), for the parser fuzz."""
    account = Account.from_key(b"\x22" * 32)
    log_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    public = coincurve.PrivateKey(b"\x22" * 32).public_key.format(compressed=True)
    document = {
        "v": 1,
        "agent_id": AGENT,
        "key_derivation_version": 1,
        "wallets": [[0, account.address, public.hex()]],
        "log_public_key": log_key.hex(),
        "log_verifier_key": verifier_key(f"anima.local/agents/{AGENT}", log_key),
        "signing_public_key": "00" * 32,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _tdx_fixture() -> dict[str, object]:
    """The shared TDX quote, and what anima_verify (dcap-qvl in Python) makes of it."""
    directory = require_vectors("attestation", "tdx_quote", "tdx_quote_collateral.json")
    quote = (directory / "tdx_quote").read_bytes()
    collateral = (directory / "tdx_quote_collateral.json").read_bytes()
    verified = verify_tdx_quote(quote, collateral, now=FIXED_NOW)
    return {
        "quote": str(directory / "tdx_quote"),
        "collateral": str(directory / "tdx_quote_collateral.json"),
        "now": FIXED_NOW,
        "status": verified.tcb_status,
        "measurements": {r: verified.measurement(r).hex() for r in MEASUREMENT_REGISTERS},
        "reportData": verified.report_data.hex(),
    }


WITNESS_TIMES = (1_760_000_000, 1_760_000_001, (1 << 63) - 1)  # the last: the largest allowed


def _witness_fixture(checkpoint: bytes) -> dict[str, object]:
    """The checkpoint cosigned by three witnesses with anima_verify (the witness's
    own code), their keys, and a fourth key that cosigned nothing."""
    keys = [Ed25519PrivateKey.generate() for _ in range(4)]
    names = [f"witness-{i}.test" for i in range(4)]

    def public(key: Ed25519PrivateKey) -> bytes:
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    vkeys = [cosigner_verifier_key(n, public(k)) for n, k in zip(names, keys, strict=True)]
    note = parse_note(checkpoint)
    cosignatures = [
        cosign(note.text, name=names[i], private_key=keys[i], timestamp=WITNESS_TIMES[i])
        for i in range(3)
    ]
    cosigned = add_cosignatures(note, cosignatures)
    # The Python verifier's verdict, which the browser's must match.
    assert WitnessPolicy.of(vkeys[:3], 3).check(cosigned) == tuple(names[:3])
    return {
        "note": b64(cosigned.to_bytes()),
        "vkeys": vkeys[:3],
        "unused": vkeys[3],
        "names": names[:3],
        "times": [str(t) for t in WITNESS_TIMES],
        "message": b64(cosigned_message(note.text, WITNESS_TIMES[0])),
    }


def _fixture(tmp_path: Path) -> Path:
    main = write_anima_log(tmp_path / "log", SIZE, agent=AGENT)
    fork = write_anima_log(tmp_path / "fork", SIZE, agent="fork-agent")
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    indices = [0, 1, 255, 256, 511, 512, 600, SIZE - 1]
    document = {
        "dir": str(main.log.root),
        "agent": AGENT,
        "vkey": main.log.vkey,
        "otherVkey": verifier_key(main.log.origin, other),
        "size": SIZE,
        "root": b64(main.log.root_hash()),
        "earlier": {"size": EARLIER, "root": b64(main.log.root_hash(EARLIER))},
        "fork": {
            "root": b64(fork.log.root_hash()),
            "earlierRoot": b64(fork.log.root_hash(EARLIER)),
        },
        "proofs": {str(i): [b64(h) for h in inclusion_proof(main.log, i, SIZE)] for i in indices},
        "actors": {str(i): json.loads(anima_entry(AGENT, i))["actor"] for i in indices},
        "entries": [b64(e) for e in main.entries[:4]],
        "eth": _eth_fixture(),
        "boundKeys": _bound_keys(),
        "tdx": _tdx_fixture(),
        "witnessed": _witness_fixture(main.log.checkpoint()),
    }
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(document))
    return path


def test_explorer_verification_code_under_node(node: str, tmp_path: Path) -> None:
    require_vectors("merkle", "inclusion", "consistency")
    require_vectors("note", "example.note", "example.vkey")
    env = {
        "ANIMA_EXPLORER_FIXTURE": str(_fixture(tmp_path)),
        "ANIMA_VECTORS_DIR": str(vectors_dir("merkle").parent),
    }
    output = run_node_tests(node, [EXPLORER_TEST], env)
    print(output)
    assert re.search(r"^# pass [1-9]", output, re.MULTILINE), output
    assert "# fail 0" in output
    assert "# skipped 0" in output
    assert "ok 1 - every inclusion vector verifies or fails as it says" in output


def test_vendored_noble_bundle_is_what_the_build_produces(node: str) -> None:
    result = subprocess.run(
        [node, str(WEB / "build.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
