"""`anima chat CHARACTER_FILE`: talk to an agent in the terminal, whole stack on this machine.

It starts a signer as its own process (INSECURE simulated TEE, anima_dev.local_signer),
runs the memory service's core in process (embedded Qdrant Edge store, MiniLM),
creates the agent from the character file (its keys in the signer, its log
under the state directory) and reads lines from standard input; each reply is
printed with the actions it ran and the log index of every step, so any of
them can be checked against the agent's verifiable log. `/quit` or end of
input ends the chat.

With --state-dir the agent, its memories and its log are kept there, and the
next chat with the same character resumes the same agent; without it
everything lives in a temporary directory, removed at the end.

Exit codes: 0 done; 1 bad input (an invalid character file: its path and the
reason); 2 the environment (the signer or the embedding model would not start).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from anima_core.config import load_config
from anima_dev.local_signer import local_signer
from anima_memory.embeddings.minilm import MiniLmOnnxEmbedder
from anima_memory.service import MemoryService
from anima_memory.store.edge import EdgeStore
from anima_runtime.agent.turn import TurnResult
from anima_runtime.character.load import load_character
from anima_runtime.character.model import Character
from anima_runtime.config import ENV_PREFIX, RuntimeConfig
from anima_runtime.errors import InvalidCharacter
from anima_runtime.log.registry import LogRegistry
from anima_runtime.manager import AgentManager, AgentView
from anima_signer_api.client import SignerClient
from anima_signer_api.errors import SignerError
from anima_verify.attestation import MeasurementPolicy
from anima_verify.errors import AnimaError, ErrorKind

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

COMMAND = "anima chat"
QUIT = "/quit"
_NOT_REF = re.compile(r"[^A-Za-z0-9._:@-]+")


def register(commands: SubParsers) -> None:
    chat = commands.add_parser(
        "chat",
        help="chat with an agent in the terminal (local signer, memory and log)",
        description="Starts a local signer (INSECURE simulated TEE) and an in-process memory "
        f"service, creates the agent and chats over standard input; {QUIT} or end of input "
        f"ends it. The model comes from the runtime configuration (--config, {ENV_PREFIX}_*); "
        "the default is the offline model.",
    )
    chat.add_argument("character_file", type=Path, metavar="CHARACTER_FILE")
    chat.add_argument(
        "--state-dir", type=Path, help="keep the agent here and resume it (default: temporary)"
    )
    chat.add_argument("--config", type=Path, help="TOML or JSON file holding a RuntimeConfig")
    chat.add_argument("--room", default="terminal", help="the room id (default: terminal)")
    chat.add_argument("--user", default="you", help="your name, as the agent sees it")
    chat.set_defaults(func=chat_command)


def chat_command(args: argparse.Namespace) -> int:
    """Handler of `anima chat`; returns the exit code."""
    try:
        character = load_character(args.character_file)
    except InvalidCharacter as exc:  # its message starts with the file's path
        return _fail(exc.message, 1)
    if args.state_dir is not None:
        args.state_dir.mkdir(parents=True, exist_ok=True)
        return _run(args, character, args.state_dir.resolve())
    with tempfile.TemporaryDirectory(prefix="anima-chat-") as tmp:
        return _run(args, character, Path(tmp))


def _run(args: argparse.Namespace, character: Character, state_dir: Path) -> int:
    try:
        config = load_config(
            RuntimeConfig,
            env_prefix=ENV_PREFIX,
            file=args.config,
            overrides={"data_dir": state_dir / "runtime"},
        )
        knowledge_dir = args.character_file.resolve().parent
        return asyncio.run(_chat(args, config, character, state_dir, knowledge_dir))
    except KeyboardInterrupt:
        return 0
    except SignerError as exc:  # the signer refused or is gone
        return _fail(f"signer: {exc.message}", 2)
    except AnimaError as exc:
        return _fail(exc.message, 2 if exc.kind == ErrorKind.UNAVAILABLE else 1)
    except (OSError, RuntimeError) as exc:  # a service that would not start
        return _fail(str(exc), 2)


def _fail(message: str, code: int) -> int:
    print(f"{COMMAND}: {message}", file=sys.stderr)
    return code


async def _chat(
    args: argparse.Namespace,
    config: RuntimeConfig,
    character: Character,
    state_dir: Path,
    knowledge_dir: Path,
) -> int:
    async with _stack(config, state_dir) as manager:
        view, resumed = await _agent(manager, character, knowledge_dir)
        _banner(view, state_dir if args.state_dir is not None else None, resumed=resumed)
        await _converse(manager, view, room_id=args.room, user=args.user, lines=sys.stdin)
    return 0


@asynccontextmanager
async def _stack(config: RuntimeConfig, state_dir: Path) -> AsyncIterator[AgentManager]:
    """A local signer process, the memory core in process, and a manager over them."""
    async with AsyncExitStack() as stack:
        signer = stack.enter_context(local_signer(state_dir))
        trust = MeasurementPolicy.insecure_simulated_for_development()
        runtime = await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["runtime"], policy=trust
        )
        stack.push_async_callback(runtime.close)
        admin = await SignerClient.connect_attested(
            address=signer.address, token=signer.tokens["admin"], policy=trust
        )
        stack.push_async_callback(admin.close)
        store = await asyncio.to_thread(EdgeStore.open, state_dir / "memory")
        stack.callback(store.close)
        embedder = await asyncio.to_thread(MiniLmOnnxEmbedder.load)
        stack.push_async_callback(embedder.aclose)
        memory = MemoryService(store, embedder)
        registry = LogRegistry.from_config(config.log, runtime)
        stack.push_async_callback(registry.close)
        manager = await AgentManager.open(
            config=config, memory=memory, logs=registry, signer=runtime, admin=admin
        )
        stack.push_async_callback(manager.close)
        yield manager


async def _agent(
    manager: AgentManager, character: Character, knowledge_dir: Path
) -> tuple[AgentView, bool]:
    """The state directory's agent of this name (resumed, with the character it was
    created from), or a new one; and whether it was resumed."""
    for view in manager.list():
        if view.name == character.name:
            return (view if view.running else await manager.start(view.agent_id)), True
    return await manager.create(character, knowledge_dir=knowledge_dir), False


def _banner(view: AgentView, kept_in: Path | None, *, resumed: bool) -> None:
    print(f"agent {view.agent_id} ({view.name}), model {view.model}")
    if resumed:
        print("  resumed from the state directory, with the character it was created from")
    print(f"  wallet {', '.join(view.wallets)}; log key {view.log_verifier_key}")
    if view.unknown_plugins:
        print(f"  plugins this runtime lacks: {', '.join(view.unknown_plugins)}")
    print("  signer: INSECURE simulated TEE (development only)")
    print(f"  state kept in {kept_in}" if kept_in else "  state is temporary")
    print(f"type a message; {QUIT} or end of input ends the chat", flush=True)


async def _converse(
    manager: AgentManager, view: AgentView, *, room_id: str, user: str, lines: TextIO
) -> None:
    entity_id = _NOT_REF.sub("-", user).strip("-._:@")[:128] or "user"
    prompt = lines.isatty()
    incoming = _read_lines(lines)
    while True:
        if prompt:
            print(f"{user}> ", end="", flush=True)
        line = await incoming.get()
        if not line or line.strip() == QUIT:
            return
        text = line.strip()
        if not text:
            continue
        try:
            turn = await manager.send_message(
                view.agent_id, room_id=room_id, text=text, entity_id=entity_id, user_name=user
            )
        except AnimaError as exc:  # this turn failed; the chat goes on
            print(f"({exc.message})", file=sys.stderr, flush=True)
            continue
        print(render_turn(view.name, turn), flush=True)


def _read_lines(stream: TextIO) -> asyncio.Queue[str]:
    """Lines of `stream` as they come ("" at its end), read by a daemon thread: a
    blocked read must not keep the process alive after Ctrl-C (an executor thread would)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        while True:
            line = stream.readline()
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the chat is over and its loop closed
                return
            if not line:
                return

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()
    return queue


def render_turn(name: str, turn: TurnResult) -> str:
    """A turn for the terminal: replies, actions and evaluations with their log indices."""
    lines = [f"  (your message: log #{turn.message_log_index})"]
    if not turn.responses:
        lines.append(f"{name} stays silent")
    for response in turn.responses:  # the actions it chose are listed below, as they ran
        lines.append(f"{name}: {response.text}  (log #{response.log_index})")
    for action in turn.actions:
        outcome = "ok" if action.ok else "failed"
        detail = f": {action.text}" if action.text else ""
        lines.append(f"  action {action.name} {outcome}{detail}  (log #{action.log_index})")
    for evaluation in turn.evaluations:
        outcome = "" if evaluation.ok else " failed"
        lines.append(
            f"  evaluator {evaluation.name}{outcome}: {evaluation.summary}"
            f"  (log #{evaluation.log_index})"
        )
    return "\n".join(lines)


__all__ = ["chat_command", "register", "render_turn"]
