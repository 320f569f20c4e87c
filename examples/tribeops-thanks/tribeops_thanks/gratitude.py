"""Telling thanks from text: a short phrase list over six languages, with declines taken out first.

Lexical on purpose: it runs on every event at ingest, so it must be fast and predictable,
and a brand team can read the lists below and know exactly what counts. Declines ("no
thanks", "thanks for nothing", "grazie al cavolo") are removed before the search, so a
polite refusal or a sarcastic thanks does not count as gratitude.
"""

from __future__ import annotations

import re
import unicodedata

THANKS: tuple[str, ...] = (
    # English
    "thanks", "thank you", "thank u", "thx", "tysm", "many thanks", "much appreciated", "grateful", "thankful",
    # Italian
    "grazie", "grazie mille", "ringrazio", "ringraziamo", "ringraziamenti",
    # Spanish, French, German, Portuguese
    "gracias", "muchas gracias", "merci", "merci beaucoup", "danke", "dankeschon", "vielen dank",
    "obrigado", "obrigada",
)
"""Phrases that thank someone, written as :func:`normalise` leaves them (no accents, lower case)."""

DECLINES: tuple[str, ...] = (
    "no thanks", "no thank you", "thanks but no thanks", "thanks for nothing", "no grazie", "grazie al cavolo",
    "grazie per niente", "no gracias", "non merci", "nein danke",
)
"""Phrases that use a thanking word without thanking: removed before :data:`THANKS` is searched."""


def _alternation(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "thanks but no thanks" wins over "no thanks" at the same position.
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p).replace(r"\ ", " ") for p in ordered) + r")\b")


_THANKS = _alternation(THANKS)
_DECLINES = _alternation(DECLINES)
_NOT_WORD = re.compile(r"[^\w]+")


def normalise(text: str) -> str:
    """Lower case, accents dropped, punctuation and emoji turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_WORD.sub(" ", plain).strip()


def is_grateful(text: str | None) -> bool:
    """Whether ``text`` thanks someone; no text (a like, a follow) thanks no one."""
    if not text:
        return False
    return _THANKS.search(_DECLINES.sub(" ", normalise(text))) is not None
