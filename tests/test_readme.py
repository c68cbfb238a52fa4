"""README's ledger examples are real: they verify, and name the key as the code names it."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.settings import DEFAULT_ORIGIN
from gateway.settings import Settings
from gateway.wiring import load_or_create_key
from ledger.checkpoint import open_checkpoint
from ledger.entry import parse_leaf
from ledger.hashing import hash_leaf
from ledger.keys import Verifier

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def example(start: str) -> str:
    found = re.search(r"```\n(" + re.escape(start) + r".*?)```", README, re.S)
    assert found, start
    return found.group(1)


def test_readme_examples_verify_under_the_key_the_code_would_generate(tmp_path: Path):
    vkey = re.search(r"The verifier key \(`/ledger/vkey`\): `([^`]+)`", README)
    assert vkey
    verifier = Verifier.from_vkey(vkey.group(1))
    leaf = example('{"entry":').strip().encode()
    checkpoint = open_checkpoint(example(DEFAULT_ORIGIN + "\n"), verifier)
    assert checkpoint.origin == DEFAULT_ORIGIN and checkpoint.size == 1
    assert checkpoint.root == hash_leaf(leaf)
    signed = parse_leaf(leaf)
    assert signed.key_id == verifier.key_id
    verifier.verify(signed.entry_bytes, signed.signature)
    generated = load_or_create_key(Settings.from_env({"VAR_DIR": str(tmp_path)}))
    assert generated.key_id.split("+")[0] == verifier.key_id.split("+")[0]  # same key name
    assert f"keygen --name {generated.key_id.split('+')[0]} " in README


def test_the_outsider_section_says_how_to_run_its_commands():
    """A journalist who copied `python -m ledger verify --url ...` into a fresh shell got
    'No module named sqlalchemy'; after a second round opened, `tally DIR` needed --round,
    which the section did not show; an OK without --checkpoint was not said to be unanchored."""
    section = README.split("## Verifying from outside", 1)[1].split("\n## ", 1)[0]
    assert "pip install -r requirements.txt" in section
    assert "python -m participation tally DIR [--round ROUND]" in section
    assert "re-signed" in section  # what an OK without --checkpoint does not show
