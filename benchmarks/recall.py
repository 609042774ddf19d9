"""recall@5 of search results on questions with gold sources, synthetic copies counted."""

from __future__ import annotations


def recall_at_5(pairs: list, results: list[list], origins: dict) -> tuple[float, float]:
    """recall@5 over test questions with gold sources: a gold passage among the top five.

    A passage is gold when it is from the gold file and holds the gold quote, or (transcripts)
    its time span holds the gold timestamp. In a synthetic corpus a copy of the gold file
    counts too (same text; its chapter times mapped back); ``strict`` counts the real file only.
    """
    from assistant.schema import Hit
    from evals.dataset import GoldSource
    from evals.scoring import is_gold_passage

    def gold(hit: Hit, source: GoldSource, strict: bool) -> bool:
        origin = origins.get(hit.source_file)
        if origin is None:
            return is_gold_passage(hit, source)
        if strict and origin.copy:
            return False
        # The eval's rule, on the passage as it sits in the real file.
        seconds, end_seconds = origin.span(hit.seconds, hit.end_seconds)
        real = {"source_file": origin.file, "seconds": seconds, "end_seconds": end_seconds}
        return is_gold_passage(hit.model_copy(update=real), source)

    scored = [(p, hits) for p, hits in zip(pairs, results, strict=True) if p.sources]
    out = []
    for strict in (False, True):
        found = [any(gold(h, s, strict) for h in hits[:5] for s in p.sources) for p, hits in scored]
        out.append(round(sum(found) / max(1, len(found)), 3))
    return out[0], out[1]
