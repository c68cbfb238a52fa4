"""Formatting for people: KST dates, won amounts, amount input, and Korean particles.

Everything here is pure and takes the locale as an argument (``"ko"`` or ``"en"``).

Dates are shown in Korea Standard Time (UTC+9, no daylight saving), whatever the input zone:
``2017년 2월 23일 (목) 오후 2:00`` in Korean, ``Thu 23 Feb 2017, 2:00 PM KST`` in English.

Amounts are integer 원: ``1,500,000원`` in Korean, ``₩1,500,000`` in English.

:func:`parse_amount` reads what residents type for a budget. Accepted (spaces anywhere between
parts, an optional trailing ``원`` and leading ``₩``, full-width digits folded by NFKC):

* plain digits, with or without correct 3-digit comma groups: ``1500000``, ``1,500,000``;
* Korean units, largest first, each at most once: ``150만원``, ``1억 2천만원``, ``1억2500만``,
  ``2천5백만원``, ``1만 5000원``; a unit with no number before it counts once (``천만원``,
  ``백만원``, ``만원``); numbers before a unit may carry comma groups (``1,500만원``);
* a decimal before a unit (``3.5억``, ``1.5천만원``) when the result is a whole number of 원
  (``1.23456만`` is refused: it is not).

Everything else raises :class:`ValueError`: empty input, signs, letters, Hangul numerals
(``삼억``), units out of order or repeated (``2만1억``, ``1억억``), broken comma groups
(``1,50,000``), decimals without a unit (``1.5``), and amounts above 2^53 - 1 (the ledger's
integer limit).

Particles (조사) after a variable word follow its last sound:
:func:`particle` picks one of 은/는, 이/가, 을/를, 과/와, 으로/로 by the
final consonant (받침) of the last Hangul syllable; 으로/로 treats a final
ㄹ like no final consonant (서울로, 부산으로). Digits are read as
Sino-Korean numbers by the sound read last (일, 이, 십, 천, 만, 조):
``3은``, ``2는``, ``7로``, ``10은``, ``1,000을``, ``1000000000000는``.
Latin letters: an all-capital word is read letter by letter (``SK는``,
``LG는``, ``URL은``), any other word by its ending (``app은``,
``Telegram으로``, ``email로``, ``code는``). Trailing quotes, brackets,
punctuation and a trailing parenthesised aside are skipped
(``"행복마을"을``, ``수원시(경기)는``). When nothing can be read,
both forms are shown the way Korean forms do: ``은(는)``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from decimal import Decimal

KST = timezone(timedelta(hours=9), "KST")
MAX_AMOUNT = 2**53 - 1

_WEEKDAYS_KO = "월화수목금토일"
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def to_kst(moment: datetime | int) -> datetime:
    """Return ``moment`` (an aware datetime or UTC epoch seconds) as a KST datetime.

    Raises:
        ValueError: a naive datetime, whose zone would be a guess.
    """
    if isinstance(moment, int):
        return datetime.fromtimestamp(moment, UTC).astimezone(KST)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware datetime or epoch seconds")
    return moment.astimezone(KST)


def format_date(moment: datetime | int, locale: str = "ko") -> str:
    """Return the KST date: ``2017년 2월 23일 (목)`` / ``Thu 23 Feb 2017``."""
    t = to_kst(moment)
    if locale == "ko":
        return f"{t.year}년 {t.month}월 {t.day}일 ({_WEEKDAYS_KO[t.weekday()]})"
    return f"{_WEEKDAYS_EN[t.weekday()]} {t.day} {_MONTHS_EN[t.month - 1]} {t.year}"


def format_time(moment: datetime | int, locale: str = "ko") -> str:
    """Return the KST time of day: ``오후 2:00`` / ``2:00 PM KST`` (12-hour clock)."""
    t = to_kst(moment)
    hour12 = t.hour % 12 or 12
    if locale == "ko":
        return f"{'오전' if t.hour < 12 else '오후'} {hour12}:{t.minute:02d}"
    return f"{hour12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'} KST"


def format_datetime(moment: datetime | int, locale: str = "ko") -> str:
    """Return date and time in KST: ``2017년 2월 23일 (목) 오후 2:00``."""
    if locale == "ko":
        return f"{format_date(moment, locale)} {format_time(moment, locale)}"
    return f"{format_date(moment, locale)}, {format_time(moment, locale)}"


def format_amount(won: int, locale: str = "ko") -> str:
    """Return an amount of 원: ``1,500,000원`` in Korean, ``₩1,500,000`` in English."""
    sign = "-" if won < 0 else ""
    digits = f"{abs(won):,}"
    if locale == "ko":
        return f"{sign}{digits}원"
    return f"{sign}₩{digits}"


# --- parse_amount -------------------------------------------------------------------------

_BIG_UNITS = {"조": 10**12, "억": 10**8, "만": 10**4}
_SMALL_UNITS = {"천": 1000, "백": 100, "십": 10}
# A number: digits with optional correct comma groups, optional decimal part.
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_TOKEN = re.compile(rf"({_NUMBER})|([조억만천백십])|(\S)")


def _tokens(text: str) -> list[tuple[str, str]]:
    """Split ``text`` into ("n", number) and ("u", unit) tokens, refusing anything else."""
    out: list[tuple[str, str]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        gap = text[position : match.start()]
        if gap.strip():
            raise ValueError(f"unexpected {gap.strip()!r} in amount")
        position = match.end()
        number, unit, other = match.groups()
        if other is not None:
            raise ValueError(f"unexpected {other!r} in amount")
        if number is not None:
            if out and out[-1][0] == "n" and not gap:
                raise ValueError("malformed number in amount")
            out.append(("n", number))
        else:
            out.append(("u", unit))
    return out


def _group_value(tokens: list[tuple[str, str]]) -> Decimal:
    """Value of one group below 만: ``2천5백``, ``2500``, ``천``, ``3.5``."""
    total = Decimal(0)
    last_small = 10**9
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "n" and i + 1 < len(tokens) and tokens[i + 1][0] == "u":
            number, unit = Decimal(value.replace(",", "")), tokens[i + 1][1]
            i += 2
        elif kind == "n":
            if i != len(tokens) - 1:
                raise ValueError("two numbers in a row in amount")
            total += Decimal(value.replace(",", ""))
            break
        else:
            number, unit = Decimal(1), value
            i += 1
        scale = _SMALL_UNITS[unit]
        if scale >= last_small:
            raise ValueError(f"unit {unit!r} out of order in amount")
        last_small = scale
        total += number * scale
    return total


def parse_amount(text: str) -> int:
    """Return the whole number of 원 written in ``text`` (``"150만원"`` -> 1500000).

    The accepted forms are listed in the module docstring.

    Raises:
        ValueError: anything that is not exactly one non-negative whole amount of 원.
    """
    cleaned = unicodedata.normalize("NFKC", text).strip()
    cleaned = cleaned.removeprefix("₩").removesuffix("원").strip()
    if not cleaned:
        raise ValueError("empty amount")
    tokens = _tokens(cleaned)
    if not tokens:
        raise ValueError("empty amount")
    total = Decimal(0)
    last_big = 10**16
    group: list[tuple[str, str]] = []
    for kind, value in tokens:
        if kind == "u" and value in _BIG_UNITS:
            scale = _BIG_UNITS[value]
            if scale >= last_big:
                raise ValueError(f"unit {value!r} out of order in amount")
            last_big = scale
            total += (_group_value(group) if group else Decimal(1)) * scale
            group = []
        else:
            group.append((kind, value))
    if group:
        total += _group_value(group)
    has_unit = any(kind == "u" for kind, _ in tokens)
    if not has_unit and any("." in value for _, value in tokens):
        raise ValueError("a decimal amount needs a unit such as 만 or 억")
    whole = total.to_integral_value()
    if whole != total:
        raise ValueError("amount is not a whole number of won")
    if whole > MAX_AMOUNT:
        raise ValueError("amount is too large")
    return int(whole)


# --- particles ------------------------------------------------------------------------------

PARTICLES: dict[str, tuple[str, str]] = {
    # pair: (after a final consonant, after a vowel)
    "은/는": ("은", "는"),
    "이/가": ("이", "가"),
    "을/를": ("을", "를"),
    "과/와": ("과", "와"),
    "으로/로": ("으로", "로"),
}
_RIEUL = 8  # index of ㄹ among the 28 finals (0 = none)
_NO_FINAL, _FINAL, _FINAL_RIEUL = 0, 1, 2

# Sino-Korean reading of a last digit: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGIT_FINAL = (
    *(_FINAL, _FINAL_RIEUL, _NO_FINAL, _FINAL, _NO_FINAL),
    *(_NO_FINAL, _FINAL, _FINAL_RIEUL, _FINAL_RIEUL, _NO_FINAL),
)
# Letter names as read in Korean: 엘, 알 end in ㄹ; 엠, 엔 in a consonant; the rest in a vowel
# (에이, 비, 씨, 디, ..., 에프 = 에프, 에이치, 에스, 엑스 end in a vowel syllable).
_LETTER_FINAL = {"l": _FINAL_RIEUL, "r": _FINAL_RIEUL, "m": _FINAL, "n": _FINAL}
_WORD_END_FINAL = (("ng", _FINAL), ("l", _FINAL_RIEUL))
_WORD_END_CONSONANTS = set("mnkpt")
_SKIPPED_TAIL = re.compile(r"(?:\s|[\"'“”‘’「」『』《》〈〉»«.,!?;:~…\]\}>]|\([^()]*\))+$")


def _hangul_final(char: str) -> int | None:
    code = ord(char) - 0xAC00
    if not 0 <= code < 11172:
        return None
    final = code % 28
    if final == 0:
        return _NO_FINAL
    return _FINAL_RIEUL if final == _RIEUL else _FINAL


def _number_final(digits: str) -> int:
    value = int(digits)
    if value == 0:
        return _FINAL  # 영
    zeros = len(digits) - len(digits.rstrip("0"))
    if zeros == 0:
        return _DIGIT_FINAL[value % 10]
    # The unit read last: 십 백 천 (1-3 zeros), 만 (4-7), 억 (8-11), 조 (12-15), 경 (16+).
    return _NO_FINAL if 12 <= zeros <= 15 else _FINAL


def _latin_final(word: str) -> int:
    if len(word) == 1 or word.isupper():
        return _LETTER_FINAL.get(word[-1].lower(), _NO_FINAL)
    lower = word.lower()
    for ending, final in _WORD_END_FINAL:
        if lower.endswith(ending):
            return final
    return _FINAL if lower[-1] in _WORD_END_CONSONANTS else _NO_FINAL


def _final_sound(word: str) -> int | None:
    """Return how ``word`` ends when read aloud, or None when it cannot be read."""
    stripped = _SKIPPED_TAIL.sub("", word)
    if not stripped:
        return None
    last = stripped[-1]
    hangul = _hangul_final(last)
    if hangul is not None:
        return hangul
    if last.isascii() and last.isdigit():
        match = re.search(r"[0-9,]*[0-9]$", stripped)
        assert match is not None
        return _number_final(match.group().replace(",", ""))
    if last.isascii() and last.isalpha():
        match = re.search(r"[A-Za-z]+$", stripped)
        assert match is not None
        return _latin_final(match.group())
    return None


def particle(word: str, pair: str) -> str:
    """Return the particle of ``pair`` (``"은/는"``, ``"이/가"``, ...) that follows ``word``.

    Raises:
        KeyError: ``pair`` is not one of :data:`PARTICLES`.
    """
    with_final, without_final = PARTICLES[pair]
    final = _final_sound(word)
    if final is None:
        return f"{with_final}({without_final})"
    if final == _NO_FINAL or (final == _FINAL_RIEUL and pair == "으로/로"):
        return without_final
    return with_final


def with_particle(word: str, pair: str) -> str:
    """Return ``word`` followed by the right particle of ``pair``: ``서울로``, ``제안을``."""
    return word + particle(word, pair)
