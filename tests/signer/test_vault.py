"""The vault: envelope sealing bound to agent, purpose, epoch and context; every
malformed or misplaced blob refused with its own error."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from anima_signer.keys import KeyRing
from anima_signer.vault import (
    SealedBlobMalformed,
    SealedBlobNotAuthentic,
    SealedForAnotherAgent,
    SealedForAnotherPurpose,
    SealedUnderUnacceptedEpoch,
    Vault,
    parse_sealed_blob,
)
from anima_signer.vault.blob import MAGIC, encode_header
from anima_signer.vault.vault import associated_data
from anima_verify.errors import ErrorKind

ROOT = bytes(range(32))
SECRET = b"the agent's private diary: meet at the old mill"


@pytest.fixture
def vault() -> Vault:
    return Vault(keyring=KeyRing(root_secret=ROOT))


def sealed(vault: Vault, **overrides: object) -> bytes:
    args: dict[str, object] = {"agent_id": "alice", "purpose": "memories", "epoch": 3}
    args.update(overrides)
    return vault.seal(SECRET, context=b"object-1", **args)  # type: ignore[arg-type]


def unseal(vault: Vault, blob: bytes, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "agent_id": "alice",
        "purpose": "memories",
        "epochs": range(4),
        "context": b"object-1",
    }
    args.update(overrides)
    return vault.unseal(blob, **args)  # type: ignore[arg-type]


def test_a_blob_opens_where_it_was_sealed_and_hides_its_plaintext(vault: Vault) -> None:
    blob = sealed(vault)
    assert unseal(vault, blob) == SECRET
    assert SECRET not in blob and b"old mill" not in blob
    parsed = parse_sealed_blob(blob)
    assert (parsed.agent_id, parsed.purpose, parsed.epoch) == ("alice", "memories", 3)
    assert blob.startswith(MAGIC)


def test_each_seal_uses_a_fresh_data_key(vault: Vault) -> None:
    one, two = parse_sealed_blob(sealed(vault)), parse_sealed_blob(sealed(vault))
    assert one.wrapped_key != two.wrapped_key and one.ciphertext != two.ciphertext


def test_an_agents_blob_does_not_open_as_another_agents(vault: Vault) -> None:
    with pytest.raises(SealedForAnotherAgent, match="sealed for agent 'alice', not 'bob'"):
        unseal(vault, sealed(vault), agent_id="bob")


def test_rewriting_the_header_to_another_agent_fails_authentication(vault: Vault) -> None:
    """The host relabels alice's blob as bob's: bob's key does not unwrap it."""
    blob = parse_sealed_blob(sealed(vault))
    header = encode_header(
        epoch=blob.epoch,
        agent_id="bobby",
        purpose=blob.purpose,
        wrapped_key=blob.wrapped_key,
        nonce=blob.nonce,
    )
    with pytest.raises(SealedBlobNotAuthentic):
        unseal(vault, header + blob.ciphertext, agent_id="bobby")


def test_purpose_epoch_and_context_are_bound(vault: Vault) -> None:
    blob = sealed(vault)
    with pytest.raises(SealedForAnotherPurpose):
        unseal(vault, blob, purpose="keystore")
    with pytest.raises(SealedUnderUnacceptedEpoch, match="epoch 3"):
        unseal(vault, blob, epochs=range(3))
    with pytest.raises(SealedBlobNotAuthentic, match="moved"):
        unseal(vault, blob, context=b"object-2")


def test_an_epoch_rewritten_in_the_header_fails(vault: Vault) -> None:
    blob = bytearray(sealed(vault))
    blob[9] ^= 1  # the low byte of the epoch (3 -> 2)
    assert parse_sealed_blob(bytes(blob)).epoch == 2
    with pytest.raises(SealedBlobNotAuthentic):
        unseal(vault, bytes(blob))


def test_every_single_byte_edit_is_refused(vault: Vault) -> None:
    blob = sealed(vault)
    for at in range(len(blob)):
        edited = bytearray(blob)
        edited[at] ^= 0x40
        with pytest.raises(
            (
                SealedBlobMalformed,
                SealedBlobNotAuthentic,
                SealedForAnotherAgent,
                SealedForAnotherPurpose,
                SealedUnderUnacceptedEpoch,
            )
        ):
            unseal(vault, bytes(edited))


def test_appended_or_cut_bytes_are_refused(vault: Vault) -> None:
    blob = sealed(vault)
    with pytest.raises(SealedBlobNotAuthentic):
        unseal(vault, blob + b"\x00")
    with pytest.raises(SealedBlobNotAuthentic):
        unseal(vault, blob[:-1])


def test_another_enclave_cannot_open_it(vault: Vault) -> None:
    other = Vault(keyring=KeyRing(root_secret=bytes(32)))
    with pytest.raises(SealedBlobNotAuthentic, match="another enclave"):
        unseal(other, sealed(vault))


def test_a_blob_forged_under_a_guessed_key_is_refused(vault: Vault) -> None:
    """A host writing a well-formed blob with its own data key and a made-up wrapping."""
    data_key, nonce = os.urandom(32), os.urandom(12)
    wrapped = aes_key_wrap(os.urandom(32), data_key)
    header = encode_header(
        epoch=3, agent_id="alice", purpose="memories", wrapped_key=wrapped, nonce=nonce
    )
    forged = header + AESGCM(data_key).encrypt(
        nonce, b"forged", associated_data(header, b"object-1")
    )
    with pytest.raises(SealedBlobNotAuthentic):
        unseal(vault, forged)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "at least 10 bytes"),
        (b"XXXX" + bytes(20), "not a sealed blob"),
        (MAGIC + b"\x02\x01" + bytes(14), "format version 2"),
        (MAGIC + b"\x01\x07" + bytes(14), "unknown cipher suite 7"),
        (MAGIC + b"\x01\x01" + bytes(4), "ends before its agent id"),
        (MAGIC + b"\x01\x01" + bytes(4) + b"\x09ali", "ends inside its agent id"),
        (MAGIC + b"\x01\x01" + bytes(4) + b"\x05ALICE\x01x", "agent id is not"),
        (MAGIC + b"\x01\x01" + bytes(4) + b"\x05alice\x03\xc3\xa9x", "purpose is not ASCII"),
        (MAGIC + b"\x01\x01" + bytes(4) + b"\x05alice\x03A/b", "purpose is not"),
        (MAGIC + b"\x01\x01" + bytes(4) + b"\x05alice\x01m" + bytes(60), "truncated"),
    ],
)
def test_malformed_blobs_name_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(SealedBlobMalformed, match=message) as info:
        parse_sealed_blob(data)
    assert info.value.kind is ErrorKind.INVALID_ARGUMENT


def test_refusals_are_failed_preconditions_that_leak_nothing(vault: Vault) -> None:
    with pytest.raises(SealedBlobNotAuthentic) as info:
        unseal(vault, sealed(vault), context=b"elsewhere")
    assert info.value.kind is ErrorKind.FAILED_PRECONDITION
    assert info.value.reason == "SEALED_BLOB_REFUSED"
    assert "old mill" not in info.value.message and "object" not in info.value.message


def test_seal_refuses_names_outside_the_rules(vault: Vault) -> None:
    with pytest.raises(ValueError, match="purpose"):
        vault.seal(b"x", agent_id="alice", purpose="two/parts", epoch=0)
    with pytest.raises(ValueError, match="agent_id"):
        vault.seal(b"x", agent_id="A", purpose="memories", epoch=0)
