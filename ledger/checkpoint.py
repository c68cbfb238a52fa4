"""Checkpoints: the C2SP tlog-checkpoint body inside a C2SP signed note.

Specs: https://github.com/C2SP/C2SP/blob/main/tlog-checkpoint.md and
https://github.com/C2SP/C2SP/blob/main/signed-note.md (what Go's `sumdb/note` reads).

    example.org/ledger          origin line
    1234                        tree size, decimal, no leading zeros
    bXlyb290...=                base64 of the 32-byte root hash
                                blank line
    — example.org/ledger ABCD...  one line per signature: base64(key hash (4) || Ed25519 sig)
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.errors import InvalidSignature
from ledger.errors import MalformedEntry
from ledger.errors import UnknownKey
from ledger.hashing import HASH_SIZE
from ledger.hashing import Hash
from ledger.keys import LedgerKey
from ledger.keys import Verifier
from ledger.messages import Message

SIG_PREFIX = "\u2014 "  # C2SP signed-note: an em dash and a space open each signature line
MAX_NOTE = 16 * 1024  # like sumdb's note.Open, refuse absurdly large notes before parsing


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: `text` is the whole signed note, as published."""

    origin: str
    size: int
    root: Hash
    text: str
    block: int | None = None

    @property
    def body(self) -> str:
        """Return the signed part of the note (the checkpoint lines, ending in a newline)."""
        return self.text[: self.text.index("\n\n") + 1]


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """Return the checkpoint body `origin\\nsize\\nbase64(root)\\n`.

    Raises:
        MalformedEntry: an empty origin or one holding a newline, a negative size, or a root
            that is not 32 bytes.
    """
    if not origin or "\n" in origin or not origin.isprintable():
        raise MalformedEntry(f"origin {origin!r} must be one non-empty printable line")
    if size < 0 or len(root) != HASH_SIZE:
        raise MalformedEntry("a checkpoint needs a size >= 0 and a 32-byte root")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint(body: str) -> tuple[str, int, Hash]:
    """Return (origin, size, root) of a checkpoint body; extension lines are ignored.

    Strict like sumdb's `tlog.ParseTree`: the size must be canonical decimal and the root
    exactly 32 bytes of padded base64.

    Raises:
        MalformedEntry: anything else.
    """
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(line == "" for line in lines[:-1]):
        raise MalformedEntry(Message.of("ledger.error.checkpoint_lines"))
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or not size_text.isascii() or str(int(size_text)) != size_text:
        raise MalformedEntry(Message.of("ledger.error.checkpoint_size", size=repr(size_text[:40])))
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as err:
        raise MalformedEntry(Message.of("ledger.error.checkpoint_root_base64")) from err
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise MalformedEntry(Message.of("ledger.error.checkpoint_root"))
    if not origin:
        raise MalformedEntry(Message.of("ledger.error.checkpoint_origin"))
    return origin, int(size_text), Hash(root)


def sign_checkpoint(body: str, key: LedgerKey) -> str:
    """Return the signed note: `body`, a blank line, and `— <name> base64(hash || sig)`."""
    signature = key.verifier.hash.to_bytes(4, "big") + key.sign(body.encode("utf-8"))
    return f"{body}\n{SIG_PREFIX}{key.name} {base64.b64encode(signature).decode()}\n"


def open_checkpoint(text: str, verifiers: Verifier | Iterable[Verifier]) -> Checkpoint:
    """Verify a signed checkpoint note and return it parsed.

    Signatures by keys not in `verifiers` are ignored, as `sumdb/note.Open` does; at least
    one must be by a known key, and every one by a known key must verify.

    Raises:
        MalformedEntry: not a signed note holding a checkpoint.
        UnknownKey: no signature by any of `verifiers`.
        InvalidSignature: a signature by a known key that does not verify.
    """
    known = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    if len(text) > MAX_NOTE or not text.endswith("\n"):
        raise MalformedEntry(Message.of("ledger.error.note_end"))
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedEntry(Message.of("ledger.error.note_blank"))
    body, signed = text[: split + 1], 0
    for line in text[split + 2 : -1].split("\n"):
        name, signature = _signature_line(line)
        for verifier in known:
            if verifier.name == name and signature[:4] == verifier.hash.to_bytes(4, "big"):
                try:
                    verifier.verify(body.encode("utf-8"), signature[4:])
                except InvalidSignature as err:
                    raise InvalidSignature(
                        Message.of("ledger.error.note_signature", name=name)
                    ) from err
                signed += 1
    if signed == 0:
        names = ", ".join(v.key_id for v in known)
        raise UnknownKey(Message.of("ledger.error.note_unknown_key", keys=names), key=names)
    origin, size, root = parse_checkpoint(body)
    return Checkpoint(origin=origin, size=size, root=root, text=text)


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIG_PREFIX):
        raise MalformedEntry(Message.of("ledger.error.note_sig_prefix"))
    name, _, encoded = line[len(SIG_PREFIX) :].rpartition(" ")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise MalformedEntry(Message.of("ledger.error.note_sig_base64")) from err
    if not name or len(signature) < 5 or base64.b64encode(signature).decode() != encoded:
        raise MalformedEntry(Message.of("ledger.error.note_sig_line"))
    return name, signature
