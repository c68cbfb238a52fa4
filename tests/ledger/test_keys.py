"""Note keys and checkpoints: the C2SP formats, signatures and key files."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoint import format_checkpoint
from ledger.checkpoint import open_checkpoint
from ledger.checkpoint import parse_checkpoint
from ledger.checkpoint import sign_checkpoint
from ledger.errors import InvalidSignature
from ledger.errors import LedgerError
from ledger.errors import MalformedEntry
from ledger.errors import UnknownKey
from ledger.keys import LedgerKey
from ledger.keys import Verifier

KEY = LedgerKey.from_seed("example.org/ledger", bytes(range(32)))
OTHER = LedgerKey.from_seed("example.org/ledger", bytes(32))
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
B64 = base64.b64encode(ROOT).decode()
NOTE = sign_checkpoint(format_checkpoint("example.org/ledger", 8, ROOT), KEY)


def test_vkey_round_trips_and_matches_the_go_layout() -> None:
    verifier = Verifier.from_vkey(KEY.vkey)
    assert verifier.public_key == KEY.verifier.public_key
    name, hash_hex, b64 = KEY.vkey.split("+", 2)
    assert name == "example.org/ledger" and len(hash_hex) == 8 and b64.startswith("A")
    assert LedgerKey.from_text(KEY.to_text()).seed == KEY.seed


def test_checkpoint_text_has_the_c2sp_shape() -> None:
    body, _, signatures = NOTE.partition("\n\n")
    assert body.split("\n") == ["example.org/ledger", "8", base64.b64encode(ROOT).decode()]
    assert signatures.startswith("\u2014 example.org/ledger ") and signatures.endswith("\n")


def test_open_checkpoint_returns_size_root_and_text() -> None:
    checkpoint = open_checkpoint(NOTE, KEY.verifier)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == ("example.org/ledger", 8, ROOT)
    assert checkpoint.text == NOTE and checkpoint.body == format_checkpoint(
        "example.org/ledger", 8, ROOT
    )


def test_checkpoint_signed_by_another_key_is_unknown() -> None:
    with pytest.raises(UnknownKey):
        open_checkpoint(NOTE, Verifier.from_vkey(LedgerKey.generate("someone.else").vkey))


def test_checkpoint_with_a_colliding_key_hash_fails_the_signature() -> None:
    forged = NOTE.replace("\n8\n", "\n9\n")
    with pytest.raises(InvalidSignature):
        open_checkpoint(forged, KEY.verifier)


@given(st.data())
def test_flipping_any_byte_of_the_note_makes_it_fail(data: st.DataObject) -> None:
    raw = NOTE.encode()
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    bit = data.draw(st.sampled_from([1, 2, 4, 32, 64]), label="bit")
    tampered = raw[:position] + bytes([raw[position] ^ bit]) + raw[position + 1 :]
    try:
        text = tampered.decode()
    except UnicodeDecodeError:
        return  # not even text: nothing a verifier could be fooled by
    with pytest.raises(LedgerError):
        open_checkpoint(text, KEY.verifier)


@pytest.mark.parametrize(
    "body",
    [f"o\n08\n{B64}\n", "o\n8\nXcna\n", "o\n8\n",
     f"\n8\n{B64}\n", "o\n-1\nAAAA\n"],
    ids=["leading-zero", "short-root", "no-root", "empty-origin", "negative"],
)  # fmt: skip
def test_parse_checkpoint_is_strict(body: str) -> None:
    with pytest.raises(MalformedEntry):
        parse_checkpoint(body)


def test_key_file_is_written_0600_and_refused_when_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    KEY.to_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert LedgerKey.from_file(path).vkey == KEY.vkey
    os.chmod(path, 0o644)
    with pytest.raises(MalformedEntry, match="0600"):
        LedgerKey.from_file(path)


def test_key_repr_never_shows_the_seed() -> None:
    assert KEY.seed.hex() not in repr(KEY) and "seed" not in repr(KEY)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\nb"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(MalformedEntry):
        LedgerKey.from_seed(name, bytes(32))


def test_signatures_by_other_keys_are_ignored_when_one_known_key_signs() -> None:
    cosigned = (
        NOTE
        + sign_checkpoint(format_checkpoint("example.org/ledger", 8, ROOT), OTHER).split("\n\n")[1]
    )
    unknown = Verifier.from_vkey(LedgerKey.generate("x").vkey)
    assert open_checkpoint(cosigned, [unknown, KEY.verifier]).size == 8


VECTORS = Path(__file__).parent / "vectors"


def test_golden_checkpoint_is_reproduced_byte_for_byte() -> None:
    """Ed25519 is deterministic: the seed 00..1f signs the 8-leaf vector root to this note."""
    golden = (VECTORS / "checkpoint.txt").read_text(encoding="utf-8")
    assert NOTE == golden
    assert (VECTORS / "checkpoint.vkey").read_text().strip() == KEY.vkey
    assert open_checkpoint(golden, Verifier.from_vkey(KEY.vkey)).root == ROOT
