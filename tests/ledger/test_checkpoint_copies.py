"""`verify --checkpoint FILE` reads a checkpoint as a person copied it, and stays strict.

A journalist copies the signed checkpoint out of the channel's digest post (or a web page)
into a file: the copy loses its final newline, may get CRLF endings or a byte-order mark
(Windows Notepad), trailing spaces on its lines, blank lines or the post's own text around
it. The CLI reads the note out of such a copy; the note itself (what was signed, and the
signatures) is checked exactly as before, so a changed size or root still fails.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.digest import digest_text
from i18n.catalog import Catalog
from ledger import Ledger
from ledger.checkpoint import open_checkpoint
from ledger.cli import main
from ledger.errors import LedgerError
from ledger.keys import Verifier

Copy = Callable[[str, str], bytes]  # (the note as published, the channel post) -> file bytes


def _post_as_copied(post_html: str) -> str:
    """The digest post as a reader's copy of it holds it: the text, without the HTML."""
    return html.unescape(re.sub(r"<[^>]+>", "", post_html))


COPIES: dict[str, Copy] = {
    "as published": lambda note, post: note.encode(),
    "no final newline": lambda note, post: note.rstrip("\n").encode(),
    "CRLF, no final newline": lambda note, post: note.rstrip("\n").replace("\n", "\r\n").encode(),
    "a trailing space": lambda note, post: (note.rstrip("\n") + " ").encode(),
    "blank lines around": lambda note, post: ("\n\n" + note + "\n\n").encode(),
    "trailing spaces on every line": lambda note, post: "".join(
        line + " \n" for line in note.rstrip("\n").split("\n")
    ).encode(),
    "CRLF and trailing tabs": lambda note, post: "".join(
        line + "\t\r\n" for line in note.rstrip("\n").split("\n")
    ).encode(),
    "UTF-8 byte-order mark": lambda note, post: ("\ufeff" + note).encode(),
    "UTF-16 (Notepad 'Unicode')": lambda note, post: note.replace("\n", "\r\n").encode("utf-16"),
    "with the post's label line": lambda note, post: (
        post.split("\n")[6] + "\n" + note.rstrip("\n")
    ).encode(),
    "the whole channel post": lambda note, post: post.encode(),
}


@pytest.fixture
def sealed(log: Ledger, tmp_path: Path) -> tuple[Path, str, str]:
    """(export directory, the first block's note, that block's channel post as copied)."""
    for i in range(3):
        log.append("proposal.endorsed", "r:ab", "r1", {"i": i})
    first = log.seal()
    log.append("proposal.endorsed", "r:ab", "r1", {"i": 3})
    log.seal()
    log.export(tmp_path / "export")
    post = digest_text(log.blocks()[0], Catalog.load(), "https://ttabok.example", "ko")
    return tmp_path / "export", first.text, _post_as_copied(post)


def _verify(folder: Path, held: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    argv = ["verify", str(folder), "--checkpoint", str(held), "--processes", "1"]
    code = main([*argv, "--locale", "en"])
    said = capsys.readouterr()
    return code, said.out + said.err


def test_the_post_as_copied_holds_the_note_between_other_lines(
    sealed: tuple[Path, str, str],
) -> None:
    _, note, post = sealed
    assert note.rstrip("\n") in post and not post.startswith(note)
    assert post.split("\n")[6] + "\n" + note.split("\n")[0] in post


@pytest.mark.parametrize("copy", COPIES.values(), ids=COPIES.keys())
def test_a_copied_checkpoint_verifies(
    copy: Copy, sealed: tuple[Path, str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder, note, post = sealed
    held = tmp_path / "held.txt"
    held.write_bytes(copy(note, post))
    code, said = _verify(folder, held, capsys)
    assert code == 0 and said.startswith("OK: 4 entries") and "note:" not in said, said


def _forged(note: str, line: int, new: str) -> str:
    lines = note.split("\n")
    lines[line] = new
    return "\n".join(lines)


@pytest.mark.parametrize("copy", COPIES.values(), ids=COPIES.keys())
@pytest.mark.parametrize("line", [1, 2], ids=["size", "root"])
def test_a_copy_with_a_changed_size_or_root_still_fails(
    copy: Copy, line: int, sealed: tuple[Path, str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder, note, post = sealed
    old = note.split("\n")[line]
    new = "4" if line == 1 else old[:10] + ("A" if old[10] != "A" else "B") + old[11:]
    held = tmp_path / "held.txt"
    held.write_bytes(copy(_forged(note, line, new), post.replace(old, new)))
    code, said = _verify(folder, held, capsys)
    assert code == 1 and said.startswith("FAILED: the checkpoint in ") and str(held) in said, said


def test_a_copy_with_a_changed_signature_still_fails(
    sealed: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, note, post = sealed
    signature = note.rstrip("\n").split("\n")[-1]
    changed = signature[:-8] + ("AAAA" if signature[-8:-4] != "AAAA" else "BBBB") + signature[-4:]
    held = tmp_path / "held.txt"
    held.write_bytes(post.replace(signature, changed).encode())
    code, said = _verify(folder, held, capsys)
    assert code == 1 and "does not verify" in said, said


def test_a_file_holding_two_checkpoints_is_not_read_as_either(
    sealed: tuple[Path, str, str], log: Ledger, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder, note, post = sealed
    second = log.blocks()[1].checkpoint_text
    held = tmp_path / "held.txt"
    held.write_text(post + "\n\n" + second, encoding="utf-8")
    code, said = _verify(folder, held, capsys)
    assert code == 1 and "does not verify" in said, said


@pytest.mark.parametrize("name", ["checkpoint", "checkpoints/1.txt", "checkpoints/2.txt"])
def test_an_export_checkpoint_an_editor_saved_without_its_final_newline_verifies(
    name: str, sealed: tuple[Path, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, _ = sealed
    path = folder / name
    path.write_bytes(path.read_bytes().rstrip(b"\n").replace(b"\n", b"\r\n"))
    assert main(["verify", str(folder), "--processes", "1", "--locale", "en"]) == 0
    assert capsys.readouterr().out.startswith("OK: 4 entries")
    lines = path.read_bytes().split(b"\r\n")
    lines[1] = b"2"  # a changed size: its signature no longer verifies
    path.write_bytes(b"\r\n".join(lines))
    assert main(["verify", str(folder), "--processes", "1", "--locale", "en"]) == 1
    assert "does not verify" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "ko", "en"),
    [
        (None, "읽을 수 없습니다", "cannot be read"),
        (b"\xff\xfe\x00\xd8 not text", "UTF-8", "UTF-8"),
        (b"ttabok.example/ledger\n3\n\xc0\xc1\n", "UTF-8", "UTF-8"),
    ],
    ids=["missing", "bad UTF-16", "not UTF-8"],
)
def test_a_checkpoint_file_that_cannot_be_read_is_a_usage_error_not_a_traceback(
    content: bytes | None, ko: str, en: str, sealed: tuple[Path, str, str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    folder, _, _ = sealed
    held = tmp_path / "held.txt"
    if content is not None:
        held.write_bytes(content)
    for locale, said in (("ko", ko), ("en", en)):
        with pytest.raises(SystemExit) as exited:
            main(["verify", str(folder), "--checkpoint", str(held), "--locale", locale])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and said in err and str(held) in err, err
        assert "Traceback" not in err and "Errno" not in err, err


def test_the_strict_parser_stays_strict(sealed: tuple[Path, str, str], key: object) -> None:
    _, note, _ = sealed
    verifier = Verifier.from_vkey(key.vkey)  # type: ignore[attr-defined]
    assert open_checkpoint(note, verifier).size == 3
    for copy in ("no final newline", "CRLF, no final newline", "UTF-8 byte-order mark"):
        with pytest.raises(LedgerError):
            open_checkpoint(COPIES[copy](note, "").decode("utf-8"), verifier)
