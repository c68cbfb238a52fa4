"""Checking a proposal draft one field at a time (the bot asks for the fields one by one).

Additive support for the bot (issue 6): the same rule as submission,
``rules.check_proposal_fields``, with valid stand-ins for the fields not asked yet.
"""

from __future__ import annotations

from participation.app.base import Base
from participation.domain import errors as e
from participation.domain import rules
from participation.store import repo


class Drafts(Base):
    """Early, per-field validation of a proposal draft."""

    def check_proposal_field(self, round_id: str, field: str, value: str | int) -> None:
        """Raise the rule a draft's ``field`` ("title", "body", "category", "budget") breaks.

        Raises:
            TitleEmpty, TitleTooLong, BodyEmpty, BodyTooLong, UnknownCategory, BudgetInvalid,
            BudgetOverCap, RoundNotFound, InvalidInput (an unknown field).
        """
        with self._engine.connect() as conn:
            rnd = repo.round_state(conn, round_id)
        texts = {"title": "t", "body": "b", "category": rnd.rules.categories[0]}
        budget = 1
        if field == "budget" and isinstance(value, int):
            budget = value
        elif field in texts and isinstance(value, str):
            texts[field] = value
        else:
            raise e.InvalidInput(field=field)
        rules.check_proposal_fields(
            rnd.rules,
            title=texts["title"],
            body=texts["body"],
            category=texts["category"],
            region=rnd.rules.regions[0],
            budget=budget,
        )
