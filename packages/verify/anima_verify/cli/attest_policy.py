"""`anima attest policy`: the measurement policy a client pins for a signer on dstack.

Inputs: the signer's app-compose.json (deploy/dstack/), the OS image's
measurements (MRTD, RTMR0-2: the dstack OS release's reference values, or the
`fields` that `anima attest verify --json` printed for one of its quotes), and
the event log of the deployed instance (the guest agent's, as its Info or
GetQuote returns it). The event log must record exactly this compose's hash;
its RTMR3, replayed, pins compose, app and instance together. The policy is
written only after it loads as a MeasurementPolicy; --merge adds the new
values to an existing policy (several instances, or an upgrade in flight).

Exit codes: 0 written; 1 refused (the instance booted another compose);
2 unusable input (a file missing or malformed, a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from anima_verify.attestation.dstack_app import (
    ComposeHashMismatch,
    check_event_log,
    compose_hash,
    normalized_app_compose,
    parse_event_log,
)
from anima_verify.attestation.policy import MeasurementPolicy
from anima_verify.attestation.tdx import MEASUREMENT_REGISTERS
from anima_verify.errors import AnimaError

EXIT_WRITTEN = 0
EXIT_REFUSED = 1
EXIT_UNUSABLE = 2
OS_REGISTERS = ("mrtd", "rtmr0", "rtmr1", "rtmr2")


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    policy = commands.add_parser(
        "policy",
        help="write the measurement policy that pins a dstack app (compose hash -> RTMR3)",
        description="Compute the app's compose hash (dstack's normalized JSON), check the "
        "instance's event log records it, and write the measurement policy clients pin. "
        "Exit 0 written, 1 refused, 2 unusable input.",
    )
    policy.add_argument("--app-compose", type=Path, required=True, help="app-compose.json")
    policy.add_argument(
        "--os-measurements",
        type=Path,
        required=True,
        help="JSON with the OS image's mrtd, rtmr0, rtmr1, rtmr2 (hex)",
    )
    policy.add_argument(
        "--event-log", type=Path, required=True, help="the instance's event log (JSON list)"
    )
    policy.add_argument(
        "--allow-tcb-status",
        action="append",
        default=None,
        metavar="STATUS",
        help="a TCB status to accept besides UpToDate (repeatable)",
    )
    policy.add_argument("--merge", type=Path, help="an existing policy to add these values to")
    policy.add_argument("--normalized-out", type=Path, help="write the normalized compose here")
    policy.add_argument("-o", "--output", type=Path, help="where to write (default stdout)")
    policy.set_defaults(func=policy_command)


def policy_command(args: argparse.Namespace) -> int:
    try:
        document = _read(args.app_compose)
        digest = compose_hash(document)
        os_values = _os_measurements(_read(args.os_measurements))
        events = parse_event_log(_read(args.event_log))
        existing = _read(args.merge) if args.merge else None
    except AnimaError as exc:
        return _fail(EXIT_UNUSABLE, exc.message)
    try:
        rtmr3 = check_event_log(events, expected_compose_hash=digest)
    except ComposeHashMismatch as exc:
        return _fail(EXIT_REFUSED, exc.message)
    except AnimaError as exc:
        return _fail(EXIT_UNUSABLE, exc.message)
    document_out: dict[str, Any] = {r: [v] for r, v in os_values.items()}
    document_out["rtmr3"] = [rtmr3.hex()]
    document_out["allowed_tcb_statuses"] = sorted({"UpToDate", *(args.allow_tcb_status or ())})
    document_out["allow_insecure_simulated"] = False
    try:
        if existing is not None:
            document_out = _merged(MeasurementPolicy.from_json(existing), document_out)
        text = json.dumps(document_out, indent=2, sort_keys=True) + "\n"
        MeasurementPolicy.from_json(text)  # what a client will load, or refuse now
    except AnimaError as exc:
        return _fail(EXIT_UNUSABLE, exc.message)
    if args.normalized_out is not None:
        args.normalized_out.write_bytes(normalized_app_compose(document))
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"compose hash  {digest}\nrtmr3         {rtmr3.hex()}\nwrote         {args.output}")
    return EXIT_WRITTEN


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AnimaError(f"cannot read {path}: {exc.strerror}") from None


def _os_measurements(document: bytes) -> dict[str, str]:
    try:
        data = json.loads(document)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnimaError(f"the OS measurements are not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("fields"), dict):
        data = data["fields"]  # `anima attest verify --json` output
    if not isinstance(data, dict):
        raise AnimaError("the OS measurements must be a JSON object")
    missing = [r for r in OS_REGISTERS if not isinstance(data.get(r), str)]
    if missing:
        raise AnimaError(f"the OS measurements lack {missing} (hex strings)")
    return {r: str(data[r]).lower() for r in OS_REGISTERS}


def _merged(existing: MeasurementPolicy, new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(new)
    for register in MEASUREMENT_REGISTERS:
        values: frozenset[str] | None = getattr(existing, register)
        if values is None:
            raise AnimaError(f"--merge: the existing policy leaves {register} unchecked")
        merged[register] = sorted(set(values) | set(new[register]))
    merged["allowed_tcb_statuses"] = sorted(
        set(existing.allowed_tcb_statuses) | set(new["allowed_tcb_statuses"])
    )
    return merged


def _fail(code: int, message: str) -> int:
    print(f"anima attest policy: {message}", file=sys.stderr)
    return code
