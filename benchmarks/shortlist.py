"""How often a large index's shortlisted dense search ranks differently from an exact scan
of every vector, and what each costs: ``python -m benchmarks.shortlist [PASSAGES]``.

The synthetic 100x corpus repeats each real chunk a hundred times (one vector, a hundred
rows), which says nothing about a projection's errors. Here the space is made of distinct
passages: spans of 30-160 words cut at seeded random places from the shipped episodes and
embedded with the default embedder (50,000 take about 5 minutes on two cores). Every eval
question is ranked against them exactly and shortlisted, with the shipped directions and
shortlist size and a few others beside them.
"""

from __future__ import annotations

import random
import sys
import time

import numpy as np

from assistant.config import Settings
from assistant.index.embeddings import get_embedder
from assistant.retrieval.dense import RANK, DenseSpace
from assistant.retrieval.search import top_rows
from evals.dataset import load_pairs

TOP = 30  # what each dense ranking hands to the fusion (`retrieval.candidates`)
# Other choices beside the shipped one (RANK directions, the default `retrieval.shortlist`).
TRIED = [(128, 512), (128, 2048), (160, 1024), (RANK, 512)]


def passages(settings: Settings, count: int, seed: int = 0) -> list[str]:
    """``count`` spans of the shipped episodes' words, at seeded random places."""
    words: list[str] = []
    for path in sorted(settings.index.corpus_dir.glob("*.txt")):
        words += path.read_text(encoding="utf-8").split()
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(30, 160)
        start = rng.randrange(0, len(words) - n)
        out.append(" ".join(words[start : start + n]))
    return out


def main(count: int = 50_000) -> None:
    """Print, per projection and shortlist, rankings changed and milliseconds a search."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # as the server runs
    settings = Settings()
    embedder = get_embedder(settings, settings.index.embedder)
    texts = passages(settings, count)
    started = time.perf_counter()
    matrix = np.vstack(
        [
            np.asarray(embedder.embed_passages(texts[i : i + 64]), dtype=np.float32)
            for i in range(0, len(texts), 64)
        ]
    )
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    print(f"{count} passages embedded in {time.perf_counter() - started:.0f} s")
    questions = [embedder.embed_query(p.question) for p in load_pairs()]
    exact = [top_rows(matrix @ q, None, TOP) for q in questions]
    started = time.perf_counter()
    for q in questions:
        matrix @ q
    full_ms = (time.perf_counter() - started) / len(questions) * 1000
    print(f"exact scan: {full_ms:.2f} ms a question")
    for rank, shortlist in TRIED:
        space = DenseSpace(matrix, shortlist_above=1, shortlist=shortlist, rank=rank)
        started = time.perf_counter()
        scored = [space.scores(q, [None]) for q in questions]
        ms = (time.perf_counter() - started) / len(questions) * 1000
        shortlisted = [top_rows(s, None, TOP) for s in scored]
        changed = sum(not np.array_equal(a, b) for a, b in zip(exact, shortlisted, strict=True))
        lost = sum(len(set(a) - set(b)) for a, b in zip(exact, shortlisted, strict=True))
        print(
            f"{rank} directions, shortlist {shortlist}: top {TOP} changed for {changed} of "
            f"{len(questions)} questions ({lost} rows lost), {ms:.2f} ms a question"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
