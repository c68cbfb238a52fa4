"""Preset personas of the web chat: residents, judges and an official, with fixed ids.

The ids are stable so that a rehearsal can configure them (for example as the officials'
Telegram ids) before anyone opens the page. Names come from the sandbox catalog.
"""

from __future__ import annotations

from i18n import Catalog
from sandbox.world import World

ROLES = ("resident", "judge", "official")

# (catalog key of the name, role, language, fixed id)
PRESETS: tuple[tuple[str, str, str, int], ...] = (
    ("sandbox.persona.resident_1", "resident", "ko", 7_000_000_001),
    ("sandbox.persona.resident_2", "resident", "ko", 7_000_000_002),
    ("sandbox.persona.resident_3", "resident", "ko", 7_000_000_003),
    ("sandbox.persona.resident_en", "resident", "en", 7_000_000_004),
    ("sandbox.persona.judge_1", "judge", "ko", 7_000_000_101),
    ("sandbox.persona.judge_2", "judge", "ko", 7_000_000_102),
    ("sandbox.persona.official_1", "official", "ko", 7_000_000_201),
)


def seed_personas(world: World, catalog: Catalog) -> None:
    """Create the preset personas (once per world)."""
    for key, role, language, user_id in PRESETS:
        if user_id not in world.users:
            name = catalog.text(language, key)
            world.create_user(name, id=user_id, role=role, language_code=language)
