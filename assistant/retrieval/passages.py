"""Passages' text and stored metadata, read from the store once per index generation.

Reading the passages a search returns from Chroma was 2 ms of a 3-4 ms search on the
shipped corpus, its largest part, and in the HTTP server a third of each request's CPU.
A generation's passages never change (a changed file makes a new generation, opened beside
the old one), so each is read the first time a search returns it and kept. Reading them
all while opening would cost 7 s at 100x (Chroma gives about 7,000 rows a second), and
most are never returned. Values that repeat from chunk to chunk (the episode, its title,
the chapter, the speakers) are kept once, and at most ``KEPT`` passages: about 4.4 KB each,
so 90 MB at most, where all of a 100x corpus would be 220 MB a process.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import chromadb

KEPT = 20_000
# Stored as JSON text, different in every chunk: nothing to share.
_UNSHARED = frozenset(["turns", "estimates"])


class PassageTable:
    """Chunk id -> (text, metadata as Chroma stores it), for one generation's collection."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[str, dict]] = {}
        self._shared: dict[object, object] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, ids: list[str], collection: chromadb.Collection) -> list[tuple[str, str, dict]]:
        """(id, text, metadata) of each of ``ids`` that ``collection`` holds, in the given
        order, read from it only if not kept already."""
        before = now = self._rows
        missing = [pid for pid in ids if pid not in before]
        if missing:
            got = collection.get(ids=missing, include=["documents", "metadatas"])
            with self._lock:  # the shared values are written by one thread at a time
                if len(self._rows) + len(missing) > KEPT:
                    # Started afresh: cheaper than keeping an order, and rare. The rows this
                    # call found before stay in ``before``.
                    self._rows, self._shared = {}, {}
                now = self._rows
                for pid, text, meta in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
                ):
                    now[pid] = (text or "", _compact(meta or {}, self._shared))
        out = []
        for pid in ids:
            row = now.get(pid) or before.get(pid)
            if row:
                out.append((pid, *row))
        return out


def _compact(meta: dict, shared: dict[object, object]) -> dict:
    """``meta`` with each repeated value (and every key) one object for the whole table."""
    out = {}
    for key, value in meta.items():
        if key not in _UNSHARED:
            if isinstance(value, str):
                value = shared.setdefault(value, value)
            elif isinstance(value, list):
                value = shared.setdefault(tuple(value), value)
        out[sys.intern(key)] = value
    return out
