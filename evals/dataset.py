"""The held-out question/answer set in ``evals/qa.jsonl``: typed loading and validation.

Every gold source is checked against the corpus the way a citation would be built: the quote
must be verbatim in its file and inside one parsed segment, and that segment's episode label,
chapter, timestamp and speaker must be the gold ones. Run ``python -m evals.dataset`` to
validate the shipped set; it prints every problem and exits with 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.config import shipped
from assistant.ingestion.corpus import load_corpus
from assistant.schema import Episode, Segment, format_timestamp

DEFAULT_PATH = Path(__file__).resolve().parent / "qa.jsonl"
DEFAULT_CORPUS = shipped("episodes")

QuestionType = Literal[
    "factoid", "who-said", "when-in-episode", "summary", "cross-episode", "not-covered"
]
Split = Literal["dev", "test"]
Language = Literal["en", "ko"]
SPLITS: tuple[str, ...] = ("dev", "test")

MIN_PAIRS = 60
MIN_KOREAN = 8
MIN_NOT_COVERED = 8
QUOTE_WORDS = (8, 40)
KEY_FACTS = (1, 3)

_WS_RE = re.compile(r"\s+")


class GoldSource(BaseModel):
    """Where the answer is: a verbatim quote and the citation metadata of its segment."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(min_length=1, description="corpus file name, e.g. 000_ffc5dd2c9992a3bc.txt")
    episode: str = Field(min_length=1, description="episode label, e.g. 'EP 81'")
    chapter: str | None = Field(description="chapter or article section; null when none")
    timestamp: str | None = Field(description="format_timestamp of the segment; null if none")
    speaker: str | None = Field(description="speaker of the segment; null for articles")
    quote: str = Field(min_length=1, description="exact substring of the segment's text")


class QAPair(BaseModel):
    """One held-out question with its reference answer, key facts and gold sources."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    split: Split
    type: QuestionType
    language: Language
    question: str = Field(min_length=1)
    reference_answer: str = Field(min_length=1)
    key_facts: list[str] = Field(default_factory=list)
    sources: list[GoldSource] = Field(default_factory=list)


def normalize_ws(text: str) -> str:
    """Collapse every run of whitespace (spaces, newlines, tabs) into one space."""
    return _WS_RE.sub(" ", text).strip()


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<line>"


def load_pairs(path: Path | None = None, split: str | None = None) -> list[QAPair]:
    """Read the JSONL set (default ``evals/qa.jsonl``), optionally only one split.

    Blank lines are skipped. A malformed line raises ``ValueError`` naming the file, the line
    number and the offending field, e.g. ``qa.jsonl:12: field 'sources.0.quote': ...``.
    """
    path = path or DEFAULT_PATH
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    pairs: list[QAPair] = []
    text = path.read_text(encoding="utf-8")
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}:{line_no}: invalid JSON at column {exc.colno}: {exc.msg}"
            ) from exc
        try:
            pair = QAPair.model_validate(data)
        except ValidationError as exc:
            details = "; ".join(
                f"field '{_field_name(err['loc'])}': {err['msg']}" for err in exc.errors()
            )
            raise ValueError(f"{path}:{line_no}: {details}") from exc
        if split is None or pair.split == split:
            pairs.append(pair)
    return pairs


def _find_segment(source: GoldSource, episode: Episode) -> tuple[list[Segment], Segment | None]:
    """Segments whose text contains the quote, and the one agreeing with the gold metadata."""
    quote = normalize_ws(source.quote)
    hits = [seg for seg in episode.segments if quote in normalize_ws(seg.text)]
    for seg in hits:
        if (seg.chapter, format_timestamp(seg.seconds), seg.speaker) == (
            source.chapter,
            source.timestamp,
            source.speaker,
        ):
            return hits, seg
    return hits, None


def _check_source(
    where: str,
    source: GoldSource,
    episode: Episode,
    file_text: str,
) -> tuple[list[str], Segment | None]:
    """Problems with one gold source, and the segment it resolves to (if any)."""
    problems: list[str] = []
    words = len(normalize_ws(source.quote).split())
    low, high = QUOTE_WORDS
    if not low <= words <= high:
        problems.append(f"{where}: quote has {words} words, expected {low}-{high}")
    if normalize_ws(source.quote) not in file_text:
        problems.append(f"{where}: quote is not verbatim in {source.file}: {source.quote!r}")
    if source.episode != episode.label:
        problems.append(
            f"{where}: episode is {source.episode!r} but the parser labels the file "
            f"{episode.label!r}"
        )
    hits, segment = _find_segment(source, episode)
    if not hits:
        problems.append(f"{where}: quote is not inside any parsed segment of {source.file}")
        return problems, None
    if segment is not None:
        return problems, segment
    segment = hits[0]
    expected = {
        "chapter": segment.chapter,
        "timestamp": format_timestamp(segment.seconds),
        "speaker": segment.speaker,
    }
    for name, parsed in expected.items():
        gold = getattr(source, name)
        if gold != parsed:
            problems.append(
                f"{where}: {name} is {gold!r} but the parser gives {parsed!r} "
                f"(segment at line {segment.line_start})"
            )
    return problems, segment


def _check_counts(pairs: list[QAPair]) -> list[str]:
    problems: list[str] = []
    korean = sum(p.language == "ko" for p in pairs)
    not_covered = sum(p.type == "not-covered" for p in pairs)
    if len(pairs) < MIN_PAIRS:
        problems.append(f"only {len(pairs)} pairs, expected at least {MIN_PAIRS}")
    if korean < MIN_KOREAN:
        problems.append(f"only {korean} Korean pairs, expected at least {MIN_KOREAN}")
    if not_covered < MIN_NOT_COVERED:
        problems.append(
            f"only {not_covered} not-covered pairs, expected at least {MIN_NOT_COVERED}"
        )
    present = {p.split for p in pairs}
    for split in SPLITS:
        if split not in present:
            problems.append(f"no pair in the {split!r} split")
    return problems


def validate_pairs(pairs: list[QAPair], corpus_dir: Path) -> list[str]:
    """Check the set against the corpus; returns human-readable problems (empty = valid)."""
    problems: list[str] = []
    corpus = load_corpus(corpus_dir)
    episodes = {ep.source_file: ep for ep in corpus.episodes}
    file_texts: dict[str, str] = {}

    for qid, n in Counter(p.id for p in pairs).items():
        if n > 1:
            problems.append(f"{qid}: id used {n} times")

    for pair in pairs:
        if pair.type == "not-covered":
            if pair.sources:
                problems.append(f"{pair.id}: not-covered pair must have no sources")
            if pair.key_facts:
                problems.append(f"{pair.id}: not-covered pair must have no key facts")
            continue
        if not pair.sources:
            problems.append(f"{pair.id}: {pair.type} pair has no sources")
        low, high = KEY_FACTS
        if not low <= len(pair.key_facts) <= high:
            problems.append(f"{pair.id}: {len(pair.key_facts)} key facts, expected {low}-{high}")
        if pair.type == "cross-episode" and len({s.file for s in pair.sources}) < 2:
            problems.append(f"{pair.id}: cross-episode pair needs sources from 2+ files")

        evidence: list[str] = []
        for i, source in enumerate(pair.sources, start=1):
            where = f"{pair.id}: source {i} ({source.file})"
            episode = episodes.get(source.file)
            if episode is None:
                problems.append(f"{where}: no such parsed file in {corpus_dir}")
                continue
            if source.file not in file_texts:
                raw = (corpus_dir / source.file).read_text(encoding="utf-8", errors="replace")
                file_texts[source.file] = normalize_ws(raw)
            found, segment = _check_source(where, source, episode, file_texts[source.file])
            problems.extend(found)
            evidence.append(normalize_ws(source.quote))
            if segment is not None:
                evidence.append(normalize_ws(segment.text))

        haystack = " ".join(evidence).casefold()
        for fact in pair.key_facts:
            if normalize_ws(fact).casefold() not in haystack:
                problems.append(
                    f"{pair.id}: key fact {fact!r} is in none of its quotes or segments"
                )

    problems.extend(_check_counts(pairs))
    return problems


def describe(pairs: list[QAPair]) -> str:
    """One-line counts by type, language and split."""
    parts = []
    for name in ("type", "language", "split"):
        counts = Counter(getattr(p, name) for p in pairs)
        parts.append(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return f"{len(pairs)} pairs: " + " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Validate a QA set against a corpus; print the problems; 1 if any, else 0."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.dataset", description="Validate the held-out QA set."
    )
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="JSONL file")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="episodes folder")
    args = parser.parse_args(argv)
    try:
        pairs = load_pairs(args.path)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    problems = validate_pairs(pairs, args.corpus)
    for problem in problems:
        print(problem)
    print(describe(pairs))
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("OK: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
