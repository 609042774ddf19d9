"""recall@5 of search results on questions with gold sources, synthetic copies counted."""

from __future__ import annotations


def recall_at_5(pairs: list, results: list[list], origins: dict) -> tuple[float, float]:
    """recall@5 over test questions with gold sources: a gold passage among the top five.

    A passage is gold when it is from the gold file and holds the gold quote, or (transcripts)
    its time span holds the gold timestamp. In a synthetic corpus a copy of the gold file
    counts too (same text; its chapter times mapped back); ``strict`` counts the real file only.
    """
    import math

    from assistant.schema import parse_timestamp
    from evals.dataset import normalize_ws

    def gold(hit: object, source: object, strict: bool) -> bool:
        origin = origins.get(hit.source_file)
        if strict and origin is not None and origin.copy:
            return False
        if (origin.file if origin else hit.source_file) != source.file:
            return False
        if normalize_ws(source.quote) in normalize_ws(hit.text):
            return True
        if hit.kind != "transcript" or source.timestamp is None or hit.seconds is None:
            return False
        start, end = (
            origin.span(hit.seconds, hit.end_seconds) if origin else (hit.seconds, hit.end_seconds)
        )
        if start is None:
            return False
        return start <= parse_timestamp(source.timestamp) <= (end if end is not None else math.inf)

    scored = [(p, hits) for p, hits in zip(pairs, results, strict=True) if p.sources]
    out = []
    for strict in (False, True):
        found = [any(gold(h, s, strict) for h in hits[:5] for s in p.sources) for p, hits in scored]
        out.append(round(sum(found) / max(1, len(found)), 3))
    return out[0], out[1]
