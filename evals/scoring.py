"""Scoring one answer against its Q&A pair: the gold-passage rule, retrieval ranks, gold
citations, verbatim quotes and key facts.

The gold-passage rule (``is_gold_passage``) is the one the bench's recall@5 uses too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from difflib import SequenceMatcher

from assistant.schema import Answer, Citation, Hit, parse_timestamp
from assistant.text import detect_language
from evals.claims import canon, is_verbatim
from evals.dataset import GoldSource, QAPair, normalize_ws
from evals.evidence import Evidence
from evals.judges.verdicts import LLAMAINDEX_JUDGE, OFFLINE_JUDGE, Judgement
from evals.models import CitationResult, PassageResult, Scores


def is_gold_passage(hit: Hit, source: GoldSource) -> bool:
    """Whether a retrieved passage is where the gold source is.

    It must be from the gold file and contain the gold quote, or (transcripts only) have a
    time span ``[seconds, end_seconds]`` that holds the gold timestamp. The last passage of
    a transcript has no end: it runs to the end of the episode.
    """
    if hit.source_file != source.file:
        return False
    if normalize_ws(source.quote) in normalize_ws(hit.text):
        return True
    if hit.kind != "transcript" or source.timestamp is None or hit.seconds is None:
        return False
    at = parse_timestamp(source.timestamp)
    end = hit.end_seconds if hit.end_seconds is not None else math.inf
    return hit.seconds <= at <= end


def retrieval_scores(
    passages: Sequence[Hit], sources: Sequence[GoldSource]
) -> tuple[float, float, float]:
    """hit@1, hit@5 and reciprocal rank of the first gold passage (0 when none)."""
    ranks = [
        i for i, hit in enumerate(passages, 1) if any(is_gold_passage(hit, s) for s in sources)
    ]
    first = ranks[0] if ranks else None
    return (
        float(first == 1),
        float(first is not None and first <= 5),
        1.0 / first if first else 0.0,
    )


def quotes_overlap(a: str, b: str, min_words: int = 6) -> bool:
    """Whether two quotes share a run of words (all of the shorter one if it is short)."""
    x, y = canon(a), canon(b)
    if x in y or y in x:
        return True
    wa, wb = x.split(), y.split()
    match = SequenceMatcher(None, wa, wb, autojunk=False).find_longest_match(0, len(wa), 0, len(wb))
    return match.size >= min(min_words, len(wa), len(wb))


def cites_source(citation: Citation, source: GoldSource, passage_text: str | None) -> bool:
    """Whether a citation points at a gold source: same file, and overlapping quotes, or the
    cited passage holds the gold quote, or (transcripts) the same timestamp."""
    if citation.source_file != source.file:
        return False
    if quotes_overlap(citation.quote, source.quote):
        return True
    if passage_text and normalize_ws(source.quote) in normalize_ws(passage_text):
        return True
    if citation.timestamp and source.timestamp:
        return parse_timestamp(citation.timestamp) == parse_timestamp(source.timestamp)
    return False


def facts_found(pair: QAPair, answer: Answer) -> list[str]:
    """Key facts (case-insensitive) in the answer; for a question not in English also in the
    cited quotes, which stay in the episode's language."""
    haystack = answer.text
    if pair.language != "en" or detect_language(pair.question) != "en":
        haystack += "\n" + "\n".join(c.quote for c in answer.citations)
    haystack = canon(haystack)
    return [f for f in pair.key_facts if canon(f) in haystack]


def score_answer(
    pair: QAPair, answer: Answer, evidence: dict[str, Evidence], judgements: Sequence[Judgement]
) -> tuple[Scores, list[CitationResult], list[PassageResult], list[str]]:
    """All of one answer's scores, its annotated citations and passages, its facts found."""
    covered = pair.type != "not-covered"
    scores = Scores(abstention_ok=float(answer.abstained != covered))
    passages = [
        PassageResult(
            id=h.id,
            source_file=h.source_file,
            seconds=h.seconds,
            end_seconds=h.end_seconds,
            gold=any(is_gold_passage(h, s) for s in pair.sources),
        )
        for h in answer.passages
    ]
    if pair.sources:
        scores.hit_at_1, scores.hit_at_5, scores.reciprocal_rank = retrieval_scores(
            answer.passages, pair.sources
        )
    citations = []
    for c in answer.citations:
        text = evidence[c.passage_id].text if c.passage_id in evidence else None
        citations.append(
            CitationResult(
                n=c.n,
                heading=c.heading(),
                source_file=c.source_file,
                passage_id=c.passage_id,
                quote=c.quote,
                gold=any(cites_source(c, s, text) for s in pair.sources),
                verbatim=text is not None and is_verbatim_strict(c.quote, text),
            )
        )
    if citations:
        scores.citations_verbatim = sum(c.verbatim for c in citations) / len(citations)
    found: list[str] = []
    if covered:
        scores.cites_gold = float(any(c.gold for c in citations)) if not answer.abstained else 0.0
        found = [] if answer.abstained else facts_found(pair, answer)
        scores.key_facts = len(found) / len(pair.key_facts) if pair.key_facts else None
    for judgement in judgements:
        if judgement.judge == OFFLINE_JUDGE:
            scores.faithfulness = judgement.faithfulness
        elif judgement.judge.startswith(LLAMAINDEX_JUDGE):
            scores.faithfulness_llamaindex = judgement.faithfulness
        else:
            scores.faithfulness_llm = judgement.faithfulness
    return scores, citations, passages, found


def is_verbatim_strict(quote: str, passage: str) -> bool:
    """A citation's quote is verbatim when it is a substring of the passage (whitespace
    aside); an explicit ellipsis may mark skipped words, nothing else may."""
    if normalize_ws(quote) in normalize_ws(passage):
        return True
    return ("…" in quote or "..." in quote) and is_verbatim(quote, passage)
