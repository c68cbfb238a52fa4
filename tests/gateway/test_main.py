"""`python -m gateway`: each role has its own --help."""

from __future__ import annotations

import pytest

from gateway.__main__ import ROLES
from gateway.__main__ import main


@pytest.mark.parametrize("role", ["web", "worker", "clock", "run", "migrate"])
def test_each_role_has_its_own_help(role, capsys):
    with pytest.raises(SystemExit) as done:
        main([role, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m gateway {role} [-h]")
    assert ROLES[role] in " ".join(out.split())


def test_the_top_level_help_lists_every_role(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(role in out for role in ROLES) and "deadletters" in out
