"""Records the offline chain vectors from a real anvil:
`python -m tests.chain.verify.record_vectors`.

vectors/anvil-prague.json holds the scenario's busy block (four transactions, three
logs) with its receipts, and eth_getProof answers at that block for the contract
(with set and unset slots) and for an absent account. The fuzz targets start their
mutations from them and test_vectors.py checks they still verify; rerecording
changes them (new genesis time), which is fine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.chain.verify.conftest import populate, slot_hex
from tests.chain.verify.devchain import anvil

VECTORS = Path(__file__).with_name("vectors") / "anvil-prague.json"
ABSENT = "0x" + "12" * 20


def record() -> dict[str, Any]:
    with anvil(hardfork="prague") as chain:
        scenario = populate(chain, "prague")
        number = hex(scenario.busy_block)
        return {
            "block": scenario.block(scenario.busy_block),
            "receipts": scenario.block_receipts(scenario.busy_block),
            "contract_proof": chain.call(
                "eth_getProof", scenario.contract, [slot_hex(3), slot_hex(4)], number
            ),
            "absent_proof": chain.call("eth_getProof", ABSENT, [], number),
        }


def load() -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return vectors


if __name__ == "__main__":
    VECTORS.parent.mkdir(exist_ok=True)
    VECTORS.write_text(json.dumps(record(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS}")
