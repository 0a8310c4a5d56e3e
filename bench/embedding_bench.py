"""MiniLM embedding throughput on ONNX Runtime: load time, batch ingest of realistic short
chat sentences (10-30 words) at a few batch sizes, and single-query latency.

Each figure is the best of --rounds runs (other work on a shared machine only ever makes a
run slower); the median is printed beside it. Prints figures and the machine they ran on;
not a pass/fail test.
Usage: python bench/embedding_bench.py [--sentences N] [--rounds N] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import corpus  # bench/corpus.py, beside this script
from machine import machine
from tokenizers import Tokenizer

from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder, package_model_dir

BATCH_SIZES = (16, 32, 64)
QUERIES = 300


def chat_sentences(count: int) -> list[str]:
    """The shared benchmark corpus (bench/corpus.py), kept to messages of 10 to 30 words."""
    pool = corpus.sentences(count * 3)
    return [s for s in pool if 10 <= len(s.split()) <= 30][:count]


def token_counts(sentences: list[str]) -> list[int]:
    tokenizer = Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()  # tokenizer.json pads to 128
    return [len(e.ids) for e in tokenizer.encode_batch(sentences)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def ingest_rates(
    embedder: MiniLmOnnxEmbedder, sentences: list[str], rounds: int
) -> list[float]:
    """Sentences/s for one embed() call over all the sentences, as a bulk import makes."""
    await embedder.embed(sentences[:64])  # warm up
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        await embedder.embed(sentences)
        rates.append(len(sentences) / (time.perf_counter() - start))
    return rates


async def query_latencies(embedder: MiniLmOnnxEmbedder, sentences: list[str]) -> list[float]:
    """One sentence per call through the async API (the thread hop included)."""
    latencies = []
    for sentence in sentences[:QUERIES]:
        start = time.perf_counter()
        await embedder.embed([sentence])
        latencies.append(time.perf_counter() - start)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sentences", type=int, default=2000, help="sentences per ingest run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    sentences = chat_sentences(args.sentences)
    words = [len(s.split()) for s in sentences]
    tokens = token_counts(sentences)
    print(
        f"{len(sentences)} chat sentences, {min(words)}-{max(words)} words (mean "
        f"{statistics.mean(words):.1f}, {statistics.mean(tokens):.1f} tokens with [CLS] [SEP]); "
        "fp32"
    )

    loads: list[float] = []
    rates: dict[int, list[float]] = {}
    latencies: list[float] = []
    for batch_size in BATCH_SIZES:
        start = time.perf_counter()
        embedder = MiniLmOnnxEmbedder.load(threads=args.threads, batch_size=batch_size)
        loads.append(time.perf_counter() - start)
        rates[batch_size] = asyncio.run(ingest_rates(embedder, sentences, args.rounds))
        if batch_size == 32:
            latencies = asyncio.run(query_latencies(embedder, sentences))
        asyncio.run(embedder.aclose())

    print(
        f"load (weights -> graph -> ORT session): best {min(loads):.3f}s, "
        f"median {statistics.median(loads):.3f}s over {len(loads)} loads"
    )
    print(f"{'batch':>6} {'best/s':>8} {'median/s':>9}")
    for batch_size, runs in rates.items():
        print(f"{batch_size:>6} {max(runs):>8,.0f} {statistics.median(runs):>9,.0f}")
    p50, p95 = (percentile(latencies, q) * 1e3 for q in (0.5, 0.95))
    print(
        f"single query (async embed of 1 sentence, {len(latencies)} calls): "
        f"p50 {p50:.2f} ms, p95 {p95:.2f} ms"
    )
    print("target: >= 500 sentences/s batch ingest on 2 cores; single query a few ms")


if __name__ == "__main__":
    main()
