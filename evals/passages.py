"""Passages straight from the index, by id or all of them: what a run needs besides search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.schema import Hit

if TYPE_CHECKING:
    from assistant.api import Assistant


def index_passages(bot: Assistant, ids: Sequence[str] | None = None) -> list[Hit]:
    """The passages with these ids (citations outside ``answer.passages``), or with no ids
    every passage of the index, sorted by id (gold passages, the judge's check)."""
    from assistant.retrieval.search import hit_from  # lazy: `--help` loads no Chroma

    if ids is not None and not ids:
        return []
    collection = bot.retriever().collection
    include = ["documents", "metadatas"]
    got = (
        collection.get(include=include)
        if ids is None
        else collection.get(list(ids), include=include)
    )
    hits = [
        hit_from(pid, doc, meta, 0.0, None)
        for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    return hits if ids is not None else sorted(hits, key=lambda h: h.id)
