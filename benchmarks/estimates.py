"""How far off the estimated times inside a chapter are: measured on a transcript whose turns
carry exact times, by hiding them behind chapters and estimating them back."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from assistant.ingestion.chunking import _estimate_times, _pieces
from assistant.ingestion.transcripts import parse_file

# Pseudo-chapters about as long as the shipped episodes' chapters (a median of ~4 minutes).
CHAPTER_SECONDS = 240
NOAM_BROWN = "004_8e7b0f6b4a5f4fe1.txt"  # the shipped transcript whose turns carry times


@dataclass
class EstimateError:
    """Absolute errors, in seconds, of the estimated start of every turn."""

    turns: int
    chapters: int
    median: float
    p90: float
    worst: float
    # What a citation said before estimates: the chapter's start.
    chapter_start_median: float


def measure(path: Path, chapter_seconds: int = CHAPTER_SECONDS) -> EstimateError:
    """Estimate every exactly stamped turn of ``path`` from its word position between
    pseudo-chapter starts (cut every ``chapter_seconds`` at a turn), and compare."""
    episode = parse_file(path).episode
    if episode is None:
        raise ValueError(f"{path}: no episode found")
    turns = [s for s in episode.segments if s.kind == "transcript" and s.exact_time]
    if len(turns) < 2:
        raise ValueError(f"{path}: needs a transcript whose turns carry exact times")
    errors: list[float] = []
    baseline: list[float] = []
    chapters = _chapters(turns, chapter_seconds)
    for i, chapter in enumerate(chapters):
        if i + 1 == len(chapters):
            break  # the last chapter has no next start to estimate towards
        start, end = chapter[0].seconds, chapters[i + 1][0].seconds
        hidden = [t.model_copy(update={"seconds": start, "exact_time": False}) for t in chapter]
        pieces = [p for seg in hidden for p in _pieces(seg, 10_000)]
        _estimate_times(pieces, end)
        firsts = {}
        for piece in pieces:
            firsts.setdefault(id(piece.segment), piece.estimate)
        for true, seg in zip(chapter, hidden, strict=True):
            estimate = firsts.get(id(seg))
            if estimate is not None and true.seconds is not None:
                errors.append(abs(estimate - true.seconds))
                baseline.append(abs(start - true.seconds))
    if not errors:
        raise ValueError(f"{path}: too short to measure")
    errors.sort()
    return EstimateError(
        turns=len(errors),
        chapters=len(chapters) - 1,
        median=statistics.median(errors),
        p90=errors[int(0.9 * (len(errors) - 1))],
        worst=errors[-1],
        chapter_start_median=statistics.median(baseline),
    )


def _chapters(turns: list, seconds: int) -> list[list]:
    out: list[list] = []
    for turn in turns:
        if turn.seconds is None:
            continue
        if not out or turn.seconds >= out[-1][0].seconds + seconds:
            out.append([turn])
        else:
            out[-1].append(turn)
    return out


def main() -> None:
    """``python -m benchmarks.estimates [FILE]``: print the figures for a stamped transcript."""
    import sys

    from assistant.config import shipped

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else shipped("episodes", NOAM_BROWN)
    for seconds in (120, CHAPTER_SECONDS, 600):
        e = measure(path, seconds)
        print(
            f"chapters of ~{seconds // 60} min ({e.chapters}), {e.turns} turns: estimate off by "
            f"median {e.median:g} s, p90 {e.p90:g} s, worst {e.worst:g} s; the chapter start "
            f"alone: median {e.chapter_start_median:g} s"
        )


if __name__ == "__main__":
    main()
