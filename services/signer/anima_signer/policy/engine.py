"""The owner's rules, compiled once per document and evaluated per request.

Order of judgement: every deny rule whose filters match is tried first, and the
first that holds denies (deny wins); then the allow rules in document order,
and the first that holds allows; nothing holding denies (default deny). A rule
that fails to evaluate fails closed: a failing deny rule denies, a failing
allow rule does not allow.

Conditions are CEL, run by the `common-expression-language` library (a
maintained Rust CEL engine). Cheap structured filters (payload kinds, chains,
target addresses) pick the candidate rules first, so a request pays for the
CEL of the few rules that concern it, and for building the CEL context only
when some rule needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import cel

from anima_signer.policy import wei
from anima_signer.policy.facts import KINDS, facts
from anima_signer.policy.flatten import flat_variables, flatten
from anima_signer_api.errors import PolicyRejected
from anima_signer_api.policy_document import PAYLOAD_KINDS, PolicyDocument, Rule
from anima_signer_api.types import (
    Ed25519Message,
    Payload,
    PersonalMessage,
    Transaction,
    TxType,
    TypedData,
)

DEFAULT_DENY = "default_deny"
# Paths a condition reads, e.g. eth.tx.to or raw.size (see _project).
_PATH = re.compile(r"\b(eth|raw)((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)")
# listed(<address>, '<list>'): the list names a rule uses, checked when it is applied.
_LISTED = re.compile(r"""\blisted\s*\((?:[^()'"]|\([^()]*\))*,\s*['"]([^'"]*)['"]\s*\)""")
_SCALAR = re.compile(r"(?<![.\w])(kind|chain_id|wallet_index)\b")


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request, naming the rule that decided and the policy version."""

    allowed: bool
    rule: str
    policy_version: int
    reason: str
    cosign: bool = False  # allowed only with the owner's approval


@dataclass(frozen=True, slots=True)
class _Compiled:
    order: int
    rule: Rule
    program: Any  # cel.Program, or None for a rule without a condition
    chain_ids: frozenset[int]


@dataclass(slots=True)
class _KindIndex:
    """The rules that can concern one payload kind, split by target filter."""

    any_target: list[_Compiled] = field(default_factory=list)
    by_target: dict[str, list[_Compiled]] = field(default_factory=dict)

    def candidates(self, target: str) -> list[_Compiled]:
        specific = self.by_target.get(target)
        if not specific:
            return self.any_target
        return sorted(self.any_target + specific, key=lambda c: c.order)


def _sample_facts(kind: str) -> dict[str, Any]:
    samples: dict[str, Payload] = {
        "transaction": Transaction(
            TxType.EIP1559, 1, 0, 21000, "0x" + "11" * 20, 1, b"", None, 1, 1
        ),
        "typed_data": TypedData(
            '{"types":{"EIP712Domain":[]},"primaryType":"EIP712Domain","domain":{},"message":{}}'
        ),
        "personal_message": PersonalMessage(b"sample"),
        "raw_ed25519": Ed25519Message(b"sample"),
    }
    return facts(samples[kind], chain_id=1 if kind == "transaction" else None)


class CompiledPolicy:
    """A document's rules ready to evaluate. Thread-safe: each evaluation has its own
    CEL context (cel.Context is not shareable across threads)."""

    def __init__(self, document: PolicyDocument) -> None:
        self.document = document
        self.version = document.version
        self.windows = document.windows
        self._lists = document.lists
        self._index: dict[str, tuple[_KindIndex, _KindIndex]] = {
            kind: (_KindIndex(), _KindIndex()) for kind in PAYLOAD_KINDS
        }
        self._cosign = document.cosign.rule_ids if document.cosign else frozenset()
        # Handing CEL a value costs per field, so a request's context holds only the
        # paths the conditions name (a map named whole, e.g. eth.eip_712.message, whole).
        self._paths = sorted(
            {
                (m.group(1), *re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m.group(2)))
                for rule in document.rules
                for m in _PATH.finditer(rule.when)
            }
            | {(m.group(1),) for rule in document.rules for m in _SCALAR.finditer(rule.when)}
        )
        # Flat contexts where every condition can be rewritten (flatten.py), else nested.
        flat = [flatten(rule.when) if rule.when.strip() else ("", {}) for rule in document.rules]
        self._flat: dict[str, tuple[str, ...]] | None = None
        if all(f is not None for f in flat):
            self._flat = {name: path for f in flat if f is not None for name, path in f[1].items()}
        # Only the functions the conditions call are handed over (each costs per request).
        functions = wei.FUNCTIONS | {"listed": self._listed}
        self._functions = {
            name: fn
            for name, fn in functions.items()
            if any(re.search(rf"\b{name}\s*\(", rule.when) for rule in document.rules)
        }
        for order, rule in enumerate(document.rules):
            rewritten = flat[order]
            source = rewritten[0] if self._flat is not None and rewritten is not None else None
            compiled = _Compiled(order, rule, self._compile(rule, source), rule.chain_ids)
            for kind in rule.payloads or PAYLOAD_KINDS:
                index = self._index[kind][0 if rule.effect == "deny" else 1]
                if rule.to:
                    for address in rule.to:
                        index.by_target.setdefault(address, []).append(compiled)
                else:
                    index.any_target.append(compiled)
        self._check_against_samples()

    def _compile(self, rule: Rule, flat_source: str | None) -> Any:
        """The rule's program (over flat variables when `flat_source` is given); errors
        name the owner's text, compiled first."""
        if not rule.when.strip():
            return None
        for name in _LISTED.findall(rule.when):
            if name not in self._lists:
                raise PolicyRejected(f"rule {rule.id!r} names no list of this document: {name!r}")
        try:
            program = cel.compile(rule.when)
        except ValueError as exc:
            raise PolicyRejected(f"rule {rule.id!r} does not compile: {exc}") from exc
        return program if flat_source is None else cel.compile(flat_source)

    def _check_against_samples(self) -> None:
        """Run each rule once on a sample of each kind it applies to: a misspelt
        field, an unknown function or a non-bool result is refused now, not at the
        first real request."""
        for kind in PAYLOAD_KINDS:
            context = self._context(_sample_facts(kind))
            for index in self._index[kind]:
                rules = list(index.any_target) + [c for v in index.by_target.values() for c in v]
                for compiled in rules:
                    if compiled.program is None:
                        continue
                    try:
                        result = compiled.program.execute(context)
                    except Exception as exc:
                        raise PolicyRejected(
                            f"rule {compiled.rule.id!r} fails on a {kind} request: {exc}"
                        ) from exc
                    if not isinstance(result, bool):
                        raise PolicyRejected(
                            f"rule {compiled.rule.id!r} gives {type(result).__name__}, not a bool"
                        )

    def _listed(self, address: object, name: object) -> bool:
        members = self._lists.get(str(name))
        if members is None:
            raise ValueError(f"no address list named {name!r}")
        return str(address).lower() in members

    def _context(self, variables: dict[str, Any]) -> Any:
        if self._flat is not None:
            values = flat_variables(variables, self._flat)
        else:
            values = _project(variables, self._paths)
        return cel.Context(variables=values, functions=self._functions)

    def evaluate(self, variables: dict[str, Any], *, target: str) -> Decision:
        """Judge one request (variables from facts.facts, target from facts.target)."""
        kind = variables["kind"]
        chain_id = variables["chain_id"]
        denies, allows = self._index[kind]
        context: Any = None
        for candidate_list, allowing in (
            (denies.candidates(target), False),
            (allows.candidates(target), True),
        ):
            for compiled in candidate_list:
                if compiled.chain_ids and chain_id not in compiled.chain_ids:
                    continue
                if compiled.program is None:
                    holds, failure = True, ""
                else:
                    if context is None:
                        context = self._context(variables)
                    holds, failure = _run(compiled.program, context)
                rule_id = compiled.rule.id
                if not allowing and (holds or failure):
                    reason = f"failed to evaluate, so it denies: {failure}" if failure else "holds"
                    return Decision(False, rule_id, self.version, f"deny rule {rule_id} {reason}")
                if allowing and holds:
                    return Decision(
                        True,
                        rule_id,
                        self.version,
                        f"allow rule {rule_id} holds",
                        cosign=rule_id in self._cosign,
                    )
        return Decision(
            False, DEFAULT_DENY, self.version, f"no allow rule of policy v{self.version} holds"
        )


def _project(variables: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """The part of `variables` the paths reach: each path's value, whole where the path
    stops at a map or list, and an empty map where a key is absent (so `has()` and
    missing fields behave as on the full variables)."""
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = variables
        target = out
        for depth, key in enumerate(path):
            if not isinstance(source, dict) or key not in source:
                break
            source = source[key]
            last = depth == len(path) - 1
            if last or not isinstance(source, dict):
                target[key] = source  # the value named, or a leaf the path reads into
                break
            existing = target.get(key)
            if existing is source:
                break  # already there whole
            target = target.setdefault(key, {})
    return out


def _run(program: Any, context: Any) -> tuple[bool, str]:
    try:
        result = program.execute(context)
    except Exception as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:200]}"
    return result is True, ""


assert set(KINDS.values()) == PAYLOAD_KINDS
