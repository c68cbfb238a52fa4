"""A failure's details are said in the reader's language, not English inside a Korean frame.

`python -m ledger verify` said '검증 실패: 항목 1번: 올바른 형식의 리프가 아닙니다 (not in RFC
8785 canonical form)': the frame came from the catalog, the detail quoted from the lower layer
(a leaf's parse error, a checkpoint's, a key's, a proof's, a connection's) stayed English.
The ledger's own errors now carry a catalog message (`ledger.error.<code>`), in ko and en.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.error
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.cli import main
from ledger.errors import InvalidProof
from ledger.hashing import hash_leaf
from ledger.proof import verify_consistency
from ledger.proof import verify_inclusion
from ledger.remote import network_problem
from ledger.verify import VerificationFailed

ENGLISH = re.compile(r"\b[a-z]{2,} [a-z]{2,} [a-z]{2,}\b")  # three English words in a row


def _export(log: Ledger, folder: Path) -> Path:
    for i in range(4):
        log.append("proposal.endorsed", "r:ab", "r1", {"i": i})
    log.seal()
    log.export(folder)
    return folder


def _failed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    said = {}
    for locale in ("ko", "en"):
        assert main([*argv, "--processes", "1", "--locale", locale]) == 1
        said[locale] = capsys.readouterr().err
    return said


def _korean_only(said: str) -> None:
    assert not ENGLISH.search(said), said


def test_a_malformed_leaf_is_described_in_korean(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _export(log, tmp_path / "out")
    lines = (folder / "entries.jsonl").read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"i":1', b'"i": 1')
    (folder / "entries.jsonl").write_bytes(b"\n".join(lines))
    said = _failed(["verify", str(folder)], capsys)
    assert said["ko"] == (
        "검증 실패: 항목 1번: 올바른 형식의 리프가 아닙니다 (RFC 8785 정규 형식이 아닙니다)\n"
    ), said
    assert (
        said["en"] == "FAILED: index 1: not a well-formed leaf (not in RFC 8785 canonical form)\n"
    )


def test_a_held_checkpoint_that_is_not_a_signed_note_is_described_in_korean(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _export(log, tmp_path / "out")
    held = tmp_path / "held.txt"
    note = (folder / "checkpoint").read_text(encoding="utf-8")
    held.write_text(note.replace("\u2014 ", "- "), encoding="utf-8")  # the em dash became a hyphen
    said = _failed(["verify", str(folder), "--checkpoint", str(held)], capsys)
    assert "서명 줄은 엠 대시(—)와 공백으로 시작해야 합니다" in said["ko"], said
    assert "a signature line starts with an em dash and a space" in said["en"], said
    _korean_only(said["ko"])


def test_an_unusable_vkey_is_described_in_korean(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _export(log, tmp_path / "out")
    said = _failed(["verify", str(folder), "--vkey", "test.example+zz+notakey"], capsys)
    assert said["ko"].startswith("검증 실패: 검증 키를 쓸 수 없습니다: 검증 키의 형식이"), said
    assert "is not well-formed" in said["en"], said
    _korean_only(said["ko"])


def test_a_server_that_refuses_the_connection_is_described_in_korean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    said = _failed(["verify", "--url", f"http://127.0.0.1:{port}"], capsys)
    assert "서버가 연결을 거부했습니다" in said["ko"], said
    assert "the server refused the connection" in said["en"], said
    _korean_only(said["ko"])


@pytest.mark.parametrize(
    ("error", "ko"),
    [
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), "호스트 이름"),
        (urllib.error.URLError(ConnectionRefusedError(111, "refused")), "연결을 거부"),
        (urllib.error.URLError(TimeoutError("timed out")), "제시간에"),
        (TimeoutError("The read operation timed out"), "제시간에"),
        (urllib.error.URLError(ssl.SSLCertVerificationError(1, "bad cert")), "인증서"),
        (ConnectionResetError(104, "Connection reset by peer"), "연결을 끊었습니다"),
    ],
)
def test_the_usual_network_failures_are_said_from_the_catalog(error: OSError, ko: str) -> None:
    err = VerificationFailed("fetch_error", url="https://h", detail=network_problem(error))
    assert ko in err.text("ko") and not ENGLISH.search(err.text("ko")), err.text("ko")
    assert not re.search(r"[\uac00-\ud7a3]", str(err)), str(err)


def test_an_unusual_network_failure_keeps_the_systems_own_words() -> None:
    assert network_problem(OSError(99, "Cannot assign requested address")) == (
        "[Errno 99] Cannot assign requested address"
    )


def test_proof_errors_are_said_in_korean_inside_the_failure() -> None:
    leaf = hash_leaf(b"x")
    cases = []
    for check in (
        lambda: verify_inclusion(leaf, 0, 2, [], leaf),  # too short
        lambda: verify_inclusion(leaf, 0, 1, [leaf], leaf),  # too long
        lambda: verify_inclusion(leaf, 0, 1, [], hash_leaf(b"y")),  # another root
        lambda: verify_consistency(1, 2, [], leaf, leaf),  # empty path
        lambda: verify_consistency(2, 1, [], leaf, leaf),  # sizes out of order
        lambda: verify_inclusion(leaf, 0, 2, [b"short"], leaf),  # a hash of 5 bytes
    ):
        with pytest.raises(InvalidProof) as raised:
            check()
        cases.append(raised.value)
    for err in cases:
        failed = VerificationFailed("inclusion_fails", index=3, detail=err.said)
        assert failed.text("ko").startswith("항목 3번: "), failed.text("ko")
        _korean_only(failed.text("ko"))
        assert str(err) in str(failed)  # English unchanged
