"""Provinces and their cities/counties (si-gun) as data: ledger codes, catalog keys for names.

The default is Gyeonggi-do with its 31 cities/counties (28 si, 3 gun), each with its 5-digit
administrative division code. Another province replaces it with :meth:`Province.from_dict`
(for example from a TOML file) and its own ``participation.region.<code>`` catalog entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """One city/county: ``code`` (ASCII, used in the ledger), administrative code, kind."""

    code: str
    admin_code: str
    kind: str  # "si" (city) | "gun" (county)

    @property
    def name_key(self) -> str:
        """Return the catalog key of the region's name."""
        return f"participation.region.{self.code}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Province:
    """A province and its regions, in the order they are listed to people."""

    code: str
    regions: tuple[Region, ...]

    @property
    def name_key(self) -> str:
        """Return the catalog key of the province's name."""
        return f"participation.province.{self.code}"

    @property
    def codes(self) -> tuple[str, ...]:
        """Return the region codes in listing order."""
        return tuple(r.code for r in self.regions)

    def get(self, code: str) -> Region | None:
        """Return the region with ``code``, or None."""
        return next((r for r in self.regions if r.code == code), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Province:
        """Build a province from ``{"code": str, "regions": [{"code","admin_code","kind"}]}``.

        Raises:
            ValueError: a missing field, a duplicate region code, or a non-ASCII code.
        """
        code = data.get("code")
        items = data.get("regions")
        if not isinstance(code, str) or not isinstance(items, list) or not items:
            raise ValueError("a province needs a code and a non-empty list of regions")
        regions = []
        for item in items:
            if not isinstance(item, Mapping):
                raise ValueError("each region is a table")
            rc, admin, kind = item.get("code"), item.get("admin_code", ""), item.get("kind", "si")
            if not (isinstance(rc, str) and rc.isascii() and rc):
                raise ValueError(f"region code {rc!r} must be a non-empty ASCII string")
            regions.append(Region(code=rc, admin_code=str(admin), kind=str(kind)))
        if len({r.code for r in regions}) != len(regions):
            raise ValueError("duplicate region code")
        return cls(code=code, regions=tuple(regions))


def _gyeonggi() -> Province:
    table = (
        ("suwon", "41110"), ("seongnam", "41130"), ("uijeongbu", "41150"),
        ("anyang", "41170"), ("bucheon", "41190"), ("gwangmyeong", "41210"),
        ("pyeongtaek", "41220"), ("dongducheon", "41250"), ("ansan", "41270"),
        ("goyang", "41280"), ("gwacheon", "41290"), ("guri", "41310"),
        ("namyangju", "41360"), ("osan", "41370"), ("siheung", "41390"),
        ("gunpo", "41410"), ("uiwang", "41430"), ("hanam", "41450"),
        ("yongin", "41460"), ("paju", "41480"), ("icheon", "41500"),
        ("anseong", "41550"), ("gimpo", "41570"), ("hwaseong", "41590"),
        ("gwangju", "41610"), ("yangju", "41630"), ("pocheon", "41650"),
        ("yeoju", "41670"), ("yeoncheon", "41800"), ("gapyeong", "41820"),
        ("yangpyeong", "41830"),
    )  # fmt: skip
    regions = tuple(
        Region(code=code, admin_code=admin, kind="gun" if admin >= "41800" else "si")
        for code, admin in table
    )
    return Province(code="gyeonggi", regions=regions)


GYEONGGI: Province = _gyeonggi()
"""Gyeonggi-do and its 31 cities/counties (the default province of a round)."""
