"""Communities (gongdongche) of a round: their names, codes and what makes a list of them valid.

Pure: the service loads the round's regions and the names already taken and passes them in.
A community's ledger code is ASCII and generated (``c001``, ``c002``...): officials only ever
type a name, which stays off the ledger (the entry carries a commitment to it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass

from participation.domain import errors as e

NAME_MAX = 40  # characters; the name heads every page of the enrollment-code sheet
BULK_MAX = 500  # communities added at once
CODE_PREFIX = "c"
_CODE = re.compile(r"c(\d+)")
_SPACES = re.compile(r"\s+")

# problem codes, in the order a line is checked
NAME_EMPTY, NAME_TOO_LONG, NAME_REPEATED, NAME_TAKEN, REGION_UNKNOWN = (
    "name_empty",
    "name_too_long",
    "name_repeated",
    "name_taken",
    "region_unknown",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """What is wrong with row ``row`` (0-based) of a list of communities.

    ``first``: for ``name_repeated``, the row that has the name first.
    """

    row: int
    code: str
    first: int | None = None


def clean_name(name: str) -> str:
    """Return the name as stored: NFC, runs of white space as one space, no edge spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip()


def name_key(name: str) -> str:
    """Return what two names are compared by: no white space, case folded (Korean spacing
    varies from one list to the next, so ``Maeul A`` and ``maeula`` are the same name)."""
    return "".join(clean_name(name).split()).casefold()


def is_code(community: str) -> bool:
    """Return whether ``community`` can be a ledger code (ASCII letters, digits, ``_``)."""
    return community.isascii() and community.replace("_", "").isalnum()


def problems(
    rows: Sequence[tuple[str, str | None]], *, regions: Collection[str], taken: Iterable[str]
) -> list[Problem]:
    """Return every problem of ``rows`` (name, region code; None: not chosen yet), in order.

    A name must be 1..NAME_MAX characters once cleaned, appear once in ``rows`` and not be
    ``taken`` (the round's names); a region must be one of the round's ``regions``.
    """
    out: list[Problem] = []
    taken_keys = {name_key(n) for n in taken}
    seen: dict[str, int] = {}
    for row, (raw, region) in enumerate(rows):
        name, key = clean_name(raw), name_key(raw)
        if not name:
            out.append(Problem(row=row, code=NAME_EMPTY))
        elif len(name) > NAME_MAX:
            out.append(Problem(row=row, code=NAME_TOO_LONG))
        elif key in seen:
            out.append(Problem(row=row, code=NAME_REPEATED, first=seen[key]))
        elif key in taken_keys:
            out.append(Problem(row=row, code=NAME_TAKEN))
        seen.setdefault(key, row)
        if region is not None and region not in regions:
            out.append(Problem(row=row, code=REGION_UNKNOWN))
    return out


def require_valid(
    name: str, region: str, *, regions: Collection[str], taken: Iterable[str]
) -> None:
    """Check one community to add.

    Raises:
        CommunityNameInvalid: the name is empty or longer than NAME_MAX.
        CommunityNameTaken: the round has a community of that name.
        UnknownRegion: the region is not one of the round's.
    """
    for p in problems([(name, region)], regions=regions, taken=taken):
        if p.code in (NAME_EMPTY, NAME_TOO_LONG):
            raise e.CommunityNameInvalid(max=NAME_MAX)
        if p.code == NAME_TAKEN:
            raise e.CommunityNameTaken(name=clean_name(name))
        raise e.UnknownRegion(region=region)


def require_all_valid(
    rows: Sequence[tuple[str, str]], *, regions: Collection[str], taken: Iterable[str]
) -> None:
    """Check a list of communities to add at once.

    Raises:
        CommunitiesInvalid: any problem (all of them in ``.problems``), or no row, or more
            than BULK_MAX.
    """
    if not 0 < len(rows) <= BULK_MAX:
        raise e.CommunitiesInvalid(problems=(), count=len(rows), max=BULK_MAX)
    found = problems(rows, regions=regions, taken=taken)
    if found:
        raise e.CommunitiesInvalid(problems=found, count=len(rows), max=BULK_MAX)


def next_codes(existing: Iterable[str], n: int) -> list[str]:
    """Return ``n`` new codes after the highest ``c<digits>`` code of ``existing``.

    ``c001`` ... ``c999``, then ``c1000``: at least three digits, above every one used.
    """
    top = max((int(m.group(1)) for c in existing if (m := _CODE.fullmatch(c))), default=0)
    return [f"{CODE_PREFIX}{number:03d}" for number in range(top + 1, top + n + 1)]
