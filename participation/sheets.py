"""Printable QR codes: enrollment-code sheets (PDF) per community, and QR PNGs for a projector.

An official issues single-use enrollment codes for one community
(``ParticipationService.issue_enrollment_codes``) and prints them with
:func:`enrollment_sheet_pdf`: twelve cards per A4 page, each with the QR code of the bot's
deep link ``https://t.me/<bot>?start=<code>``, the code in a monospace font (for typing it by
hand) and a slot number; the community and round are named at the top of each page, and the
dashed card borders are cut lines. Scanning a card with the phone's camera opens the bot, which
binds that Telegram account to the voter slot, as the 2017 QR codes did.

:func:`qr_png` draws one QR code (e.g. the rotating on-site check-in code shown on a projector).

Texts come from the ``report`` catalog domain (``report.sheet.*``) through a :class:`Texts`
object (``i18n.Catalog`` is one), in the Korean font NanumGothic (Debian ``fonts-nanum``, which
``make system-deps`` installs). Every QR image carries its payload as alternative text, so
screen readers and tests can read it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import segno
from fpdf import FPDF
from PIL import Image

# Where the Korean font is looked for, in order (Debian's fonts-nanum first).
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),
    Path("/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf"),
    Path("/usr/local/share/fonts/NanumGothic.ttf"),
)
# Telegram's deep-link start parameter: up to 64 of A-Z a-z 0-9 _ -.
START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
CARDS_PER_ROW, ROWS_PER_PAGE = 3, 4


class Texts(Protocol):
    """Where people's texts come from: ``i18n.Catalog`` satisfies this."""

    def text(self, locale: str, key: str, /, **params: object) -> str:
        """Return the message ``key`` in ``locale`` with ``params`` filled in."""
        ...


class FontMissing(RuntimeError):
    """No Korean font was found; install Debian's fonts-nanum (``make system-deps``)."""


def korean_font(candidates: Sequence[Path] = FONT_CANDIDATES) -> Path:
    """Return the path of the first Korean TrueType font found.

    Raises:
        FontMissing: none of ``candidates`` exists.
    """
    for path in candidates:
        if path.is_file():
            return path
    raise FontMissing(
        "no Korean font found (looked for "
        + ", ".join(str(p) for p in candidates)
        + "); install Debian's fonts-nanum: make system-deps"
    )


def deep_link(bot_username: str, code: str) -> str:
    """Return ``https://t.me/<bot>?start=<code>``, the link a QR card opens.

    Raises:
        ValueError: a bot name or code Telegram would not accept.
    """
    bot = bot_username.removeprefix("@")
    if not BOT_USERNAME.match(bot):
        raise ValueError(f"not a Telegram bot username: {bot_username!r}")
    if not START_PARAM.match(code):
        raise ValueError("a deep-link code is 1-64 characters of A-Z a-z 0-9 _ -")
    return f"https://t.me/{bot}?start={code}"


def qr_png(payload: str, *, scale: int = 10, border: int = 4) -> bytes:
    """Return a PNG of the QR code of ``payload`` (error correction M, raised when it is free).

    ``scale`` is pixels per module; ``border`` the quiet zone in modules (the standard asks 4).
    """
    out = io.BytesIO()
    segno.make(payload, error="m").save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def _qr_image(payload: str) -> Image.Image:
    """Return the QR code as an 8-bit grey Pillow image, one pixel per module, no border."""
    raw = io.BytesIO(qr_png(payload, scale=1, border=0))
    return Image.open(raw).convert("L")


def enrollment_sheet_pdf(
    codes: Sequence[str],
    *,
    bot_username: str,
    round_title: str,
    community_name: str,
    texts: Texts,
    locale: str = "ko",
    font: Path | None = None,
) -> bytes:
    """Return a PDF (A4) with one cut-out QR card per enrollment code, twelve per page.

    Raises:
        ValueError: no codes, or a code or bot name that cannot be a Telegram deep link.
        FontMissing: no Korean font (see :func:`korean_font`).
    """
    if not codes:
        raise ValueError("no enrollment codes to print")
    links = [deep_link(bot_username, code) for code in codes]
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(texts.text(locale, "report.sheet.title", community=community_name))
    pdf.set_creator("ttabok-gateway")
    pdf.set_auto_page_break(False)
    pdf.add_font("NanumGothic", fname=str(font or korean_font()))
    per_page = CARDS_PER_ROW * ROWS_PER_PAGE
    pages = (len(codes) + per_page - 1) // per_page
    for start in range(0, len(codes), per_page):
        pdf.add_page()
        _page_header(pdf, texts, locale, round_title, community_name, start // per_page, pages)
        for offset, (code, link) in enumerate(zip(codes[start:], links[start:], strict=False)):
            if offset == per_page:
                break
            _card(pdf, texts, locale, offset, start + offset + 1, code, link)
    quiet = logging.getLogger("fontTools.subset")  # it logs every TrueType table it drops
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return bytes(pdf.output())
    finally:
        quiet.setLevel(level)


def _page_header(
    pdf: FPDF, texts: Texts, locale: str, round_title: str, community: str, page: int, pages: int
) -> None:
    pdf.set_font("NanumGothic", size=15)
    pdf.set_xy(12, 10)
    pdf.cell(186, 8, texts.text(locale, "report.sheet.title", community=community))
    pdf.set_font("NanumGothic", size=9)
    pdf.set_xy(12, 18)
    pdf.cell(140, 5, round_title)
    pdf.cell(46, 5, texts.text(locale, "report.sheet.page", page=page + 1, pages=pages), align="R")
    pdf.set_xy(12, 24)
    pdf.multi_cell(186, 4.5, texts.text(locale, "report.sheet.instructions"))


def _card(
    pdf: FPDF, texts: Texts, locale: str, offset: int, slot: int, code: str, link: str
) -> None:
    # 62 mm cards below a 40 mm header: 40 + 4 x 62 = 288 mm of A4's 297. The QR code (36 mm,
    # about 1.1 mm per module) keeps a quiet zone of 4+ modules of white paper around it.
    width, height = 62.0, 62.0
    x = 12 + (offset % CARDS_PER_ROW) * width
    y = 40 + (offset // CARDS_PER_ROW) * height
    with pdf.local_context(draw_color=(150, 150, 150), line_width=0.2):
        pdf.set_dash_pattern(dash=2, gap=2)
        pdf.rect(x, y, width, height)
        pdf.set_dash_pattern()
    pdf.image(_qr_image(link), x=x + 13, y=y + 5, w=36, h=36, alt_text=link)
    pdf.set_font("NanumGothic", size=9)
    pdf.set_xy(x, y + 45.5)
    pdf.cell(width, 5, texts.text(locale, "report.sheet.slot", slot=slot), align="C")
    pdf.set_font("Courier", size=8)
    pdf.set_xy(x, y + 50.5)
    pdf.cell(width, 5, code, align="C")
    pdf.set_font("NanumGothic", size=7)
    pdf.set_xy(x, y + 56)
    pdf.cell(width, 4, texts.text(locale, "report.sheet.single_use"), align="C")
