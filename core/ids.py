"""Opaque, prefixed, time-sortable identifiers (``brd_01J...``).

An id is the object's kind prefix, then 26 Crockford base32 characters: 48 bits of
milliseconds since the epoch followed by 80 random bits, so ids sort by creation time.
"""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

PREFIXES = {
    "workspace": "wsp",
    "api_key": "key",
    "brand": "brd",
    "tribe": "trb",
    "campaign": "cmp",
    "member": "mbr",
    "connection": "con",
    "job": "job",
}

ID_PATTERN = r"^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$"
_ID_RE = re.compile(ID_PATTERN)


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters


def _encode(value: int) -> str:
    """128 bits as 26 Crockford base32 characters, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def new_id(kind: str) -> str:
    """A new id for an object of ``kind`` (a key of :data:`PREFIXES`)."""
    return new_ids(kind, 1)[0]


# A random byte as a random character: 256 is a multiple of 32, so each comes out as often.
_RANDOM_CHARS = bytes.maketrans(bytes(range(256)), (_ALPHABET * 8).encode())


def new_ids(kind: str, n: int) -> list[str]:
    """``n`` new ids for objects of ``kind``, made together.

    The time fills the first 10 characters (48 bits, then two zero bits), the same for all;
    the random bits fill the last 16 (5 bits each), made from one call for random bytes
    without a loop in Python.
    """
    prefix = PREFIXES[kind] + "_" + _encode(int(time.time() * 1000) << 80)[:10]
    noise = os.urandom(16 * n).translate(_RANDOM_CHARS).decode()
    return [prefix + noise[i:i + 16] for i in range(0, 16 * n, 16)]


def looks_like(kind: str, value: str) -> bool:
    """Whether ``value`` has the shape of an id of ``kind``."""
    return bool(_ID_RE.match(value)) and value.startswith(PREFIXES[kind] + "_")
