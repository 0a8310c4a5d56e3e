"""A model that answers instantly: an OpenAI-compatible server in its own process.

The runtime bench points the runtime's chat model and the memory service's embeddings
here, so that model and embedding time are about nothing and what is measured is the
runtime, memory service, signer and HTTP path. It is the tests' FakeOpenAI
(tests/runtime/fake_openai.py) with fixed answers:

- chat completions: `[]` for the fact evaluator's prompt (nothing to add), else a response
  `{"thought": "", "text": "ok", "actions": ["NONE"]}`;
- embeddings: the fake's deterministic vector per text, from a hash of the text (the
  memory service normalizes it).

It keeps no requests (a long run would pile them up), only counts them: GET /v1/stats
says how many chat requests (by prompt kind) and embedding requests and texts it answered.

Usage: python bench/instant_model.py --ready-file PATH [--dimension 384]
Writes {"base_url", "api_key"} to PATH once serving; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests/

from tests.runtime.fake_openai import API_KEY, FakeOpenAI, Seen

RESPONSE = json.dumps({"thought": "", "text": "ok", "actions": ["NONE"]})
NO_FACTS = "[]"
# The first line of the fact evaluator's prompt (plugins/bootstrap/facts.py FACTS_TEMPLATE).
FACTS_MARK = "knowledge of facts true and without duplicates"
DIMENSION = 384


def answer(seen: Seen) -> str:
    prompt = "\n".join(str(m.get("content") or "") for m in seen.messages)
    return NO_FACTS if FACTS_MARK in prompt else RESPONSE


@dataclass
class InstantModel(FakeOpenAI):
    """FakeOpenAI answering at once, counting requests instead of keeping them."""

    counts: Counter[str] = field(default_factory=Counter)

    async def _receive(self, request: Request) -> tuple[Seen, Response | None]:
        seen, refused = await super()._receive(request)
        with self._lock:
            self.requests.clear()
            if seen.path.endswith("/embeddings"):
                inputs = seen.body.get("input") if isinstance(seen.body, dict) else None
                self.counts["embedding_requests"] += 1
                self.counts["embedding_texts"] += (
                    1 if isinstance(inputs, str) else len(inputs or [])
                )
            else:
                kind = "facts" if answer(seen) == NO_FACTS else "response"
                self.counts[f"chat_{kind}"] += 1
        return seen, refused

    def _app(self) -> FastAPI:
        app = super()._app()

        @app.get("/v1/stats")
        async def stats() -> dict[str, Any]:
            with self._lock:
                return dict(self.counts)

        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--dimension", type=int, default=DIMENSION)
    args = parser.parse_args()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    with InstantModel.start(embedding_dimension=args.dimension) as model:
        model.respond(answer)
        ready = {"base_url": model.base_url, "api_key": API_KEY}
        written = args.ready_file.with_suffix(".tmp")
        written.write_text(json.dumps(ready))
        written.replace(args.ready_file)  # whole, or not there yet
        stopping.wait()


if __name__ == "__main__":
    main()
