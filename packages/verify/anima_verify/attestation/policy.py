"""Which enclaves a verifier trusts, and the one function that applies that choice.

A `MeasurementPolicy` is deny by default: MRTD is always checked and an empty
MRTD set allows nothing; RTMRs are checked only where the policy lists values;
only "UpToDate" platforms pass unless the policy names more statuses; and
simulated evidence is refused unless `allow_insecure_simulated` is set.

`verify_evidence` checks in the order that makes the reported reason the most
specific: is this kind of evidence acceptable at all (sim), is the quote
genuine (structure, signatures, collateral window), is the platform patched
(TCB status), is it our build (measurements), and only then is it bound to
this session (report_data), since a report_data mismatch from a foreign or
forged enclave would hide the real problem.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anima_verify.attestation.errors import (
    InsecureEvidenceRefused,
    MalformedCollateral,
    MalformedMeasurementPolicy,
    MalformedQuote,
    MeasurementMismatch,
    ReportDataMismatch,
    TcbStatusRefused,
)
from anima_verify.attestation.evidence import REPORT_DATA_SIZE, TEE_SIM, TEE_TDX, Evidence
from anima_verify.attestation.sim import (
    PUBLIC_KEY_SIZE,
    SIM_MRTD,
    SIM_RTMR0,
    SIM_RTMR1,
    SIM_RTMR2,
    SIM_RTMR3,
    verify_sim_quote,
)
from anima_verify.attestation.tdx import (
    MEASUREMENT_REGISTERS,
    MEASUREMENT_SIZE,
    VerifiedQuote,
    verify_tdx_quote,
)

# TCB statuses dcap-qvl reports; "Revoked" is absent on purpose: it can never be allowed.
KNOWN_TCB_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
    }
)
_POLICY_KEYS = frozenset(
    {*MEASUREMENT_REGISTERS, "allowed_tcb_statuses", "allow_insecure_simulated", "trusted_sim_keys"}
)
_MEASUREMENT_HEX = re.compile(rf"[0-9a-f]{{{2 * MEASUREMENT_SIZE}}}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasurementPolicy:
    """The measurements, TCB statuses and evidence kinds a verifier accepts.

    Register sets hold lowercase hex (upper case is normalised). `mrtd=None`
    or an empty set allows nothing; `rtmrN=None` leaves that register
    unchecked, an empty set allows nothing.
    """

    mrtd: frozenset[str] | None = None
    rtmr0: frozenset[str] | None = None
    rtmr1: frozenset[str] | None = None
    rtmr2: frozenset[str] | None = None
    rtmr3: frozenset[str] | None = None
    allowed_tcb_statuses: frozenset[str] = frozenset({"UpToDate"})
    allow_insecure_simulated: bool = False
    trusted_sim_keys: frozenset[bytes] | None = None

    def __post_init__(self) -> None:
        for register in MEASUREMENT_REGISTERS:
            values = getattr(self, register)
            if values is not None:
                object.__setattr__(self, register, _measurement_set(register, values))
        statuses = _string_set("allowed_tcb_statuses", self.allowed_tcb_statuses)
        unknown = sorted(statuses - KNOWN_TCB_STATUSES)
        if unknown:
            raise MalformedMeasurementPolicy(
                f"allowed_tcb_statuses has unknown or unallowable status(es) {unknown}; "
                f"choose from {sorted(KNOWN_TCB_STATUSES)}"
            )
        object.__setattr__(self, "allowed_tcb_statuses", statuses)
        if not isinstance(self.allow_insecure_simulated, bool):
            raise MalformedMeasurementPolicy("allow_insecure_simulated must be true or false")
        if self.trusted_sim_keys is not None:
            keys = frozenset(self.trusted_sim_keys)
            if any(not isinstance(k, bytes) or len(k) != PUBLIC_KEY_SIZE for k in keys):
                raise MalformedMeasurementPolicy(
                    f"trusted_sim_keys must be {PUBLIC_KEY_SIZE}-byte Ed25519 public keys"
                )
            object.__setattr__(self, "trusted_sim_keys", keys)

    @classmethod
    def insecure_simulated_for_development(
        cls, *, trusted_sim_keys: frozenset[bytes] | None = None
    ) -> MeasurementPolicy:
        """INSECURE: accept sim evidence with the fixed sim measurements. Never in production."""
        return cls(
            mrtd=frozenset({SIM_MRTD.hex()}),
            rtmr0=frozenset({SIM_RTMR0.hex()}),
            rtmr1=frozenset({SIM_RTMR1.hex()}),
            rtmr2=frozenset({SIM_RTMR2.hex()}),
            rtmr3=frozenset({SIM_RTMR3.hex()}),
            allow_insecure_simulated=True,
            trusted_sim_keys=trusted_sim_keys,
        )

    @classmethod
    def from_json(cls, document: str | bytes) -> MeasurementPolicy:
        """Load a policy from JSON; unknown keys are errors, so a typo cannot disable a check.

        Shape: {"mrtd": [hex, ...], "rtmr0": [hex, ...] | null, ..., "rtmr3": ...,
        "allowed_tcb_statuses": [...], "allow_insecure_simulated": false,
        "trusted_sim_keys": [hex, ...] | null}; only "mrtd" matters by default.
        """
        try:
            data = json.loads(document)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedMeasurementPolicy(f"measurement policy is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedMeasurementPolicy("measurement policy JSON must be an object")
        return cls._from_mapping(data)

    @classmethod
    def from_file(cls, path: str | Path) -> MeasurementPolicy:
        """Load a policy from a JSON file (see `from_json`)."""
        try:
            document = Path(path).read_bytes()
        except OSError as exc:
            raise MalformedMeasurementPolicy(
                f"cannot read measurement policy file {path}: {exc.strerror}"
            ) from None
        return cls.from_json(document)

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any]) -> MeasurementPolicy:
        unknown = sorted(set(data) - _POLICY_KEYS)
        if unknown:
            raise MalformedMeasurementPolicy(
                f"unknown key(s) {unknown} in measurement policy; allowed: {sorted(_POLICY_KEYS)}"
            )
        registers = {r: _optional_set(r, data.get(r)) for r in MEASUREMENT_REGISTERS}
        statuses = data.get("allowed_tcb_statuses", ["UpToDate"])
        keys = _optional_set("trusted_sim_keys", data.get("trusted_sim_keys"))
        return cls(
            mrtd=registers["mrtd"],
            rtmr0=registers["rtmr0"],
            rtmr1=registers["rtmr1"],
            rtmr2=registers["rtmr2"],
            rtmr3=registers["rtmr3"],
            allowed_tcb_statuses=_string_set("allowed_tcb_statuses", statuses),
            allow_insecure_simulated=data.get("allow_insecure_simulated", False),
            trusted_sim_keys=None if keys is None else _key_set(keys),
        )

    def check_measurements(self, quote: VerifiedQuote) -> None:
        """Raise `MeasurementMismatch` naming the first register whose value is not allowed."""
        for register in MEASUREMENT_REGISTERS:
            allowed: frozenset[str] | None = getattr(self, register)
            if allowed is None:
                if register != "mrtd":
                    continue
                allowed = frozenset()
            got = quote.measurement(register)
            if got.hex() not in allowed:
                raise MeasurementMismatch(register=register, got=got, allowed_count=len(allowed))


def verify_evidence(
    evidence: Evidence,
    *,
    expected_report_data: bytes,
    policy: MeasurementPolicy,
    now: int | None = None,
) -> VerifiedQuote:
    """Verify `evidence` and apply `policy`; return the verified facts or raise why not.

    `expected_report_data` is what the verifier computed itself (usually with
    `bind_report_data` over the keys it expects and its own fresh nonce).
    """
    if len(expected_report_data) != REPORT_DATA_SIZE:
        raise ValueError(f"expected_report_data must be {REPORT_DATA_SIZE} bytes")
    if evidence.tee == TEE_SIM:
        if not policy.allow_insecure_simulated:
            raise InsecureEvidenceRefused(
                "evidence is simulated (tee 'sim'): a software enclave that proves nothing "
                "about hardware; the measurement policy does not set allow_insecure_simulated, "
                "which only development setups should"
            )
        verified = verify_sim_quote(evidence.quote, trusted_keys=policy.trusted_sim_keys)
    elif evidence.tee == TEE_TDX:
        if evidence.collateral_json is None:
            raise MalformedCollateral(
                "TDX evidence carries no collateral; fetch the quote's collateral from a PCCS "
                "(dcap_qvl.get_collateral) and attach it as collateral_json"
            )
        verified = verify_tdx_quote(evidence.quote, evidence.collateral_json, now=now)
        # The "Simulated" status of sim quotes is no TCB assessment; the explicit
        # allow_insecure_simulated switch above is what admits them.
        if verified.tcb_status not in policy.allowed_tcb_statuses:
            advisories = ", ".join(verified.advisory_ids) or "none"
            raise TcbStatusRefused(
                f"platform TCB status is {verified.tcb_status} (advisories: {advisories}); the "
                f"policy allows only {sorted(policy.allowed_tcb_statuses)}: update the "
                "platform's firmware/TDX module, or accept the status in the policy"
            )
    else:
        raise MalformedQuote(f"unknown TEE {evidence.tee!r}; expected {TEE_TDX!r} or {TEE_SIM!r}")
    policy.check_measurements(verified)
    if not hmac.compare_digest(verified.report_data, expected_report_data):
        raise ReportDataMismatch(
            "the quote's report_data does not bind the expected keys and nonce: the evidence "
            "is a replay, was made for another session, or binds other keys"
        )
    return verified


def _optional_set(name: str, value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedMeasurementPolicy(f"{name} must be a list of hex strings or null")
    return frozenset(value)


def _string_set(name: str, values: object) -> frozenset[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise MalformedMeasurementPolicy(f"{name} must be a list of strings")
    items = list(values)
    if not all(isinstance(v, str) for v in items):
        raise MalformedMeasurementPolicy(f"{name} must be a list of strings")
    return frozenset(items)


def _measurement_set(register: str, values: object) -> frozenset[str]:
    normalised = frozenset(v.lower() for v in _string_set(register, values))
    for value in normalised:
        if not _MEASUREMENT_HEX.fullmatch(value):
            raise MalformedMeasurementPolicy(
                f"{register} value {value[:120]!r} is not {MEASUREMENT_SIZE} bytes of hex "
                f"({2 * MEASUREMENT_SIZE} hex digits, no 0x prefix)"
            )
    return normalised


def _key_set(values: frozenset[str]) -> frozenset[bytes]:
    keys: set[bytes] = set()
    for value in values:
        try:
            key = bytes.fromhex(value)
        except ValueError:
            raise MalformedMeasurementPolicy(
                f"trusted_sim_keys value {value[:80]!r} is not hex"
            ) from None
        if len(key) != PUBLIC_KEY_SIZE:
            raise MalformedMeasurementPolicy(
                f"trusted_sim_keys value {value[:80]!r} is not a {PUBLIC_KEY_SIZE}-byte key"
            )
        keys.add(key)
    return frozenset(keys)
