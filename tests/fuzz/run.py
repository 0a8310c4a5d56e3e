"""The long fuzz run, not part of the test suite: `python -m tests.fuzz.run`.

    python -m tests.fuzz.run --examples 1000000              # every parser
    python -m tests.fuzz.run --examples 1000000 --parser note --seed 7

Half the inputs are mutations of the targets' valid seeds (targets.mutate), half
random bytes; any exception other than the library's own errors stops the run, prints
the input and exits 1. Prints the number of inputs per parser and how many parsed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from tests.fuzz.targets import ALLOWED, Target, mutate, targets


def fuzz(target: Target, examples: int, rng: random.Random) -> tuple[int, int]:
    """(inputs run, inputs accepted); raises on the first unexpected exception."""
    accepted = 0
    for n in range(examples):
        if n % 2:
            data = mutate(rng.choice(target.seeds), rng)
        else:
            data = rng.randbytes(rng.choice((0, 1, 2, 8, 33, 64, 200, 1000)))
        try:
            target.parse(data)
        except ALLOWED:
            continue
        except Exception:
            shown = repr(data) if len(data) <= 400 else f"{data[:400]!r}... ({len(data)} bytes)"
            print(f"{target.name}: input {n} raised an unexpected error: {shown}", file=sys.stderr)
            raise
        accepted += 1
    return examples, accepted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--examples", type=int, default=100_000, help="inputs per parser")
    parser.add_argument("--parser", choices=sorted(targets()), action="append")
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    args = parser.parse_args(argv)
    seed = random.SystemRandom().randrange(1 << 32) if args.seed is None else args.seed
    print(f"seed {seed}")
    chosen = args.parser or sorted(targets())
    for name in chosen:
        rng = random.Random(f"{seed}:{name}")
        start = time.monotonic()
        try:
            ran, accepted = fuzz(targets()[name], args.examples, rng)
        except Exception as exc:
            print(f"{name}: FAILED with {type(exc).__name__}: {exc}", flush=True)
            return 1
        elapsed = time.monotonic() - start
        print(f"{name}: {ran} inputs, {accepted} accepted, no unexpected error ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
