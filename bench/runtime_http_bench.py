"""Messages per second through the runtime's HTTP API, many rooms at once.

The deployed shape, three services in their own processes on loopback: the signer
(INSECURE simulated TEE), the memory service (TLS, token, embedded store) and the agent
runtime (HTTP API, bearer token). One agent (examples/characters/ada.character.json)
is created through the API, then one asyncio task per room (20 rooms by default) sends
its next message as soon as the last one is answered, over one keep-alive
httpx.AsyncClient, for a fixed time (or a fixed number of messages).

The main figure uses a model that answers instantly: bench/instant_model.py, an
OpenAI-compatible server in a fourth process, is both the runtime's chat model
(`ok` / NONE, no facts) and the memory service's embeddings (hashed 384-d unit
vectors), so model and embedding time are about nothing and what is measured is the
runtime, memory service, signer and HTTP path. A second, shorter run on the real
defaults (MiniLM embeddings, the offline model) is printed for context.

Printed: messages/s, per-message latency as the client sees it (p50/p95/p99) and the
runtime's own turn time, errors (each one), the log's growth (signed checkpoint size
before and after), model calls per message, and the CPU each process used in the
window (main thread and the rest, ms per message). The load generator runs on the same
machine: on the 2-core dev machine it shares the 2 cores with the three services and
the instant model. The machine may be shared with other work too: the CPU table ends
with how busy the whole machine was and how much of that was outside this bench.

`--trace DIR` records, for the measured window only, the runtime's own split of each
turn into phases (its DEBUG record, through a sitecustomize on PYTHONPATH, started and
stopped by SIGUSR1 / SIGUSR2) and prints their p50/p99; with `--profile` the services'
main threads also run under cProfile and each one's top functions are printed (the
figures are then slower). Traced runs skip the real defaults.

Prints figures and the machine they ran on; not a pass/fail test.
Usage: python bench/runtime_http_bench.py [--rooms 20] [--duration 20] [--messages N]
       [--defaults-duration 8] [--trace DIR [--profile]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import numpy as np
from machine import machine  # bench/machine.py, beside this script

from anima_dev.local_memory import local_memory
from anima_dev.local_process import ready_process
from anima_dev.local_runtime import local_runtime
from anima_dev.local_signer import local_signer
from anima_verify.tlog.checkpoint import parse_checkpoint

HERE = Path(__file__).resolve().parent
CHARACTER = HERE.parent / "examples" / "characters" / "ada.character.json"
INSTANT_MODEL = HERE / "instant_model.py"
READY_TIMEOUT_S = 30.0
DIMENSION = 384  # the instant embeddings' (MiniLM's too)
MACHINE = "machine"  # in CPU figures: every process on it, this bench's or not
REQUEST_TIMEOUT_S = 120.0
TOPICS = ("verifiable logs", "enclaves", "signing policies", "memories", "recovery")
# Loaded by every Python process of the stack when tracing (PYTHONPATH): SIGUSR1 starts
# recording the runtime's DEBUG record of each turn's phases (and cProfile on the main
# thread, if asked), SIGUSR2 stops and writes <dir>/<name>-<pid>.{phases.json,prof}.
SITECUSTOMIZE = """\
import cProfile, json, logging, os, signal, sys
_where = os.environ["ANIMA_BENCH_TRACE"]
_cprofile = cProfile.Profile() if os.environ.get("ANIMA_BENCH_CPROFILE") == "1" else None
_phases = []
_on = False
def _keep(record):
    if _on and isinstance(getattr(record, "phases_ms", None), dict):
        _phases.append(record.phases_ms)
    return record.levelno >= logging.WARNING  # the rest is recorded, not printed
_turns = logging.getLogger("anima_runtime.agent.runtime")
_turns.setLevel(logging.DEBUG)
_turns.addFilter(_keep)
def _name():  # `python -m anima_dev.cli runtime serve` / `anima-runtime serve`: the service
    launcher = os.path.basename(sys.argv[0])
    if launcher in ("cli.py", "main.py") and len(sys.argv) > 1:
        return sys.argv[1]
    if launcher.startswith("anima-"):
        return launcher.removeprefix("anima-")
    return "model"
def _start(*_):
    global _on
    _on = True
    if _cprofile is not None:
        _cprofile.enable()
def _stop(*_):
    global _on
    _on = False
    stem = os.path.join(_where, f"{_name()}-{os.getpid()}")
    if _cprofile is not None:
        _cprofile.disable()
        _cprofile.dump_stats(stem + ".prof")
    if _phases:
        with open(stem + ".phases.json", "w") as out:
            json.dump(_phases, out)
signal.signal(signal.SIGUSR1, _start)
signal.signal(signal.SIGUSR2, _stop)
"""


class Instant(NamedTuple):
    base_url: str
    api_key: str
    process: subprocess.Popen[bytes]


class Stack(NamedTuple):
    url: str
    token: str
    processes: dict[str, int]  # name -> pid, the load generator included
    model_url: str | None  # the instant model's, to read its request counts


@contextlib.contextmanager
def instant_model(state_dir: Path) -> Iterator[Instant]:
    ready = state_dir / "instant-model.ready"
    command = [sys.executable, str(INSTANT_MODEL), "--ready-file", str(ready)]
    command += ["--dimension", str(DIMENSION)]
    with ready_process(
        command, ready_file=ready, name="the instant model", timeout_s=READY_TIMEOUT_S
    ) as (process, found):
        yield Instant(found["base_url"], found["api_key"], process)


@contextlib.contextmanager
def stack(state_dir: Path, *, instant: bool) -> Iterator[Stack]:
    """The signer, memory service and runtime (and the instant model when asked)."""
    with contextlib.ExitStack() as opened:
        memory_env: Mapping[str, str] = {}
        runtime_env: Mapping[str, str] = {}
        model: Instant | None = None
        if instant:
            model = opened.enter_context(instant_model(state_dir))
            # Plain http carries the key: allowed to loopback outside production.
            memory_env = {
                "ANIMA_MEMORY_EMBEDDINGS": "openai",
                "ANIMA_MEMORY_OPENAI__BASE_URL": model.base_url,
                "ANIMA_MEMORY_OPENAI__MODEL": "instant-embeddings",
                "ANIMA_MEMORY_OPENAI__API_KEY": model.api_key,
                "ANIMA_MEMORY_OPENAI__DIMENSION": str(DIMENSION),
            }
            runtime_env = {
                "ANIMA_RUNTIME_MODEL__PROVIDER": "openai",
                "ANIMA_RUNTIME_MODEL__BASE_URL": model.base_url,
                "ANIMA_RUNTIME_MODEL__MODEL": "instant",
                "ANIMA_RUNTIME_MODEL__API_KEY": model.api_key,
            }
        signer = opened.enter_context(local_signer(state_dir))
        memory = opened.enter_context(local_memory(state_dir, env=memory_env))
        runtime = opened.enter_context(
            local_runtime(state_dir, signer=signer, memory=memory, env=runtime_env)
        )
        processes = {
            "runtime": runtime.process.pid,
            "memory": memory.process.pid,
            "signer": signer.process.pid,
        }
        if model is not None:
            processes["model"] = model.process.pid
        processes["load generator"] = os.getpid()
        model_url = None if model is None else model.base_url
        yield Stack(runtime.url, runtime.api_token, processes, model_url)


# ---------------------------------------------------------------- the load


@dataclass
class Load:
    remaining: int | None  # messages left to send, None: until the deadline
    deadline: float  # time.monotonic()
    latencies_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)  # the runtime's own timing
    errors: list[str] = field(default_factory=list)
    last_log_index: int = -1

    def take(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        if self.remaining is None:
            return True
        self.remaining -= 1
        return self.remaining >= 0


def log_indices(turn: dict[str, Any]) -> list[int]:
    steps = [*turn["responses"], *turn["actions"], *turn["evaluations"]]
    return [turn["message_log_index"], *(s["log_index"] for s in steps)]


async def room(client: httpx.AsyncClient, agent_id: str, number: int, load: Load) -> None:
    """One room's conversation: the next message as soon as the last is answered."""
    sent = 0
    while load.take():
        topic = TOPICS[(number + sent) % len(TOPICS)]
        body = {
            "room_id": f"room-{number}",
            "entity_id": f"user-{number}",
            "user_name": f"User {number}",
            "text": f"Message {sent} in room {number}: tell me about {topic}.",
        }
        sent += 1
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/agents/{agent_id}/messages", json=body)
        except httpx.HTTPError as exc:
            load.errors.append(f"room {number}: {type(exc).__name__}: {exc}")
            continue
        took_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            load.errors.append(f"room {number}: {response.status_code} {response.text[:300]}")
            continue
        turn = response.json()
        load.latencies_ms.append(took_ms)
        load.turn_ms.append(float(turn["timings"]["total_ms"]))
        load.last_log_index = max(load.last_log_index, *log_indices(turn))


async def drive(
    client: httpx.AsyncClient, agent_id: str, rooms: int, *, seconds: float, messages: int | None
) -> tuple[Load, float]:
    load = Load(remaining=messages, deadline=time.monotonic() + seconds)
    started = time.perf_counter()
    await asyncio.gather(*(room(client, agent_id, n, load) for n in range(rooms)))
    return load, time.perf_counter() - started


# ---------------------------------------------------------------- what is measured


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(main thread, all threads) CPU seconds a process has used (/proc, user + system)."""
    tick = os.sysconf("SC_CLK_TCK")

    def used(stat: Path) -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime

    return used(Path(f"/proc/{pid}/task/{pid}/stat")), used(Path(f"/proc/{pid}/stat"))


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy, every core (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_now(processes: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """Each process's (main thread, all threads) CPU seconds, and the machine's busy time."""
    now = {name: cpu_seconds(pid) for name, pid in processes.items()}
    busy = machine_busy()
    now[MACHINE] = (busy, busy)
    return now


async def log_size(client: httpx.AsyncClient, agent_id: str) -> int:
    note = (await client.get(f"/v1/logs/{agent_id}/checkpoint")).raise_for_status().text
    return parse_checkpoint(note.split("\n\n", 1)[0] + "\n").size


async def model_counts(model_url: str | None) -> dict[str, int]:
    if model_url is None:
        return {}
    async with httpx.AsyncClient(timeout=10) as client:
        counts: dict[str, int] = (await client.get(f"{model_url}/stats")).json()
        return counts


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    p50, p95, p99 = np.percentile(np.asarray(samples), [50, 95, 99])
    return f"p50 {p50:7.1f}  p95 {p95:7.1f}  p99 {p99:7.1f} ms"


def report(
    load: Load,
    elapsed: float,
    *,
    size: tuple[int, int],
    log_seconds: float,
    first_index: int,
    cpu: tuple[Mapping[str, tuple[float, float]], Mapping[str, tuple[float, float]]],
    calls: tuple[Mapping[str, int], Mapping[str, int]],
) -> None:
    done = len(load.latencies_ms)
    print(f"    messages/s          {done / elapsed:8.1f}   ({done} answered in {elapsed:.1f} s)")
    print(f"    latency (client)    {percentiles(load.latencies_ms)}")
    print(f"    turn (runtime)      {percentiles(load.turn_ms)}")
    print(f"    errors              {len(load.errors)}")
    for error in load.errors[:20]:
        print(f"      {error}")
    if len(load.errors) > 20:
        print(f"      ... and {len(load.errors) - 20} more")
    grown = size[1] - size[0]
    print(
        f"    log                 checkpoint {size[0]} -> {size[1]}: "
        f"{grown / log_seconds:.1f} entries/s; "
        f"{(load.last_log_index - first_index) / max(done, 1):.2f} entries per message"
    )
    if calls[1]:
        per = {k: (v - calls[0].get(k, 0)) / max(done, 1) for k, v in sorted(calls[1].items())}
        print("    model per message   " + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    before, after = cpu
    cores = os.cpu_count() or 1
    total = 0.0
    print(f"    CPU in the window ({cores} cores; % of one core, ms per message):")
    for name in after:
        if name == MACHINE:
            continue
        main = after[name][0] - before[name][0]
        every = after[name][1] - before[name][1]
        total += every
        print(
            f"      {name:<15} {100 * every / elapsed:5.0f}%"
            f"  (main thread {100 * main / elapsed:3.0f}%)"
            f"  {1000 * every / max(done, 1):6.2f} ms/message"
        )
    print(
        f"      {'all':<15} {100 * total / elapsed:5.0f}%"
        f"  {' ' * 17}{1000 * total / max(done, 1):6.2f} ms/message"
    )
    busy = after[MACHINE][1] - before[MACHINE][1]
    print(
        f"      machine busy {100 * busy / elapsed:.0f}% of {100 * cores}%, "
        f"of which outside this bench {100 * max(busy - total, 0.0) / elapsed:.0f}%"
    )


def signal_all(processes: Mapping[str, int], sig: signal.Signals) -> None:
    for name, pid in processes.items():
        if name != "load generator":
            os.kill(pid, sig)


def print_traces(directory: Path, top: int = 30) -> None:
    for path in sorted(directory.glob("*.phases.json")):
        turns: list[dict[str, float]] = json.loads(path.read_text())
        names = list(dict.fromkeys(k for t in turns for k in t))
        print(f"    phases of {len(turns)} turns ({path.name}), p50 / p99 ms:")
        for name in names:
            p50, p99 = np.percentile([t.get(name, 0.0) for t in turns], [50, 99])
            print(f"      {name:<32} {p50:7.1f} / {p99:7.1f}")
    for path in sorted(directory.glob("*.prof")):
        stats = pstats.Stats(str(path))
        print(f"\n-- cProfile {path.stem} (main thread, measured window): own time by package")
        for package, seconds in own_time_by_package(stats)[:15]:
            print(f"      {package[:60]:<60} {seconds:7.3f} s")
        print(f"   top {top} functions by own time")
        stats.sort_stats("tottime").print_stats(top)


def own_time_by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Profiled own time summed by top-level package (the stdlib module); C functions by
    name (epoll's poll is the event loop waiting; Context.run holds the C and Cython
    callbacks it runs, grpc's among them)."""
    totals: dict[str, float] = {}
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, function), (_, _, own, *_) in raw.items():
        where = _package(filename) if filename != "~" else function.strip("{}")
        totals[where] = totals.get(where, 0.0) + own
    return sorted(totals.items(), key=lambda kv: -kv[1])


def _package(filename: str) -> str:
    if filename.startswith("<"):
        return filename  # <frozen importlib._bootstrap>, ...
    path = Path(filename)
    for marker in ("site-packages", "services", "packages", "devstack"):
        if marker in path.parts:
            rest = path.parts[path.parts.index(marker) + 1 :]
            # services/<svc>/<package>, packages/<distribution>/<package>
            rest = rest[1:] if marker in ("services", "packages") else rest
            return rest[0] if rest else path.name
    return f"stdlib {path.parent.name if path.parent.name != 'lib' else path.stem}"


async def run(
    label: str,
    root: Path,
    *,
    instant: bool,
    rooms: int,
    seconds: float,
    messages: int | None,
    warmup: int,
    trace: bool,
) -> None:
    with stack(root, instant=instant) as served:
        limits = httpx.Limits(max_connections=rooms + 4, max_keepalive_connections=rooms + 4)
        headers = {"Authorization": f"Bearer {served.token}"}
        async with httpx.AsyncClient(
            base_url=served.url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT_S
        ) as client:
            character = json.loads(CHARACTER.read_text())
            created = await client.post("/v1/agents", json={"character": character})
            agent = created.raise_for_status().json()
            agent_id = agent["agent_id"]
            print(f"-- {label}: agent {agent_id} (model {agent['model']}), {rooms} rooms")
            warm, _ = await drive(client, agent_id, rooms, seconds=600, messages=warmup * rooms)
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[0]}")
            await asyncio.sleep(1.5)  # the log's idle sync signs a checkpoint of the warm-up
            size_before = await log_size(client, agent_id)
            calls_before = await model_counts(served.model_url)
            log_started = time.perf_counter()
            if trace:
                signal_all(served.processes, signal.SIGUSR1)
            cpu_before = cpu_now(served.processes)
            load, elapsed = await drive(client, agent_id, rooms, seconds=seconds, messages=messages)
            cpu_after = cpu_now(served.processes)
            if trace:
                signal_all(served.processes, signal.SIGUSR2)
            calls_after = await model_counts(served.model_url)
            size_after = await log_size(client, agent_id)
            log_seconds = time.perf_counter() - log_started
        report(
            load,
            elapsed,
            size=(size_before, size_after),
            log_seconds=log_seconds,
            first_index=warm.last_log_index,
            cpu=(cpu_before, cpu_after),
            calls=(calls_before, calls_after),
        )


@contextlib.contextmanager
def tracing(directory: Path | None, *, cprofile: bool) -> Iterator[None]:
    """Every Python process started inside loads the tracing sitecustomize."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.prof"), *directory.glob("*.phases.json")]:
        old.unlink()
    site = directory / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    keys = ("PYTHONPATH", "ANIMA_BENCH_TRACE", "ANIMA_BENCH_CPROFILE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), saved["PYTHONPATH"]]))
    os.environ["ANIMA_BENCH_TRACE"] = str(directory)
    os.environ["ANIMA_BENCH_CPROFILE"] = "1" if cprofile else "0"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--messages", type=int, help="stop after this many messages instead")
    parser.add_argument("--warmup", type=int, default=3, help="messages per room first")
    parser.add_argument(
        "--defaults-duration", type=float, default=8.0, help="the real defaults' run; 0: skip"
    )
    parser.add_argument("--trace", type=Path, help="record the turns' phases; files here")
    parser.add_argument("--profile", action="store_true", help="with --trace: cProfile too")
    args, _ = parser.parse_known_args()  # ./dev bench passes its arguments to every bench
    print(f"runtime HTTP bench on {machine()}")
    print("(the load generator shares the machine's cores with the services)")
    duration = args.duration if args.messages is None else float("inf")
    runs = [("instant model", True, duration, args.messages)]
    if args.defaults_duration > 0 and args.trace is None:
        runs.append(("real defaults (MiniLM, offline model)", False, args.defaults_duration, None))
    for label, instant, seconds, messages in runs:
        with (
            tempfile.TemporaryDirectory() as tmp,
            tracing(args.trace, cprofile=args.profile),
        ):
            asyncio.run(
                run(
                    label,
                    Path(tmp),
                    instant=instant,
                    rooms=args.rooms,
                    seconds=seconds,
                    messages=messages,
                    warmup=args.warmup,
                    trace=args.trace is not None,
                )
            )
    if args.trace is not None:
        print_traces(args.trace)


if __name__ == "__main__":
    main()
