"""Interpreter settings for tribeops' long-running processes (the server, the importer)."""

from __future__ import annotations

import gc

# Young objects a collection waits for. Ingest makes and drops a few hundred thousand objects
# per second (decoded batches, rows): at Python's default of 700 the collector runs hundreds of
# times a second, and its pauses hold up the batch that has the write lock.
YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Set up the collector once start-up is done: what it loaded (modules, the app, plugins)
    is frozen out of every later collection, and young objects are collected in larger, rarer
    rounds. Call it after the app is built."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
