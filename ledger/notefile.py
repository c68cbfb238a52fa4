"""Read a signed checkpoint note from a file a person made: a copy, not the published bytes.

`ledger.checkpoint.open_checkpoint` is strict, as C2SP signed-note and Go's `sumdb/note`
are: the note ends in exactly one newline, lines end in `\\n`, nothing comes before or after.
A checkpoint copied out of the channel's digest post or a web page into a file is not that:
the copy loses its final newline (Telegram trims messages), may get CRLF endings or a
byte-order mark (Windows editors), trailing spaces, blank lines, or the post's own lines
around it. An export's checkpoint files may have passed through an editor too.

This reading layer takes the note out of such a copy and leaves it to the strict parser.
It only changes what cannot have been signed: the text's encoding mark, line endings,
whitespace at the end of lines (no line of a checkpoint ends in one: the origin holds no
spaces (tlog-checkpoint), the size and root are strict, a signature line ends in base64),
blank lines and lines around the note, and the final newline. The signed text and every
signature are then checked exactly: a changed origin, size or root still fails.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ledger.checkpoint import SIG_PREFIX
from ledger.checkpoint import parse_checkpoint
from ledger.errors import LedgerError

MAX_FILE = 64 * 1024  # a whole copied post is a few KiB; a note at most 16 KiB
_LINE_END = re.compile(r"\r\n|\r|\n")  # not str.splitlines: it splits on \x1c, \u2028 ...


def read_note(path: Path) -> str:
    """Return the checkpoint note held in the file at `path` (see :func:`note_from_copy`).

    UTF-8 (with or without a byte-order mark), or UTF-16 with its byte-order mark.

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: the file is not text in one of those encodings.
    """
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE + 1)
    return note_from_copy(decode(data))


def decode(data: bytes) -> str:
    """Return `data` as text: UTF-16 when it opens with a UTF-16 byte-order mark, else UTF-8
    (a UTF-8 byte-order mark dropped).

    Raises:
        UnicodeDecodeError: not text in those encodings.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode("utf-8-sig")


def note_from_copy(text: str) -> str:
    """Return the signed note in `text`, a person's copy of one: one note, its lines ending in
    `\\n` with no trailing whitespace, ending in one newline. When `text` holds other lines
    around one note (a copied post), the note alone; when it holds no note or several, the
    text as normalised, which the strict parser then refuses."""
    lines = [line.rstrip() for line in _LINE_END.split(text.lstrip("\ufeff").strip())]
    whole = "\n".join(lines) + "\n"
    notes = _notes(lines)
    return notes[0] if len(notes) == 1 else whole


def _notes(lines: list[str]) -> list[str]:
    """Return every note found in `lines`: body lines, a blank line, signature lines."""
    found: list[str] = []
    for blank, line in enumerate(lines):
        if line or blank + 1 >= len(lines) or not lines[blank + 1].startswith(SIG_PREFIX):
            continue
        end = blank + 1
        while end < len(lines) and lines[end].startswith(SIG_PREFIX):
            end += 1
        start = blank
        while start > 0 and lines[start - 1]:
            start -= 1  # the paragraph above the blank line: label lines, then the body
        for origin in range(start, blank):
            body = "\n".join(lines[origin:blank]) + "\n"
            try:
                parse_checkpoint(body)
            except LedgerError:
                continue
            found.append(body + "\n" + "\n".join(lines[blank + 1 : end]) + "\n")
            break
    return found
