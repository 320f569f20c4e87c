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


def new_id(kind: str) -> str:
    """A new id for an object of ``kind`` (a key of :data:`PREFIXES`)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{PREFIXES[kind]}_{''.join(reversed(chars))}"


def looks_like(kind: str, value: str) -> bool:
    """Whether ``value`` has the shape of an id of ``kind``."""
    return bool(_ID_RE.match(value)) and value.startswith(PREFIXES[kind] + "_")
