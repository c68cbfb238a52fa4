"""Export → verify round trips, and verify naming the first bad index when a row is tampered."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ledger import Ledger
from ledger import LedgerKey
from ledger.cli import main
from ledger.entry import make_entry
from ledger.entry import parse_leaf
from ledger.entry import sign_entry
from ledger.store import entries
from ledger.verify import VerificationFailed
from ledger.verify import bounds
from ledger.verify import verify_export
from tests.ledger.conftest import ORIGIN
from tests.ledger.conftest import SEED
from tests.ledger.conftest import TickingClock


def fill(log: Ledger, count: int, seal_every: int = 4) -> None:
    for i in range(count):
        log.append("proposal.endorsed", "r:ab", "r1", {"i": i, "t": "공감"})
        if (i + 1) % seal_every == 0:
            log.seal()
    log.seal()


def set_leaf(log: Ledger, seq: int, leaf: bytes) -> None:
    with log.engine.begin() as conn:
        conn.execute(
            sa.update(entries)
            .where(entries.c.log_id == log.log_id, entries.c.seq == seq)
            .values(leaf=leaf)
        )


def failure(directory: Path, **kw: object) -> VerificationFailed:
    with pytest.raises(VerificationFailed) as caught:
        verify_export(directory, processes=2, **kw)  # type: ignore[arg-type]
    return caught.value


def test_export_verifies_and_lists_every_block_checkpoint(log: Ledger, tmp_path: Path) -> None:
    fill(log, 10)
    checkpoint = log.export(tmp_path)
    assert checkpoint is not None and checkpoint.size == 10
    lines = (tmp_path / "entries.jsonl").read_bytes().split(b"\n")
    assert lines[:-1] == log.entries(0, 10) and lines[-1] == b""
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "1.txt",
        "2.txt",
        "3.txt",
    ]
    report = verify_export(tmp_path, processes=2)
    assert (report.size, report.root, report.checkpoint_sizes) == (10, log.root(), (4, 8, 10))


def test_export_leaves_out_entries_after_the_last_block(log: Ledger, tmp_path: Path) -> None:
    fill(log, 5)
    log.append("proposal.endorsed", "r:ab", None, {})
    reader = Ledger.open_reader(log.engine)
    assert reader.export(tmp_path).size == 5  # type: ignore[union-attr]
    assert verify_export(tmp_path).size == 5


def test_a_tampered_row_is_caught_at_its_index(log: Ledger, tmp_path: Path) -> None:
    fill(log, 10)
    leaf = log.entries(5, 6)[0]
    set_leaf(log, 5, leaf.replace(b'"i":5', b'"i":6'))
    log.export(tmp_path)
    err = failure(tmp_path)
    assert err.index == 5 and "signature does not verify" in str(err)


def test_two_reordered_rows_are_caught_at_the_first(log: Ledger, tmp_path: Path) -> None:
    fill(log, 10)
    third, fourth = log.entries(3, 5)
    set_leaf(log, 3, fourth)
    set_leaf(log, 4, third)
    log.export(tmp_path)
    err = failure(tmp_path)
    assert err.index == 3 and "seq 4" in str(err)


def test_a_re_signed_entry_with_another_key_is_caught(log: Ledger, tmp_path: Path) -> None:
    fill(log, 6)
    entry = parse_leaf(log.entries(2, 3)[0]).entry
    forged = make_entry(seq=2, ts=entry.ts, kind=entry.kind, actor=entry.actor,
                        round=entry.round, body={"i": 99}, prev=entry.prev)  # fmt: skip
    set_leaf(log, 2, sign_entry(forged, LedgerKey.generate("mallory"))[0])
    log.export(tmp_path)
    err = failure(tmp_path)
    assert err.index == 2 and "mallory" in str(err)


def test_a_deleted_line_is_caught_where_the_gap_starts(log: Ledger, tmp_path: Path) -> None:
    fill(log, 8)
    log.export(tmp_path)
    lines = (tmp_path / "entries.jsonl").read_bytes().split(b"\n")
    (tmp_path / "entries.jsonl").write_bytes(b"\n".join(lines[:6] + lines[7:]))
    assert failure(tmp_path).index == 6


def test_a_cut_back_log_fails_against_an_older_checkpoint_you_hold(
    log: Ledger, db_url: str, key: LedgerKey, tmp_path: Path
) -> None:
    fill(log, 8)
    held = log.checkpoint()
    assert held is not None
    log.export(tmp_path / "full")
    shutil.copytree(tmp_path / "full", tmp_path / "cut")
    lines = (tmp_path / "cut" / "entries.jsonl").read_bytes().split(b"\n")
    (tmp_path / "cut" / "entries.jsonl").write_bytes(b"\n".join(lines[:4]) + b"\n")
    shutil.copy(tmp_path / "cut" / "checkpoints" / "1.txt", tmp_path / "cut" / "checkpoint")
    for name in ("2.txt", "3.txt"):
        (tmp_path / "cut" / "checkpoints" / name).unlink(missing_ok=True)
    assert verify_export(tmp_path / "cut").size == 4  # consistent on its own...
    err = failure(tmp_path / "cut", checkpoints=[held.text])  # ...but not with what you hold
    assert err.index == 4 and "cut back" in str(err)


def test_an_untrusted_vkey_in_the_directory_can_be_overridden(log: Ledger, tmp_path: Path) -> None:
    fill(log, 3)
    log.export(tmp_path)
    other = LedgerKey.generate("test.example/ledger")
    err = failure(tmp_path, vkey=other.vkey)
    assert err.index == 0 and "signed by key" in str(err)


@pytest.fixture(scope="module")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export")
    key = LedgerKey.from_seed(ORIGIN, bytes(32))
    with Ledger.open(f"sqlite:///{directory / 'l.db'}", key, ORIGIN, clock=TickingClock()) as log:
        fill(log, 6, seal_every=3)
        log.export(directory / "out")
    return directory / "out"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(
    name=st.sampled_from(["entries.jsonl", "checkpoint", "checkpoints/1.txt"]),
    position=st.integers(0, 10**6),
    bit=st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
)
@example(name="checkpoint", position=68, bit=2)  # the em dash turned into invalid UTF-8
def test_flipping_any_byte_of_the_export_makes_verify_fail(
    small_export: Path, tmp_path_factory: pytest.TempPathFactory, name: str, position: int, bit: int
) -> None:
    target = tmp_path_factory.mktemp("flip")
    shutil.copytree(small_export, target, dirs_exist_ok=True)
    raw = (target / name).read_bytes()
    position %= len(raw)
    (target / name).write_bytes(raw[:position] + bytes([raw[position] ^ bit]) + raw[position + 1 :])
    with pytest.raises(VerificationFailed):
        verify_export(target, processes=1)


def test_cli_keygen_export_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--name", ORIGIN, "--out", str(tmp_path / "k")]) == 0
    vkey = capsys.readouterr().out.strip()
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    key = LedgerKey.from_file(tmp_path / "k")
    assert key.vkey == vkey
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.open(url, key, ORIGIN) as log:
        fill(log, 5)
    assert main(["export", "--db", url, "--out", str(tmp_path / "out")]) == 0
    assert main(["verify", str(tmp_path / "out"), "--vkey", vkey, "--locale", "en"]) == 0
    assert capsys.readouterr().out.count("OK: 5 entries") == 1
    lines = (tmp_path / "out" / "entries.jsonl").read_bytes().split(b"\n")
    lines[1], lines[2] = lines[2], lines[1]
    (tmp_path / "out" / "entries.jsonl").write_bytes(b"\n".join(lines))
    assert main(["verify", str(tmp_path / "out"), "--locale", "en"]) == 1
    assert "index 1" in capsys.readouterr().err


def test_a_rotation_to_an_unusable_key_is_caught_at_its_index(log: Ledger, tmp_path: Path) -> None:
    fill(log, 3)
    log.rotate(LedgerKey.generate("next"))
    log.append("proposal.endorsed", "r:ab", None, {})
    log.seal()
    leaf = log.entries(3, 4)[0]
    entry = parse_leaf(leaf).entry
    forged = make_entry(seq=3, ts=entry.ts, kind=entry.kind, actor=entry.actor, round=None,
                        body={"vkey": "next+00000000+AAAA"}, prev=entry.prev)  # fmt: skip
    set_leaf(log, 3, sign_entry(forged, LedgerKey.from_seed(ORIGIN, SEED))[0])
    log.export(tmp_path)
    assert failure(tmp_path).index == 3


def test_python_m_ledger_verify_exits_non_zero_naming_the_index(
    log: Ledger, tmp_path: Path
) -> None:
    fill(log, 4)
    log.export(tmp_path)
    command = [sys.executable, "-m", "ledger", "verify", str(tmp_path), "--locale", "en"]
    ok = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: 4 entries")
    lines = (tmp_path / "entries.jsonl").read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"i":2', b'"i":3')
    (tmp_path / "entries.jsonl").write_bytes(b"\n".join(lines))
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and "index 2" in bad.stderr and "signature" in bad.stderr


def test_chunks_cover_every_line_once() -> None:
    data = b"".join(b"x" * (i % 7 + 1) + b"\n" for i in range(100)) + b"tail"
    for pieces in (1, 2, 3, 8, 64, 500):
        parts = bounds(data, pieces)
        assert parts[0][0] == 0 and parts[-1][1] == len(data)
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
        assert [first for _, _, first in parts] == [data[:b].count(b"\n") for b, _, _ in parts]


def test_a_broken_prev_at_a_chunk_boundary_is_caught(
    log: Ledger, key: LedgerKey, tmp_path: Path
) -> None:
    log.append_many([("proposal.endorsed", "r:ab", "r1", {"i": i}) for i in range(300)])
    log.seal()
    log.export(tmp_path)
    data = (tmp_path / "entries.jsonl").read_bytes()
    _, _, index = bounds(data, 8)[3]  # the first line of the fourth chunk
    entry = parse_leaf(log.entries(index, index + 1)[0]).entry
    forged = make_entry(seq=index, ts=entry.ts, kind=entry.kind, actor=entry.actor,
                        round=entry.round, body=entry.body, prev="ab" * 32)  # fmt: skip
    lines = data.split(b"\n")
    lines[index] = sign_entry(forged, key)[0]
    (tmp_path / "entries.jsonl").write_bytes(b"\n".join(lines))
    err = failure(tmp_path)
    assert err.index == index and "prev" in str(err)


def test_cli_names_the_held_checkpoint_file_that_does_not_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said 'checkpoint #9 does not verify', counting the export's own checkpoints first."""
    key = LedgerKey.from_seed(ORIGIN, SEED)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger.open(url, key, ORIGIN) as log:
        for _ in range(3):
            fill(log, 2)
            log.seal()
        good = log.checkpoint()
    assert good is not None
    assert main(["export", "--db", url, "--out", str(tmp_path / "out")]) == 0
    held = tmp_path / "from-channel.txt"
    held.write_text(good.text.replace(good.text.split("\n")[2], "A" * 43 + "="), encoding="utf-8")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "out"), "--checkpoint", str(held), "--locale", "en"]) == 1
    err = capsys.readouterr().err
    assert f"the checkpoint in {held} does not verify" in err and "#" not in err, err


def test_without_a_checkpoint_of_yours_ok_says_what_it_does_not_show(
    log: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A whole log rewritten and re-signed under another key, with its own vkey and
    checkpoint, is consistent: 'verify DIR' as the README writes it said only 'OK'. An
    outsider handed such an export learnt nothing was compared with what they hold; now the
    OK says so and names --checkpoint, and with a channel checkpoint the forgery fails."""
    fill(log, 6)
    log.export(tmp_path / "real")
    other = LedgerKey.generate(ORIGIN.split("/")[0])
    with Ledger.open(f"sqlite:///{tmp_path / 'forged.db'}", other, ORIGIN) as forged:
        for i in range(6):
            forged.append("proposal.endorsed", "r:ab", "r1", {"i": i, "t": "changed"})
        forged.seal()
        forged.export(tmp_path / "forged")
    assert main(["verify", str(tmp_path / "forged"), "--locale", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 6 entries") and "--checkpoint" in out, out
    channel = tmp_path / "posted.txt"  # as copied from a channel post: no final newline
    channel.write_text((tmp_path / "real" / "checkpoint").read_text().rstrip("\n"))
    assert main(["verify", str(tmp_path / "forged"), "--checkpoint", str(channel)]) == 1
    assert "posted.txt" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "real"), "--checkpoint", str(channel)]) == 0
    assert "--checkpoint" not in capsys.readouterr().out  # anchored: nothing to add


def test_a_directory_that_is_not_there_is_not_called_a_failed_verification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in the path said 'FAILED: vkey is missing from the export', as if the ledger
    had been tampered with; nothing was checked, so it is a usage error naming the path."""
    for missing in (tmp_path / "nothing", tmp_path / "empty"):
        if missing.name == "empty":
            missing.mkdir()
        with pytest.raises(SystemExit) as exited:
            main(["verify", str(missing)])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and "FAILED" not in err, err
        assert str(missing) in err and "entries.jsonl" in err, err
