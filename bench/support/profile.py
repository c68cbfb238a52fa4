"""Summarize a py-spy `--format raw` profile (collapsed stacks) into where the time goes.

`py-spy record -f raw` writes one line per distinct stack: `frame;frame;... count`, each frame
`function (file:line)`. `summarize()` returns the share of samples spent inside each of a
few named areas (a sample counts for the innermost area on its stack that matches) and the
top functions by inclusive share, for a benchmark to print.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (area, substring of a frame's "function (file" text), innermost match wins
AREAS = [
    ("SQL: commit (fsync)", "do_commit ("),
    ("SQL: execute", "do_execute ("),
    ("SQL: SQLAlchemy Core/ORM around it", "sqlalchemy/"),
    ("Bot API HTTP client (httpx/httpcore)", "httpcore/"),
    ("Bot API HTTP client (httpx/httpcore)", "httpx/"),
    ("Bot API HTTP client (aiohttp)", "aiohttp/"),
    ("Bot API HTTP client (aiohttp)", "yarl/"),
    ("Bot API HTTP client (aiohttp)", "multidict/"),
    ("Bot API HTTP client (aiohttp)", "bot/transport.py"),
    ("Redis client", "redis/"),
    ("logging (structlog)", "structlog/"),
    ("ledger: sign/hash/canonical", "ledger/"),
    ("participation service", "participation/"),
    ("bot handlers", "bot/"),
    ("PTB (telegram/ objects, dispatch)", "telegram/"),
    ("gateway worker", "gateway/"),
    ("asyncio/threads plumbing", "asyncio/"),
    ("asyncio/threads plumbing", "concurrent/futures"),
    ("asyncio/threads plumbing", "threading.py"),
]


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def summarize(
    path: Path, top: int = 25
) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """Return (samples, [(area, share)], [(function, inclusive share)])."""
    stacks = load(path)
    total = sum(n for _, n in stacks) or 1
    areas: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        area = "other"
        for frame in reversed(frames):
            hit = next((name for name, key in AREAS if key in frame), None)
            if hit is not None:
                area = hit
                break
        areas[area] += n
        seen = set()
        for frame in frames:
            name = frame.split(":")[0] + ")" if " (" in frame else frame
            if name not in seen:
                seen.add(name)
                inclusive[name] += n
    return (
        total,
        [(k, v / total) for k, v in areas.most_common()],
        [(k, v / total) for k, v in inclusive.most_common(top)],
    )
