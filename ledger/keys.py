"""Ed25519 signing and verifier keys in the C2SP signed-note encoding.

Specs: RFC 8032 §5.1 (Ed25519) and https://github.com/C2SP/C2SP/blob/main/signed-note.md

A verifier key ("vkey") is `name+hash+base64(0x01 || public key)` and a signing key
("skey") is `PRIVATE+KEY+name+hash+base64(0x01 || seed)`, exactly as Go's
`golang.org/x/mod/sumdb/note` writes them, where hash = SHA-256(name || "\n" || 0x01 ||
public key)[:4] read as a big-endian uint32.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import nacl.exceptions
import nacl.signing

from ledger.errors import InvalidSignature
from ledger.errors import MalformedEntry
from ledger.messages import Message

ALG_ED25519 = b"\x01"  # C2SP signed-note: signature type 0x01 is Ed25519


def key_hash(name: str, public_key: bytes) -> int:
    """Return the note key hash: the first 4 bytes of SHA-256(name || "\\n" || 0x01 || key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + ALG_ED25519 + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def check_name(name: str) -> str:
    """Return `name` if it can name a note key: non-empty, no '+', no whitespace.

    Raises:
        MalformedEntry: otherwise.
    """
    if not name or "+" in name or any(ch.isspace() for ch in name) or not name.isprintable():
        raise MalformedEntry(Message.of("ledger.error.key_name", name=repr(name)))
    return name


@dataclass(frozen=True)
class Verifier:
    """A public Ed25519 note key: checks signatures made by one `LedgerKey`."""

    name: str
    hash: int
    public_key: bytes
    _verify_key: nacl.signing.VerifyKey = field(repr=False, compare=False)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse `name+hash+base64(0x01 || key)`.

        Raises:
            MalformedEntry: not a well-formed Ed25519 verifier key, or the hash does not match.
        """
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise MalformedEntry(Message.of("ledger.error.vkey_shape", vkey=repr(vkey[:80])))
        name, hash_hex, key_b64 = parts
        check_name(name)
        try:
            raw = base64.b64decode(key_b64, validate=True)
            declared = int(hash_hex, 16)
        except (binascii.Error, ValueError) as err:
            raise MalformedEntry(
                Message.of("ledger.error.vkey_malformed", vkey=repr(vkey[:80]))
            ) from err
        if len(hash_hex) != 8 or len(raw) != 33 or raw[:1] != ALG_ED25519:
            raise MalformedEntry(Message.of("ledger.error.vkey_not_ed25519", vkey=repr(vkey[:80])))
        public_key = raw[1:]
        if key_hash(name, public_key) != declared:
            raise MalformedEntry(Message.of("ledger.error.vkey_wrong_hash", vkey=repr(vkey[:80])))
        return cls(name, declared, public_key, nacl.signing.VerifyKey(public_key))

    @property
    def vkey(self) -> str:
        """Return the text form, `name+hash+base64(0x01 || key)`."""
        encoded = base64.b64encode(ALG_ED25519 + self.public_key).decode()
        return f"{self.name}+{self.hash:08x}+{encoded}"

    @property
    def key_id(self) -> str:
        """Return `name+hash`, the key reference written into each leaf."""
        return f"{self.name}+{self.hash:08x}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Check an Ed25519 signature (RFC 8032 §5.1.7) over `message`.

        Raises:
            InvalidSignature: the signature does not verify.
        """
        try:
            self._verify_key.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as err:
            raise InvalidSignature(
                Message.of("ledger.error.signature_invalid", key=self.key_id)
            ) from err


@dataclass(frozen=True)
class LedgerKey:
    """A private Ed25519 note key that signs entries and checkpoints. Never logged or printed."""

    name: str
    seed: bytes = field(repr=False)
    _signing_key: nacl.signing.SigningKey = field(repr=False, compare=False)
    verifier: Verifier = field(compare=False)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> LedgerKey:
        """Build the key for a 32-byte Ed25519 seed (RFC 8032 §5.1.5)."""
        check_name(name)
        if len(seed) != 32:
            raise MalformedEntry("an Ed25519 seed is exactly 32 bytes")
        signing = nacl.signing.SigningKey(seed)
        public = bytes(signing.verify_key)
        verifier = Verifier(name, key_hash(name, public), public, signing.verify_key)
        return cls(name, seed, signing, verifier)

    @classmethod
    def generate(cls, name: str) -> LedgerKey:
        """Return a new key from the operating system's random source."""
        return cls.from_seed(name, os.urandom(32))

    @classmethod
    def from_text(cls, skey: str) -> LedgerKey:
        """Parse `PRIVATE+KEY+name+hash+base64(0x01 || seed)` (Go's note signer key format).

        Raises:
            MalformedEntry: not a well-formed Ed25519 signer key.
        """
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise MalformedEntry("a signing key is PRIVATE+KEY+name+hash+key")
        name, hash_hex, key_b64 = parts[2:]
        try:
            raw = base64.b64decode(key_b64, validate=True)
            declared = int(hash_hex, 16)
        except (binascii.Error, ValueError) as err:
            raise MalformedEntry("the signing key is not well-formed") from err
        if len(raw) != 33 or raw[:1] != ALG_ED25519:
            raise MalformedEntry("the signing key is not an Ed25519 note key")
        key = cls.from_seed(name, raw[1:])
        if key.verifier.hash != declared:
            raise MalformedEntry("the signing key has the wrong key hash")
        return key

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> LedgerKey:
        """Read a key written by `to_file`; the file must not be readable by group or others.

        Raises:
            MalformedEntry: bad content, or a file mode that lets others read the key.
        """
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise MalformedEntry(f"key file {path} has mode {mode & 0o777:o}; it must be 0600")
        return cls.from_text(Path(path).read_text(encoding="ascii"))

    def to_text(self) -> str:
        """Return `PRIVATE+KEY+name+hash+base64(0x01 || seed)`."""
        encoded = base64.b64encode(ALG_ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash:08x}+{encoded}"

    def to_file(self, path: str | os.PathLike[str]) -> None:
        """Write the key to a new file created with mode 0600 (fails if it exists)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(self.to_text() + "\n")

    @property
    def vkey(self) -> str:
        """Return the verifier key text, `name+hash+base64(0x01 || public key)`."""
        return self.verifier.vkey

    @property
    def key_id(self) -> str:
        """Return `name+hash`, the key reference written into each leaf."""
        return self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of `message` (RFC 8032 §5.1.6)."""
        return self._signing_key.sign(message).signature
