from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from i18n.format import MAX_AMOUNT
from i18n.format import PARTICLES
from i18n.format import format_amount
from i18n.format import format_date
from i18n.format import format_datetime
from i18n.format import format_time
from i18n.format import parse_amount
from i18n.format import particle
from i18n.format import with_particle

# The 2017 KINTEX review: 23 Feb 2017, 14:00 KST = 05:00 UTC.
REVIEW = datetime(2017, 2, 23, 5, 0, tzinfo=UTC)


def test_datetime_is_shown_in_kst_in_korean():
    assert format_datetime(REVIEW, "ko") == "2017년 2월 23일 (목) 오후 2:00"


def test_datetime_is_shown_in_kst_in_english():
    assert format_datetime(REVIEW, "en") == "Thu 23 Feb 2017, 2:00 PM KST"


def test_epoch_seconds_and_other_zones_give_the_same_kst_text():
    epoch = int(REVIEW.timestamp())
    new_york = REVIEW.astimezone(timezone(timedelta(hours=-5)))
    assert format_datetime(epoch) == format_datetime(new_york) == format_datetime(REVIEW)


def test_date_changes_at_kst_midnight_not_utc_midnight():
    late_utc = datetime(2017, 2, 22, 15, 30, tzinfo=UTC)  # 00:30 KST on the 23rd
    assert format_date(late_utc, "ko") == "2017년 2월 23일 (목)"
    assert format_time(late_utc, "ko") == "오전 12:30"
    assert format_time(late_utc, "en") == "12:30 AM KST"


def test_noon_is_afternoon_twelve():
    assert format_time(datetime(2017, 2, 23, 3, 0, tzinfo=UTC), "ko") == "오후 12:00"


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        format_datetime(datetime(2017, 2, 23, 14, 0))


@pytest.mark.parametrize(
    ("won", "ko", "en"),
    [
        (1_500_000, "1,500,000원", "₩1,500,000"),
        (0, "0원", "₩0"),
        (3_100_000_000, "3,100,000,000원", "₩3,100,000,000"),
        (-500, "-500원", "-₩500"),
    ],
)
def test_amounts_are_grouped_with_the_won_sign(won, ko, en):
    assert format_amount(won, "ko") == ko
    assert format_amount(won, "en") == en


@pytest.mark.parametrize(
    ("text", "won"),
    [
        ("150만원", 1_500_000),
        ("1,500,000", 1_500_000),
        ("1500000원", 1_500_000),
        ("150만", 1_500_000),
        ("1억 2천만원", 120_000_000),
        ("1억2천만원", 120_000_000),
        ("1억 2500만", 125_000_000),
        ("2천5백만원", 25_000_000),
        ("1,500만원", 15_000_000),
        ("3.5억", 350_000_000),
        ("1.5천만원", 15_000_000),
        ("천만원", 10_000_000),
        ("백만원", 1_000_000),
        ("만원", 10_000),
        ("1만 5000원", 15_000),
        ("31억", 3_100_000_000),
        ("₩1,500,000", 1_500_000),
        (" 150 만 원 ", 1_500_000),
        ("１５０만원", 1_500_000),  # full-width digits
        ("0원", 0),
    ],
)
def test_parse_amount_reads_what_residents_type(text, won):
    assert parse_amount(text) == won


@pytest.mark.parametrize(
    "text",
    [
        "",
        "원",
        "  ",
        "abc",
        "-150만원",
        "+100",
        "삼억",
        "150만원입니다",
        "1,50,000",
        "1,5000",
        "1.5",
        "1.2.3만",
        "2만1억",
        "1억억",
        "만만",
        "5백2천만",
        "1.23456만",
        "1 2",
        "1억 0.5",
        "9999조",
        "₩",
    ],
)
def test_parse_amount_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_amount(text)


@given(st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_formatted_amounts_parse_back(won):
    assert parse_amount(format_amount(won, "ko")) == won
    assert parse_amount(format_amount(won, "en")) == won
    assert parse_amount(str(won)) == won


@given(st.integers(0, 9999), st.integers(0, 9999), st.integers(0, 9999), st.sampled_from(["", " "]))
def test_korean_units_parse_to_their_value(eok, man, rest, gap):
    parts = []
    if eok:
        parts.append(f"{eok}억")
    if man:
        parts.append(f"{man}만")
    if rest or not parts:
        parts.append(str(rest))
    assert parse_amount(gap.join(parts) + "원") == eok * 10**8 + man * 10**4 + rest


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("서울", ["서울은", "서울이", "서울을", "서울과", "서울로"]),
        ("부산", ["부산은", "부산이", "부산을", "부산과", "부산으로"]),
        ("수원시", ["수원시는", "수원시가", "수원시를", "수원시와", "수원시로"]),
        ("행복마을", ["행복마을은", "행복마을이", "행복마을을", "행복마을과", "행복마을로"]),
    ],
)
def test_particles_follow_the_final_consonant(word, expected):
    assert [with_particle(word, pair) for pair in PARTICLES] == expected


@pytest.mark.parametrize(
    ("word", "pair", "expected"),
    [
        ("1", "이/가", "이"),  # 일
        ("2", "이/가", "가"),  # 이
        ("3", "을/를", "을"),  # 삼
        ("7", "으로/로", "로"),  # 칠: final ㄹ
        ("8", "으로/로", "로"),  # 팔
        ("6", "으로/로", "으로"),  # 육
        ("10", "은/는", "은"),  # 십
        ("20", "은/는", "은"),  # 이십
        ("100", "은/는", "은"),  # 백
        ("1,000", "을/를", "을"),  # 천
        ("50000", "으로/로", "으로"),  # 오만
        ("1000000000000", "은/는", "는"),  # 일조: no final
        ("0", "이/가", "이"),  # 영
        ("SK", "은/는", "는"),  # 에스케이
        ("URL", "으로/로", "로"),  # 유알엘
        ("LG", "이/가", "가"),  # 엘지
        ("app", "을/를", "을"),
        ("Telegram", "으로/로", "으로"),
        ("email", "으로/로", "로"),
        ("code", "을/를", "를"),
        ('"행복마을"', "을/를", "을"),
        ("수원시(경기)", "은/는", "는"),
        ("제안!", "이/가", "이"),
        ("!!", "은/는", "은(는)"),
        ("", "이/가", "이(가)"),
        ("東京", "으로/로", "으로(로)"),
    ],
)
def test_particles_after_digits_letters_and_punctuation(word, pair, expected):
    assert particle(word, pair) == expected


def test_unknown_particle_pair_is_a_key_error():
    with pytest.raises(KeyError):
        particle("서울", "의")


@given(st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3))
def test_every_hangul_syllable_gets_one_of_the_two_forms(char):
    final = (ord(char) - 0xAC00) % 28
    assert particle(char, "을/를") == ("를" if final == 0 else "을")
    assert particle(char, "으로/로") == ("로" if final in (0, 8) else "으로")
