"""Word-shingle Jaccard similarity: how close a member's text is to the campaign's kit message.

Texts are lower-cased and split into words (hashtags and mentions keep their words);
shingles are runs of two consecutive words, or single words for one-word texts. A member
post whose similarity to the kit message is at least :data:`MEGAPHONE` is a copy: the
brand's megaphone in a member's mouth.
"""

from __future__ import annotations

import re
from functools import lru_cache

MEGAPHONE = 0.8
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*", re.UNICODE)


def shingles(text: str, size: int = 2) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return frozenset((w,) for w in words)
    return frozenset(tuple(words[i:i + size]) for i in range(len(words) - size + 1))


@lru_cache(maxsize=256)
def kit_shingles(kit_message: str) -> frozenset[tuple[str, ...]]:
    return shingles(kit_message)


def has_text(text: str | None) -> bool:
    """Whether an event has a text to measure: blank (only spaces) is none, as for the enrichers."""
    return bool(text) and not text.isspace()  # type: ignore[union-attr]


def similarity(text: str, kit_message: str) -> float:
    """Jaccard similarity of the two texts' word shingles, in [0, 1]."""
    a, b = shingles(text), kit_shingles(kit_message)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)
