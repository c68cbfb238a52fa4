"""`make help` lists every target the Makefile documents (README points readers to it)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_make_help_lists_every_documented_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    documented = re.findall(r"^([A-Za-z0-9_.-]+):.*## ", makefile, flags=re.MULTILINE)
    assert "i18n" in documented
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = [line.split()[0] for line in shown.splitlines() if line.strip()]
    assert listed == documented
