"""`anima log`: verify signed notes, whole tiled logs and pairs of checkpoints, offline.

For third parties who hold only the log's verifier key: nothing the log's
operator says is trusted beyond what that key signed and the hashes recompute.
Works on any C2SP tlog-tiles log, not only Anima's.

Exit codes: 0 verified / consistent; 1 rejected (the reason, with its error
class, is on stderr), a fork included; 2 the verifier's own input is unusable (a
file or directory that cannot be read, an unreachable URL, a malformed --vkey, a
missing --log, a monitor state file that cannot be used); 3 (audit, monitor)
equivocation, with both notes as evidence; 4 (audit, monitor) rollback: the
newer checkpoint is smaller than the older one, both notes as evidence.

`verify`, `audit` and `monitor` take a witness policy (cli/witness_policy.py):
checkpoints without the quorum's cosignatures are rejected (1, WitnessQuorumNotMet)
unless --insecure-unwitnessed is given.

Other packages add subcommands under `anima log` (e.g. the runtime's
`anima log serve`) through the sub-parsers action register() returns.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from anima_verify.cli.witness_policy import add_witness_policy, witness_policy
from anima_verify.errors import AnimaError
from anima_verify.tlog.checkpoint import Checkpoint
from anima_verify.tlog.errors import (
    Equivocation,
    InconsistentLog,
    LogVerificationError,
    MalformedVerifierKey,
    Rollback,
)
from anima_verify.tlog.monitor import MonitorReport, MonitorStateError, monitor_log
from anima_verify.tlog.note import Verifier, open_note, parse_verifier_key
from anima_verify.tlog.reader import DirectorySource, HttpSource, LogSourceError, TileSource
from anima_verify.tlog.verify import (
    AuditReport,
    LogReport,
    LogSourceNeeded,
    audit_checkpoints,
    verify_tiled_log,
)

EXIT_VERIFIED = 0
EXIT_REJECTED = 1
EXIT_UNREADABLE = 2
EXIT_EQUIVOCATION = 3
EXIT_ROLLBACK = 4

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def register(subparsers: SubParsers) -> SubParsers:
    """Add `log verify-note`, `log verify`, `log audit` and `log monitor` to the `anima`
    command line; returns the `log` sub-parsers so other packages can add theirs."""
    log = subparsers.add_parser("log", help="verify transparency logs, notes and checkpoints")
    commands = log.add_subparsers(dest="log_command", required=True, metavar="COMMAND")

    note = commands.add_parser(
        "verify-note",
        help="check a C2SP signed note against verifier keys",
        description="Exit 0 if the note carries a valid signature by one of the keys, "
        "1 if not, 2 if the input cannot be read.",
    )
    note.add_argument("note", metavar="NOTE_FILE", type=Path, help="the signed note")
    _add_vkey(note)
    note.add_argument("--json", action="store_true", help="print one JSON object")
    note.set_defaults(func=verify_note_command)

    verify = commands.add_parser(
        "verify",
        help="verify a whole tiled log: checkpoint signature, every entry, tile and the root",
        description="Read a C2SP tlog-tiles log from a directory or URL, check the checkpoint "
        "signature, recompute every leaf, hash tile and the root. Exit 0 only if everything "
        "matches; 1 names the first mismatch; 2 the log cannot be read.",
    )
    verify.add_argument("log", metavar="DIR|URL", help="the log's directory or base URL")
    _add_vkey(verify)
    add_witness_policy(verify)
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=verify_log_command)

    audit = commands.add_parser(
        "audit",
        help="check that a newer checkpoint extends an older one of the same log",
        description="NEW must extend OLD: the same log, a size at least OLD's, and a "
        "consistency proof from OLD to NEW. Exit 0 consistent; 1 inconsistent (fork, "
        "other log) or invalid; 2 unreadable input or --log needed; 3 equivocation (same "
        "size, two roots); 4 rollback (NEW is smaller than OLD: the log was served rolled "
        "back or truncated). On 3 and 4 both notes are printed as evidence.",
    )
    audit.add_argument(
        "old", metavar="OLD_CHECKPOINT", type=Path, help="the checkpoint seen before"
    )
    audit.add_argument(
        "new", metavar="NEW_CHECKPOINT", type=Path, help="the checkpoint that must extend it"
    )
    _add_vkey(audit)
    add_witness_policy(audit)
    audit.add_argument(
        "--log",
        metavar="DIR|URL",
        default=None,
        help="the log's tiles, for a consistency proof between different sizes "
        "(none is needed from a size-0 checkpoint: the empty tree precedes every tree)",
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object")
    audit.set_defaults(func=audit_command)

    monitor = commands.add_parser(
        "monitor",
        help="check a log against the last checkpoint this monitor verified, then store it",
        description="Fetch the log's checkpoint, verify its signature and check that it "
        "extends the checkpoint stored for that log in --state (a consistency proof from "
        "the log's tiles); store it only then. Exit 0 first run, unchanged or extended; "
        "1 rejected (bad signature, fork, missing tiles); 2 unreadable log or unusable "
        "state file; 3 equivocation; 4 rollback. On 3 and 4 both notes are printed as "
        "evidence; on any failure the stored checkpoint is kept.",
    )
    monitor.add_argument("log", metavar="DIR|URL", help="the log's directory or base URL")
    _add_vkey(monitor)
    add_witness_policy(monitor)
    monitor.add_argument(
        "--state",
        metavar="FILE",
        type=Path,
        required=True,
        help="JSON file of the latest verified checkpoint per log (created 0600)",
    )
    monitor.add_argument("--json", action="store_true", help="print one JSON object")
    monitor.set_defaults(func=monitor_command)
    return commands


def _add_vkey(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vkey",
        metavar="VKEY",
        type=verifier_argument,
        action="append",
        required=True,
        help="verifier key (name+keyid+base64) or a file holding one; repeatable",
    )


def verifier_argument(text: str) -> Verifier:
    """--vkey: a file holding a verifier key when one exists at that path, else the key."""
    path = Path(text)
    try:
        if path.is_file():
            text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read verifier key file {text}: {exc}") from None
    try:
        return parse_verifier_key(text)
    except MalformedVerifierKey as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def open_source(location: str) -> TileSource:
    """A URL or a directory; LogSourceError when it is neither, or when a URL
    needs the HTTP extra that is not installed."""
    if location.startswith(("http://", "https://")):
        try:
            return HttpSource(location)
        except ImportError as exc:
            raise LogSourceError(str(exc)) from None
    path = Path(location)
    if not path.is_dir():
        raise LogSourceError(f"{location} is not a readable directory")
    return DirectorySource(path)


# ---------------------------------------------------------------- verify-note


def verify_note_command(args: argparse.Namespace) -> int:
    """Handler of `anima log verify-note`; returns the exit code."""
    as_json: bool = args.json
    verifiers: list[Verifier] = args.vkey
    try:
        data = Path(args.note).read_bytes()
    except OSError as exc:
        return _fail(EXIT_UNREADABLE, f"cannot read {exc.filename}: {exc.strerror}", None, as_json)
    try:
        note = open_note(data, verifiers)
    except LogVerificationError as exc:
        return _fail(EXIT_REJECTED, exc.message, type(exc).__name__, as_json)
    signed = {(s.name, s.key_id) for s in note.signatures}
    keys = [str(v) for v in verifiers if (v.name, v.key_id) in signed]
    if as_json:
        print(json.dumps({**_ok(), "signed_by": keys, "text": note.text}))
    else:
        print("verified   yes")
        for key in keys:
            print(f"signed by  {key}")
        print()
        print(note.text, end="")
    return EXIT_VERIFIED


# ---------------------------------------------------------------- verify


def verify_log_command(args: argparse.Namespace) -> int:
    """Handler of `anima log verify`; returns the exit code."""
    as_json: bool = args.json
    try:
        witnesses = witness_policy(args)
    except ValueError as exc:
        return _fail(EXIT_UNREADABLE, str(exc), None, as_json)
    try:
        source = open_source(args.log)
        try:
            report = verify_tiled_log(source, args.vkey, witnesses=witnesses)
        finally:
            if isinstance(source, HttpSource):
                source.close()
    except LogSourceError as exc:
        return _fail(EXIT_UNREADABLE, exc.message, type(exc).__name__, as_json)
    except LogVerificationError as exc:
        return _fail(EXIT_REJECTED, exc.message, type(exc).__name__, as_json)
    fields = log_fields(report)
    if as_json:
        print(json.dumps({**_ok(), "log": fields}))
    else:
        print("verified   yes")
        print(f"origin     {report.origin}")
        print(f"size       {report.size}")
        print(f"root       {fields['root_base64']}")
        print(f"root_hex   {fields['root_hex']}")
        print(f"entries    {report.entries_checked} checked")
        print(f"tiles      {report.tiles_checked} hash tiles, {report.bundles_checked} bundles")
    return EXIT_VERIFIED


def log_fields(report: LogReport) -> dict[str, object]:
    return {
        "origin": report.origin,
        "size": report.size,
        "root_base64": base64.b64encode(report.root_hash).decode(),
        "root_hex": report.root_hash.hex(),
        "entries_checked": report.entries_checked,
        "tiles_checked": report.tiles_checked,
        "bundles_checked": report.bundles_checked,
        "checkpoint": report.checkpoint_note,
    }


# ---------------------------------------------------------------- audit


def audit_command(args: argparse.Namespace) -> int:
    """Handler of `anima log audit`; returns the exit code."""
    as_json: bool = args.json
    try:
        first, second = Path(args.old).read_bytes(), Path(args.new).read_bytes()
    except OSError as exc:
        return _audit_fail(EXIT_UNREADABLE, f"cannot read {exc.filename}: {exc.strerror}", as_json)
    try:
        witnesses = witness_policy(args)
    except ValueError as exc:
        return _audit_fail(EXIT_UNREADABLE, str(exc), as_json)
    source: TileSource | None = None
    try:
        if args.log is not None:
            source = open_source(args.log)
        report = audit_checkpoints(first, second, args.vkey, source=source, witnesses=witnesses)
    except (Equivocation, Rollback) as exc:
        code, evidence = _alarm(exc, as_json)
        return _audit_fail(code, exc.message, as_json, exc, evidence)
    except (LogSourceError, LogSourceNeeded) as exc:
        return _audit_fail(EXIT_UNREADABLE, str(exc), as_json, exc)
    except LogVerificationError as exc:
        return _audit_fail(EXIT_REJECTED, exc.message, as_json, exc)
    finally:
        if isinstance(source, HttpSource):
            source.close()
    if as_json:
        print(json.dumps({**_audit_result(report), "reason": None, "error": None}))
    else:
        print("consistent yes")
        print(f"origin     {report.origin}")
        print(f"old        {_describe(report.old)}")
        print(f"new        {_describe(report.new)}")
        print(f"proof      {len(report.proof)} hashes")
    return EXIT_VERIFIED


def _alarm(exc: Equivocation | Rollback, as_json: bool) -> tuple[int, dict[str, str]]:
    """The exit code and the evidence (both notes) of an equivocation or a rollback;
    the notes are printed unless the output is JSON."""
    if isinstance(exc, Equivocation):
        code = EXIT_EQUIVOCATION
        evidence = {
            "first_note": exc.first_note.decode(),
            "second_note": exc.second_note.decode(),
        }
    else:
        code = EXIT_ROLLBACK
        evidence = {"old_note": exc.old_note.decode(), "new_note": exc.new_note.decode()}
    if not as_json:
        for name, note in evidence.items():
            print(f"--- {name}\n{note}", end="")
    return code, evidence


def _audit_result(report: AuditReport) -> dict[str, object]:
    return {
        "consistent": True,
        "equivocation": False,
        "rollback": False,
        "origin": report.origin,
        "old": _checkpoint_fields(report.old),
        "new": _checkpoint_fields(report.new),
        "proof": [base64.b64encode(p).decode() for p in report.proof],
        "evidence": None,
    }


def _checkpoint_fields(checkpoint: Checkpoint) -> dict[str, object]:
    return {
        "size": checkpoint.size,
        "root_base64": base64.b64encode(checkpoint.root_hash).decode(),
        "root_hex": checkpoint.root_hash.hex(),
    }


def _describe(checkpoint: Checkpoint) -> str:
    return f"size {checkpoint.size}  root {base64.b64encode(checkpoint.root_hash).decode()}"


_LABELS = {EXIT_REJECTED: "rejected", EXIT_EQUIVOCATION: "equivocation", EXIT_ROLLBACK: "rollback"}


def _audit_fail(
    code: int,
    reason: str,
    as_json: bool,
    exc: Exception | None = None,
    evidence: dict[str, str] | None = None,
) -> int:
    print(f"{_LABELS.get(code, 'error')}: {reason}", file=sys.stderr)
    if as_json:
        result = {
            "consistent": False,
            "equivocation": code == EXIT_EQUIVOCATION,
            "rollback": code == EXIT_ROLLBACK,
            "reason": reason,
            "error": type(exc).__name__ if exc is not None else None,
            "evidence": evidence,
        }
        print(json.dumps(result))
    return code


# ---------------------------------------------------------------- monitor


def monitor_command(args: argparse.Namespace) -> int:
    """Handler of `anima log monitor`; returns the exit code."""
    as_json: bool = args.json
    try:
        witnesses = witness_policy(args)
    except ValueError as exc:
        return _fail(EXIT_UNREADABLE, str(exc), None, as_json)
    try:
        source = open_source(args.log)
        try:
            report = monitor_log(source, args.vkey, args.state, witnesses=witnesses)
        finally:
            if isinstance(source, HttpSource):
                source.close()
    except (Equivocation, Rollback) as exc:
        code, evidence = _alarm(exc, as_json)
        alarm = "equivocation" if code == EXIT_EQUIVOCATION else "rollback"
        return _monitor_fail(code, exc, as_json, alarm, evidence)
    except InconsistentLog as exc:
        return _monitor_fail(EXIT_REJECTED, exc, as_json, "fork")
    except (LogSourceError, MonitorStateError) as exc:
        return _monitor_fail(EXIT_UNREADABLE, exc, as_json)
    except LogVerificationError as exc:
        return _monitor_fail(EXIT_REJECTED, exc, as_json, "invalid")
    if as_json:
        print(json.dumps(_monitor_result(report)))
    else:
        print(f"ok         {report.outcome.value}")
        print(f"origin     {report.origin}")
        if report.previous is not None:
            print(f"stored     {_describe(report.previous)}")
        print(f"current    {_describe(report.current)}")
        print(f"proof      {len(report.proof)} hashes")
    return EXIT_VERIFIED


def _monitor_result(report: MonitorReport) -> dict[str, object]:
    previous = report.previous
    return {
        "ok": True,
        "outcome": report.outcome.value,
        "origin": report.origin,
        "previous": None if previous is None else _checkpoint_fields(previous),
        "current": _checkpoint_fields(report.current),
        "proof": [base64.b64encode(p).decode() for p in report.proof],
        "alarm": None,
        "reason": None,
        "error": None,
        "evidence": None,
    }


def _monitor_fail(
    code: int,
    exc: Exception,
    as_json: bool,
    alarm: str | None = None,
    evidence: dict[str, str] | None = None,
) -> int:
    reason = exc.message if isinstance(exc, AnimaError) else str(exc)
    print(f"{_LABELS.get(code, 'error')}: {reason}", file=sys.stderr)
    if as_json:
        result = {
            "ok": False,
            "alarm": alarm,
            "reason": reason,
            "error": type(exc).__name__,
            "evidence": evidence,
        }
        print(json.dumps(result))
    return code


# ---------------------------------------------------------------- shared


def _ok() -> dict[str, object]:
    return {"verified": True, "reason": None, "error": None}


def _fail(code: int, reason: str, error: str | None, as_json: bool) -> int:
    label = "rejected" if code == EXIT_REJECTED else "error"
    print(f"{label}: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps({"verified": False, "reason": reason, "error": error}))
    return code
