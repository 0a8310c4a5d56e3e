"""`anima attest verify`: check a raw TDX quote against its collateral, offline.

For an operator or auditor holding a quote: it says whether the quote is
genuine at a given time and what it proves (TCB status, measurements,
report_data), with no policy applied, so the printed measurements can be
pasted into a measurement policy.

Exit codes: 0 verified; 1 rejected (the reason is on stderr; a quote that
cannot be decoded counts as rejected, it is the thing being judged); 2 the
verifier's own input is unusable (a file cannot be read, the collateral is not
JSON or not DCAP collateral, a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anima_verify.attestation.errors import AttestationError, MalformedCollateral
from anima_verify.attestation.tdx import MEASUREMENT_REGISTERS, VerifiedQuote, verify_tdx_quote
from anima_verify.cli import attest_policy

EXIT_VERIFIED = 0
EXIT_REJECTED = 1
EXIT_UNREADABLE = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `attest verify` and `attest policy` to the `anima` command line."""
    attest = subparsers.add_parser("attest", help="verify attestation evidence")
    commands = attest.add_subparsers(dest="attest_command", required=True, metavar="COMMAND")
    verify = commands.add_parser(
        "verify",
        help="verify a raw TDX quote against its collateral (no measurement policy)",
        description="Verify a raw TDX quote against Intel DCAP collateral and print what it "
        "proves. Exit 0 verified, 1 rejected, 2 unreadable input.",
    )
    verify.add_argument("quote", metavar="QUOTE", type=Path, help="file with the raw binary quote")
    verify.add_argument(
        "--collateral",
        metavar="FILE",
        type=Path,
        required=True,
        help="collateral JSON for the quote (QuoteCollateralV3, as a PCCS returns it)",
    )
    verify.add_argument(
        "--now",
        metavar="UNIX_SECONDS",
        type=_unix_seconds,
        default=None,
        help="verify as of this time instead of the clock (e.g. for archived quotes)",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(func=verify_command)
    attest_policy.add_command(commands)


def verify_command(args: argparse.Namespace) -> int:
    """Handler of `anima attest verify`; returns the exit code."""
    as_json: bool = args.json
    try:
        quote = Path(args.quote).read_bytes()
        collateral = Path(args.collateral).read_bytes()
    except OSError as exc:
        return _fail(EXIT_UNREADABLE, f"cannot read {exc.filename}: {exc.strerror}", None, as_json)
    try:
        verified = verify_tdx_quote(quote, collateral, now=args.now)
    except MalformedCollateral as exc:
        return _fail(EXIT_UNREADABLE, exc.message, type(exc).__name__, as_json)
    except AttestationError as exc:
        return _fail(EXIT_REJECTED, exc.message, type(exc).__name__, as_json)
    fields = quote_fields(verified)
    if as_json:
        print(json.dumps({"verified": True, "reason": None, "error": None, "fields": fields}))
    else:
        print("verified      yes")
        print(f"tcb_status    {fields['tcb_status']}")
        print(f"advisory_ids  {', '.join(verified.advisory_ids) or '(none)'}")
        for name in (*MEASUREMENT_REGISTERS, "report_data"):
            print(f"{name:<13} {fields[name]}")
    return EXIT_VERIFIED


def quote_fields(verified: VerifiedQuote) -> dict[str, object]:
    """The verified facts as JSON-ready values (bytes as lowercase hex)."""
    fields: dict[str, object] = {
        "tee": verified.tee,
        "tcb_status": verified.tcb_status,
        "advisory_ids": list(verified.advisory_ids),
        "insecure": verified.insecure,
    }
    for name in MEASUREMENT_REGISTERS:
        fields[name] = verified.measurement(name).hex()
    fields["report_data"] = verified.report_data.hex()
    return fields


def _fail(code: int, reason: str, error: str | None, as_json: bool) -> int:
    label = "rejected" if code == EXIT_REJECTED else "error"
    print(f"{label}: {reason}", file=sys.stderr)
    if as_json:
        print(json.dumps({"verified": False, "reason": reason, "error": error, "fields": None}))
    return code


def _unix_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative Unix time in seconds")
    return value
