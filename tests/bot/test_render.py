"""Shortening texts (bot/render.py ``short``): at a line or a word, never inside a grapheme
cluster, always within the limit; the room of a card shared between its body and its answer."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.render import fair_shares
from bot.render import grapheme_boundary
from bot.render import short

SENTENCE = "버스 정류장 옆에 그늘막을 세워 주세요. "


def test_a_text_that_fits_is_unchanged() -> None:
    assert short("짧은 글", 4) == "짧은 글"
    assert short("", 0) == ""


def test_a_korean_text_is_cut_between_words() -> None:
    text = SENTENCE * 5
    cut = short(text, 30)
    assert cut == "버스 정류장 옆에 그늘막을 세워 주세요. 버스 정류장…"
    assert len(cut) <= 30


def test_a_line_break_near_the_end_wins_over_a_later_space() -> None:
    text = "첫째 문단의 마지막 문장인데 조금 길어요.\n둘째 문단은 조금 더 이어져요 그리고 또"
    assert short(text, 30) == "첫째 문단의 마지막 문장인데 조금 길어요.…"
    far = "짧은 줄\n" + "아주 긴 둘째 줄이 이어져요 " * 3
    assert short(far, 30).startswith("짧은 줄\n아주 긴")  # a break far back is not worth it


def test_a_text_without_spaces_is_cut_between_clusters() -> None:
    hangul = unicodedata.normalize("NFD", "따복공동체" * 4)  # syllables in conjoining jamo
    cut = short(hangul, 8)
    assert unicodedata.normalize("NFC", cut[:-1]) == "따복"
    thumbs = "👍🏽" * 10  # an emoji and its skin tone
    assert short(thumbs, 6) == "👍🏽👍🏽…"
    family = "👨\u200d👩\u200d👧" * 3  # one cluster of five code points
    assert short(family, 9) == "👨\u200d👩\u200d👧…"
    flags = "🇰🇷" * 5
    assert short(flags, 6) == "🇰🇷🇰🇷…"
    accents = "e\u0301" * 10
    assert short(accents, 6) == "e\u0301e\u0301…"


@pytest.mark.parametrize(
    ("text", "i", "boundary"),
    [
        ("a\r\nb", 2, False),
        ("ab", 1, True),
        ("e\u0301", 1, False),
        ("\u1112\u1161\u11ab", 1, False),  # L V T: one syllable
        ("\u1112\u1161\u11ab", 2, False),
        ("\u1100\u1100\u1161", 1, False),  # L L V
        ("한\u1100", 1, True),  # a precomposed syllable, then a new leading jamo
        ("🇰🇷🇯🇵", 1, False),
        ("🇰🇷🇯🇵", 2, True),
        ("🇰🇷🇯🇵", 3, False),
        ("x\u200d👩", 2, False),
    ],
)
def test_grapheme_boundaries(text: str, i: int, boundary: bool) -> None:
    assert grapheme_boundary(text, i) is boundary


@given(text=st.text(max_size=300), limit=st.integers(0, 320))
def test_a_shortened_text_is_a_start_of_the_text_within_the_limit(text: str, limit: int) -> None:
    cut = short(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
    elif cut:
        assert cut.endswith("…") and text.startswith(cut[:-1])


@given(
    text=st.text(
        st.characters(exclude_categories=["Zs", "Zl", "Zp", "Cc"]), min_size=2, max_size=200
    )
)
def test_a_cut_without_spaces_falls_between_clusters(text: str) -> None:
    cut = short(text, len(text) - 1)
    assert grapheme_boundary(text, len(cut) - 1)


def test_fair_shares() -> None:
    assert fair_shares(100, [30, 200]) == [30, 70]  # the short one whole, the rest to the other
    assert fair_shares(100, [200, 200]) == [50, 50]
    assert fair_shares(100, [10, 20]) == [10, 20]
    assert fair_shares(-5, [10, 20]) == [0, 0]
