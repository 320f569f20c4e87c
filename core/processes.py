"""Processes of this machine: whether one still runs, and when it started."""

from __future__ import annotations

import os


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether a process ``pid`` runs on this machine (another user's counts); with ``started``
    (see :func:`process_started`), whether it is still the one that started then, not a later
    one given the same pid (a container restarted runs its server as pid 1 again)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    now = process_started(pid)
    return now is None or now == started  # unknown here: taken as the same


def process_started(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel counts it (clock ticks since the machine
    booted, from ``/proc``); None where there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the name, which may hold anything
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 and fields[19].isdigit() else None  # field 22: starttime
