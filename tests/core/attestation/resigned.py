"""A test PKI that re-signs the real vector's collateral, so it can be edited.

Intel signs the TCB info and the QE identity, and dcap-qvl checks those
signatures first (step 1 and 2 of its verify), long before it matches TCB
levels (step 8). To reach "the platform is below every TCB level" with the one
real quote we have, the collateral is re-issued under a throwaway root:

- a root CA, a "PCK CA" below it, and a TCB signing certificate below the root;
- a PCK certificate for the REAL PCK public key of the quote (copied from the
  quote's own PCK certificate, with its Intel SGX extension: FMSPC, CPUSVN,
  PCESVN), issued by the test PCK CA and placed in the collateral's
  `pck_certificate_chain`, which dcap-qvl prefers to the chain in the quote.
  The QE report signature, made by the platform's real PCK key, still
  verifies against it, and the quote itself is not touched;
- empty CRLs from the test root and PCK CA; TCB info and QE identity (edited
  or not) signed by the TCB signing key, as raw r||s like Intel's.

dcap-qvl's `verify_with_root_ca` then runs its whole check sequence against
the test root. Nothing here is trusted by the production path, which calls
`dcap_qvl.verify` with Intel's root built in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID, ObjectIdentifier

INTEL_SGX_EXTENSION = ObjectIdentifier("1.2.840.113741.1.13.1")
_START = datetime(2020, 1, 1, tzinfo=UTC)
_END = datetime(2040, 1, 1, tzinfo=UTC)

Edit = Callable[[dict[str, Any]], None]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Anima test {common_name}")])


class TestPki:
    """Throwaway keys and certificates; one instance per test session is enough."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.pck_ca_key = ec.generate_private_key(ec.SECP256R1())
        self.tcb_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert("root CA", self.root_key, "root CA", self.root_key, ca=True)
        self.pck_ca = self._cert("PCK CA", self.pck_ca_key, "root CA", self.root_key, ca=True)
        self.tcb_signer = self._cert(
            "TCB signing", self.tcb_key, "root CA", self.root_key, ca=False
        )

    @cached_property
    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def verify(self, quote: bytes, collateral: Any, now: int) -> Any:
        """dcap_qvl.verify's signature, with this PKI's root as the root of trust."""
        return dcap_qvl.verify_with_root_ca(quote, collateral, self.root_der, now)

    def resign(
        self,
        quote: bytes,
        collateral_json: bytes,
        *,
        edit_tcb_info: Edit | None = None,
        edit_qe_identity: Edit | None = None,
    ) -> str:
        """The collateral of `quote`, optionally edited, re-issued under this PKI."""
        document = json.loads(collateral_json)
        tcb_info = self._edited(document["tcb_info"], edit_tcb_info)
        qe_identity = self._edited(document["qe_identity"], edit_qe_identity)
        real_pck = x509.load_pem_x509_certificates(
            dcap_qvl.parse_quote(quote).cert_chain_pem_bytes()
        )[0]
        pck = self._cert(
            "PCK certificate",
            real_pck.public_key(),
            "PCK CA",
            self.pck_ca_key,
            ca=False,
            extension=real_pck.extensions.get_extension_for_oid(INTEL_SGX_EXTENSION),
        )
        document.update(
            pck_certificate_chain=_pem(pck, self.pck_ca, self.root),
            pck_crl_issuer_chain=_pem(self.pck_ca, self.root),
            pck_crl=self._crl("PCK CA", self.pck_ca_key),
            root_ca_crl=self._crl("root CA", self.root_key),
            tcb_info_issuer_chain=_pem(self.tcb_signer, self.root),
            tcb_info=tcb_info,
            tcb_info_signature=self._sign(tcb_info),
            qe_identity_issuer_chain=_pem(self.tcb_signer, self.root),
            qe_identity=qe_identity,
            qe_identity_signature=self._sign(qe_identity),
        )
        return json.dumps(document)

    def _cert(
        self,
        subject: str,
        key: ec.EllipticCurvePrivateKey | Any,
        issuer: str,
        issuer_key: ec.EllipticCurvePrivateKey,
        *,
        ca: bool,
        extension: x509.Extension[Any] | None = None,
    ) -> x509.Certificate:
        public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
        usage = x509.KeyUsage(
            digital_signature=not ca,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name(issuer))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(_START)
            .not_valid_after(_END)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
        )
        if extension is not None:
            builder = builder.add_extension(extension.value, critical=extension.critical)
        return builder.sign(issuer_key, hashes.SHA256())

    def _crl(self, issuer: str, key: ec.EllipticCurvePrivateKey) -> str:
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name(issuer))
            .last_update(_START)
            .next_update(_END)
            .add_extension(x509.CRLNumber(1), critical=False)
            .sign(key, hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER).hex()

    def _sign(self, text: str) -> str:
        r, s = decode_dss_signature(self.tcb_key.sign(text.encode(), ec.ECDSA(hashes.SHA256())))
        return (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()

    @staticmethod
    def _edited(signed_json: str, edit: Edit | None) -> str:
        if edit is None:
            return signed_json
        body = json.loads(signed_json)
        edit(body)
        return json.dumps(body)


def _pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
