"""The eval harness (``episode-assistant eval``): ask every held-out question through the
``Assistant`` API, score retrieval, citations, correctness, abstention and faithfulness, and
report in the terminal, in Markdown, JSON and a chart, with ``compare`` for two runs.

What each metric means:

* ``hit@1`` / ``hit@5`` / ``mrr`` — over questions with gold sources: is a passage the chain
  retrieved (``answer.passages``, best first) a gold one? A gold passage is from the gold file
  and contains the gold quote, or (transcripts) its time span holds the gold timestamp.
* ``citation_gold`` — share of answered, covered questions with a citation of a gold source
  (same file, and the quotes overlap, or the cited passage holds the gold quote, or the
  timestamps agree).
* ``citation_verbatim`` — share of all citations whose quote is verbatim in the cited passage.
* ``key_fact_recall`` — per covered question, the share of its key facts found in the answer
  (for Korean questions also in the cited quotes, which stay English); averaged.
* ``answer_rate`` — share of covered questions answered rather than abstained on.
* ``abstention_precision`` / ``abstention_recall`` — on not-covered questions.
* ``faithfulness`` — per answer, the share of claims the offline judge finds supported by the
  passages they cite (``faithfulness_llm``: the LLM judge, when a model is configured).
* ``judge_caught`` / ``judge_accepted`` — the offline judge's own check: share of deliberately
  broken answers it flags, and share of faithful ones it leaves alone.

The test split is held out: floors in ``evals/floors.json`` are checked on it in CI; tune on dev.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, Field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assistant.answering.citations import cite
from assistant.config import user_data_dir
from assistant.ingestion.transcripts import detect_language
from assistant.progress import progress_bar
from assistant.schema import Answer, Citation, Hit, parse_timestamp
from evals.dataset import GoldSource, QAPair, QuestionType, load_pairs, normalize_ws
from evals.judge import (
    BaseAnswer,
    Evidence,
    Judgement,
    LLMJudge,
    OfflineJudge,
    PerturbationReport,
    canon,
    evidence_from,
    is_verbatim,
    perturbation_check,
    split_sentences,
)

if TYPE_CHECKING:
    from assistant.api import Assistant

REPORTS_DIR = user_data_dir() / "evals" / "reports"
FLOORS_PATH = Path(__file__).resolve().parent / "floors.json"
QUESTION_TYPES = get_args(QuestionType)


class Metric(BaseModel):
    """How to read one summary number."""

    label: str
    higher_is_better: bool = True
    share: bool = True  # a 0–1 share, shown with three decimals


METRICS: dict[str, Metric] = {
    "hit@1": Metric(label="retrieval hit@1"),
    "hit@5": Metric(label="retrieval hit@5"),
    "mrr": Metric(label="retrieval MRR"),
    "citation_gold": Metric(label="answers citing a gold source"),
    "citation_verbatim": Metric(label="citations verbatim in their passage"),
    "key_fact_recall": Metric(label="key-fact recall"),
    "answer_rate": Metric(label="covered questions answered"),
    "abstention_precision": Metric(label="abstention precision"),
    "abstention_recall": Metric(label="abstention recall"),
    "faithfulness": Metric(label="faithfulness (offline judge)"),
    "faithfulness_llm": Metric(label="faithfulness (LLM judge)"),
    # Averaging only the verdicts that came back hides a judge that timed out on half.
    "llm_judge_failed": Metric(
        label="answers the LLM judge could not judge", higher_is_better=False, share=False
    ),
    "judge_caught": Metric(label="judge catches broken answers"),
    "judge_accepted": Metric(label="judge accepts faithful answers"),
    "mean_seconds": Metric(label="seconds per question", higher_is_better=False, share=False),
    "prompt_tokens": Metric(label="prompt tokens (total)", higher_is_better=False, share=False),
    "completion_tokens": Metric(
        label="completion tokens (total)", higher_is_better=False, share=False
    ),
}
# Per-question scores compared between runs (and shown for the worst questions).
QUESTION_SCORES = (
    "hit_at_1",
    "hit_at_5",
    "reciprocal_rank",
    "cites_gold",
    "citations_verbatim",
    "key_facts",
    "abstention_ok",
    "faithfulness",
    "faithfulness_llm",
)


# --- results ------------------------------------------------------------------------------------


class CitationResult(BaseModel):
    """One citation of an answer and what the harness found about it."""

    n: int
    heading: str
    source_file: str
    passage_id: str
    quote: str
    gold: bool = Field(description="cites a gold source")
    verbatim: bool = Field(description="quote is verbatim in the cited passage")


class PassageResult(BaseModel):
    """One passage the chain retrieved, best first."""

    id: str
    source_file: str
    seconds: int | None = None
    end_seconds: int | None = None
    gold: bool


class Scores(BaseModel):
    """A question's scores; ``None`` where a score does not apply."""

    hit_at_1: float | None = None
    hit_at_5: float | None = None
    reciprocal_rank: float | None = None
    cites_gold: float | None = None
    citations_verbatim: float | None = None
    key_facts: float | None = None
    abstention_ok: float | None = Field(None, description="abstained iff not covered")
    faithfulness: float | None = None
    faithfulness_llm: float | None = None

    def overall(self, covered: bool) -> float:
        """One number to rank questions by. Not covered: did it abstain. Covered: the mean of
        retrieval (hit@5, reciprocal rank), gold citation, key facts and faithfulness."""
        if not covered:
            return self.abstention_ok or 0.0
        keys = ("hit_at_5", "reciprocal_rank", "cites_gold", "key_facts", "faithfulness")
        values = [getattr(self, k) for k in keys if getattr(self, k) is not None]
        return sum(values) / len(values) if values else 0.0


class QuestionResult(BaseModel):
    """Everything about one question: the answer, its citations, its scores, its cost."""

    id: str
    type: str
    language: str
    question: str
    reference_answer: str
    key_facts: list[str] = Field(default_factory=list)
    facts_found: list[str] = Field(default_factory=list)
    answer: str = ""
    abstained: bool = False
    answerer: str = ""
    citations: list[CitationResult] = Field(default_factory=list)
    passages: list[PassageResult] = Field(default_factory=list)
    judgements: list[Judgement] = Field(default_factory=list)
    scores: Scores = Field(default_factory=Scores)
    overall: float = 0.0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


class EvalReport(BaseModel):
    """A whole run: the summary, per-type breakdown, the judge's check and every question."""

    split: str
    answerer: str
    created: str
    questions: int
    limited: bool = False
    summary: dict[str, float | None] = Field(default_factory=dict)
    by_type: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    perturbations: PerturbationReport | None = None
    broken_floors: list[str] = Field(default_factory=list)
    results: list[QuestionResult] = Field(default_factory=list)

    def worst(self, n: int = 5) -> list[QuestionResult]:
        """The ``n`` questions with the lowest overall score."""
        return sorted(self.results, key=lambda r: (r.overall, r.id))[:n]


# --- scoring one question -----------------------------------------------------------------------


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


def fetch_hits(bot: Assistant, ids: Sequence[str]) -> list[Hit]:
    """Passages by id, straight from the index (for citations outside ``answer.passages``)."""
    from assistant.retrieval.search import (
        hit_from,  # lazy, like the other two: `--help` loads no Chroma
    )

    if not ids:
        return []
    got = bot.retriever().collection.get(ids=list(ids), include=["documents", "metadatas"])
    return [
        hit_from(pid, doc, meta, 0.0, None)
        for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]


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
        if judgement.judge == "offline":
            scores.faithfulness = judgement.faithfulness
        else:
            scores.faithfulness_llm = judgement.faithfulness
    return scores, citations, passages, found


def is_verbatim_strict(quote: str, passage: str) -> bool:
    """A citation's quote is verbatim when it is a substring of the passage (whitespace
    aside); an explicit ellipsis may mark skipped words, nothing else may."""
    if normalize_ws(quote) in normalize_ws(passage):
        return True
    return ("…" in quote or "..." in quote) and is_verbatim(quote, passage)


# --- the run ------------------------------------------------------------------------------------


def run_eval(
    bot: Assistant,
    pairs: Sequence[QAPair],
    *,
    split: str = "test",
    limited: bool = False,
    llm_judge: LLMJudge | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> EvalReport:
    """Ask every pair through ``bot.ask`` and score the answers (a progress bar on ``console``)."""
    console = console or Console(stderr=True)
    # Load the index and models first (a search in each language), so the first question's
    # time is its own.
    speakers = bot.speakers()
    for warm_up in ("warm up", "준비"):
        bot.search(warm_up, k=1)
    _ = bot.pipeline
    # The cross-lingual space judges claims not in English (e5 hardly helps; see judge.py);
    # without one, the main space is USE-m3's, aligned across languages.
    judge = OfflineJudge(speakers=speakers, embedder=bot.crosslingual or bot.embedder)
    results: list[QuestionResult] = []
    answers: dict[str, tuple[Answer, dict[str, Evidence]]] = {}
    bar = progress_bar(console, "current") if progress else None
    task = bar.add_task(f"eval {split}", total=len(pairs), current="") if bar else None
    if bar:
        bar.start()
    try:
        for pair in pairs:
            if bar is not None and task is not None:
                bar.update(task, current=pair.id)
            result, answer, evidence = _ask_one(bot, pair, judge, llm_judge)
            results.append(result)
            if answer is not None:
                answers[pair.id] = (answer, evidence)
            if bar is not None and task is not None:
                bar.advance(task)
    finally:
        if bar:
            bar.stop()
    report = EvalReport(
        split=split,
        answerer=_answerer_name(bot, results),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        questions=len(results),
        limited=limited,
        results=results,
    )
    report.perturbations = judge_check(bot, judge, pairs, results, answers)
    report.summary = summarize(results, report.perturbations)
    report.by_type = by_type(results)
    return report


def _ask_one(
    bot: Assistant, pair: QAPair, judge: OfflineJudge, llm_judge: LLMJudge | None
) -> tuple[QuestionResult, Answer | None, dict[str, Evidence]]:
    result = QuestionResult(
        id=pair.id,
        type=pair.type,
        language=pair.language,
        question=pair.question,
        reference_answer=pair.reference_answer,
        key_facts=pair.key_facts,
    )
    started = time.perf_counter()
    try:
        answer = bot.ask(pair.question)
    except Exception as exc:  # one failing question must not end the run; it scores zero
        result.seconds = time.perf_counter() - started
        result.error = f"{type(exc).__name__}: {exc}"
        result.scores = Scores(
            hit_at_1=0.0 if pair.sources else None,
            hit_at_5=0.0 if pair.sources else None,
            reciprocal_rank=0.0 if pair.sources else None,
            abstention_ok=0.0,
        )
        return result, None, {}
    result.seconds = time.perf_counter() - started
    known = {h.id for h in answer.passages}
    missing = [c.passage_id for c in answer.citations if c.passage_id not in known]
    evidence = evidence_from(answer, fetch_hits(bot, list(dict.fromkeys(missing))))
    judgements = [judge.judge(answer, evidence)]
    if llm_judge is not None:
        judgements.append(llm_judge.judge(answer, evidence))
    scores, citations, passages, found = score_answer(pair, answer, evidence, judgements)
    result.answer = answer.text
    result.abstained = answer.abstained
    result.answerer = answer.answerer
    result.citations = citations
    result.passages = passages
    result.judgements = judgements
    result.scores = scores
    result.overall = round(scores.overall(pair.type != "not-covered"), 4)
    result.facts_found = found
    # The judge's calls cost tokens too.
    result.prompt_tokens = answer.usage.prompt_tokens + sum(j.prompt_tokens for j in judgements)
    result.completion_tokens = answer.usage.completion_tokens + sum(
        j.completion_tokens for j in judgements
    )
    return result, answer, evidence


def _answerer_name(bot: Assistant, results: Sequence[QuestionResult]) -> str:
    names = [r.answerer for r in results if r.answerer]
    if names and all(n == names[0] for n in names):
        return names[0]
    return bot.pipeline.name


# --- the judge's own check ----------------------------------------------------------------------


def judge_check(
    bot: Assistant,
    judge: OfflineJudge,
    pairs: Sequence[QAPair],
    results: Sequence[QuestionResult],
    answers: dict[str, tuple[Answer, dict[str, Evidence]]],
) -> PerturbationReport:
    """Run the perturbation check on this split's correct answers and reference answers.

    Correct answers: offline answers (quotations, so faithful by construction) that are
    answered, covered, cite a gold source and quote every citation verbatim. A model's
    answers are not used: they may be unfaithful themselves. Because quotations are easy to
    match, the reference answers are added too (human paraphrases citing the passages that
    hold their gold quotes): on those the judge has to match meaning, not strings.
    """
    chunks = _all_chunks(bot)
    by_id = {r.id: r for r in results}
    bases: list[BaseAnswer] = []
    speakers_of = {e.label: e.speakers for e in bot.episodes()}
    for pair in pairs:
        result = by_id.get(pair.id)
        if (
            pair.id in answers
            and result is not None
            and result.answerer == "offline"
            and result.scores.cites_gold == 1.0
            and result.scores.citations_verbatim == 1.0
        ):
            answer, evidence = answers[pair.id]
            bases.append(
                BaseAnswer(
                    id=pair.id,
                    source="offline answer",
                    answer=answer,
                    evidence=evidence,
                    episode_speakers=_speakers(answer.citations, speakers_of),
                )
            )
        reference = reference_answer(pair, chunks)
        if reference is not None:
            bases.append(
                BaseAnswer(
                    id=pair.id,
                    source="reference answer",
                    answer=reference,
                    evidence=evidence_from(reference),
                    episode_speakers=_speakers(reference.citations, speakers_of),
                )
            )
    return perturbation_check(judge, bases, corpus_sentences(chunks))


def _speakers(citations: Sequence[Citation], speakers_of: dict[str, list[str]]) -> list[str]:
    return sorted({s for c in citations for s in speakers_of.get(c.episode, [])})


def _all_chunks(bot: Assistant) -> list[Hit]:
    from assistant.retrieval.search import hit_from

    got = bot.retriever().collection.get(include=["documents", "metadatas"])
    hits = [
        hit_from(pid, doc, meta, 0.0, None)
        for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
    ]
    return sorted(hits, key=lambda h: h.id)


def reference_answer(pair: QAPair, chunks: Sequence[Hit]) -> Answer | None:
    """The pair's reference answer written as a cited answer (``None`` for not-covered
    pairs). Every sentence cites, for each gold source, the passage holding the gold quote
    and its neighbours in the same chapter: the reference was written from the whole speaker
    turn, which a passage may cut."""
    citations: list[Citation] = []
    passages: list[Hit] = []
    for source in pair.sources:
        quote = normalize_ws(source.quote)
        at = next(
            (
                i
                for i, h in enumerate(chunks)
                if h.source_file == source.file and quote in normalize_ws(h.text)
            ),
            None,
        )
        if at is None:
            continue
        for i in (at, at - 1, at + 1):
            if not 0 <= i < len(chunks) or any(p.id == chunks[i].id for p in passages):
                continue
            hit = chunks[i]
            if hit.source_file != source.file or hit.chapter != chunks[at].chapter:
                continue
            text = normalize_ws(hit.text)
            cited = quote if i == at and quote in hit.text else text[:200]
            citations.append(cite(hit, cited, len(citations) + 1))
            passages.append(hit)
    if not citations:
        return None
    markers = "".join(f"[{c.n}]" for c in citations)
    text = pair.reference_answer
    sentences = [text[a:b].strip() for a, b in split_sentences(text)]
    return Answer(
        question=pair.question,
        text=" ".join(f"{s} {markers}" for s in sentences),
        citations=citations,
        passages=passages,
        answerer="reference",
    )


def corpus_sentences(chunks: Sequence[Hit]) -> dict[str, list[str]]:
    """English sentences of 10–40 words from each file (for the other-episode perturbation)."""
    by_file: dict[str, dict[str, None]] = {}
    for hit in chunks:
        if hit.language != "en":
            continue
        text = hit.text.replace("\n", " ")
        for a, b in split_sentences(text):
            sentence = text[a:b].strip()
            if 10 <= len(sentence.split()) <= 40 and '"' not in sentence and "“" not in sentence:
                by_file.setdefault(hit.source_file, {})[sentence] = None
    return {f: list(sentences) for f, sentences in sorted(by_file.items())}


# --- summary ------------------------------------------------------------------------------------


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.fmean(kept), 4) if kept else None


def summarize(
    results: Sequence[QuestionResult], perturbations: PerturbationReport | None = None
) -> dict[str, float | None]:
    """The summary metrics of a run (see the module docstring for what each means)."""
    covered = [r for r in results if r.type != "not-covered"]
    answered = [r for r in covered if not r.abstained and r.error is None]
    uncovered = [r for r in results if r.type == "not-covered"]
    abstained = [r for r in results if r.abstained]
    citations = [c for r in results for c in r.citations]
    out: dict[str, float | None] = {
        "hit@1": _mean([r.scores.hit_at_1 for r in covered]),
        "hit@5": _mean([r.scores.hit_at_5 for r in covered]),
        "mrr": _mean([r.scores.reciprocal_rank for r in covered]),
        "citation_gold": _mean([r.scores.cites_gold for r in answered]),
        "citation_verbatim": (
            round(sum(c.verbatim for c in citations) / len(citations), 4) if citations else None
        ),
        "key_fact_recall": _mean([r.scores.key_facts or 0.0 for r in covered]),
        "answer_rate": _mean([float(not r.abstained and r.error is None) for r in covered]),
        "abstention_precision": (
            round(sum(r.type == "not-covered" for r in abstained) / len(abstained), 4)
            if abstained
            else None
        ),
        "abstention_recall": _mean([float(r.abstained) for r in uncovered]),
        "faithfulness": _mean([r.scores.faithfulness for r in results]),
        "faithfulness_llm": _mean([r.scores.faithfulness_llm for r in results]),
        "llm_judge_failed": _llm_judge_failed(results),
        "judge_caught": None,
        "judge_accepted": None,
        "mean_seconds": _mean([r.seconds for r in results]),
        "prompt_tokens": float(sum(r.prompt_tokens for r in results)),
        "completion_tokens": float(sum(r.completion_tokens for r in results)),
    }
    if perturbations is not None:
        out["judge_caught"] = _round(perturbations.catch_rate)
        out["judge_accepted"] = _round(perturbations.accept_rate)
    return out


def _llm_judge_failed(results: Sequence[QuestionResult]) -> float | None:
    """How many answers the LLM judge returned no verdicts for (``None``: it did not run)."""
    llm = [j for r in results for j in r.judgements if j.judge.startswith("llm")]
    return float(sum(j.error is not None for j in llm)) if llm else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


TYPE_COLUMNS = ("hit@5", "mrr", "citation_gold", "key_fact_recall", "faithfulness", "abstention")


def by_type(results: Sequence[QuestionResult]) -> dict[str, dict[str, float | None]]:
    """Per question type: retrieval, citation, correctness and faithfulness, and the share of
    questions handled right on abstention (abstained iff not covered)."""
    out: dict[str, dict[str, float | None]] = {}
    for qtype in QUESTION_TYPES:
        group = [r for r in results if r.type == qtype]
        if not group:
            continue
        answered = [r for r in group if not r.abstained and r.error is None]
        out[qtype] = {
            "questions": float(len(group)),
            "hit@5": _mean([r.scores.hit_at_5 for r in group]),
            "mrr": _mean([r.scores.reciprocal_rank for r in group]),
            "citation_gold": _mean([r.scores.cites_gold for r in answered]),
            "key_fact_recall": (
                _mean([r.scores.key_facts or 0.0 for r in group])
                if qtype != "not-covered"
                else None
            ),
            "faithfulness": _mean([r.scores.faithfulness for r in group]),
            "abstention": _mean([r.scores.abstention_ok for r in group]),
        }
    return out


# --- floors -------------------------------------------------------------------------------------


class Floors(BaseModel):
    """Minimums for the offline eval on the held-out split, set from measured values."""

    split: str = "test"
    answerer: str = "offline"
    note: str = ""
    measured: dict[str, float] = Field(default_factory=dict)
    floors: dict[str, float]


def load_floors(path: Path = FLOORS_PATH) -> Floors:
    """The floors file (``evals/floors.json``)."""
    return Floors.model_validate_json(path.read_text(encoding="utf-8"))


def broken_floors(summary: dict[str, float | None], floors: Floors) -> list[str]:
    """One line per metric below its floor (a metric that could not be measured is broken)."""
    out = []
    for name, floor in floors.floors.items():
        value = summary.get(name)
        if value is None or value < floor - 1e-9:
            shown = "not measured" if value is None else f"{value:.3f}"
            out.append(f"{name} is {shown}, below its floor {floor:.3f}")
    return out


def floors_apply(report: EvalReport, floors: Floors) -> bool:
    """Floors hold for a whole-split run of their split with their answerer (the offline
    eval of the held-out split), not for dev, a model, or ``--limit``."""
    return (
        report.split == floors.split and report.answerer == floors.answerer and not report.limited
    )


# --- reports ------------------------------------------------------------------------------------


def _fmt(value: float | None, share: bool = True) -> str:
    if value is None:
        return "–"
    if share:
        return f"{value:.3f}"
    return f"{value:,.2f}" if value % 1 else f"{value:,.0f}"


def report_name(report: EvalReport) -> str:
    """``<split>-<answerer>``, safe as a file name (``test-offline``, ``test-openai-gpt-4.1``)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{report.split}-{report.answerer}").strip("-")
    return name + ("-limited" if report.limited else "")


def print_report(report: EvalReport, console: Console, floors: Floors | None = None) -> None:
    """The summary, the per-type table, the judge's check and the five worst questions."""
    title = f"Eval · {report.split} split · {report.answerer} · {report.questions} questions"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("floor", justify="right")
    for name, meta in METRICS.items():
        value = report.summary.get(name)
        if value is None and name in ("faithfulness_llm",):
            continue
        floor = floors.floors.get(name) if floors else None
        style = ""
        if floor is not None and value is not None:
            style = "green" if value >= floor - 1e-9 else "bold red"
        table.add_row(
            f"{meta.label} [dim]({name})[/]",
            f"[{style}]{_fmt(value, meta.share)}[/]" if style else _fmt(value, meta.share),
            _fmt(floor) if floor is not None else "",
        )
    console.print(table)

    types = Table(title="By question type", title_justify="left")
    types.add_column("type")
    types.add_column("n", justify="right")
    for column in TYPE_COLUMNS:
        types.add_column(column, justify="right")
    for qtype, row in report.by_type.items():
        types.add_row(
            qtype,
            _fmt(row["questions"], share=False),
            *(_fmt(row.get(c)) for c in TYPE_COLUMNS),
        )
    console.print(types)

    if report.perturbations is not None:
        p = report.perturbations
        console.print(
            f"[bold]Offline judge check:[/] caught {p.caught}/{p.unfaithful} broken answers; "
            f"wrongly flagged {p.wrongly_flagged}/{p.faithful} faithful ones."
        )
        kinds = Table(show_header=True, title_justify="left")
        kinds.add_column("cases")
        kinds.add_column("flagged", justify="right")
        for kind, tally in {**p.by_kind, **p.by_source}.items():
            kinds.add_row(escape(kind), f"{tally.flagged}/{tally.total}")
        console.print(kinds)

    worst = Table(title="The 5 worst questions", title_justify="left")
    worst.add_column("question", no_wrap=True)
    for column in ("overall", "hit@5", "cite", "facts", "faith"):
        worst.add_column(column, justify="right")
    worst.add_column("asked → answered", min_width=36, ratio=1, overflow="fold")
    for r in report.worst(5):
        s = r.scores
        answer = r.error or ("(abstained) " if r.abstained else "") + r.answer
        worst.add_row(
            f"{r.id}\n{r.type}\n{r.language}",
            _fmt(r.overall),
            _fmt(s.hit_at_5),
            _fmt(s.cites_gold),
            _fmt(s.key_facts),
            _fmt(s.faithfulness),
            escape(f"{r.question}\n→ {answer[:140]}"),
        )
    console.print(worst)
    for line in report.broken_floors:
        console.print(f"[bold red]floor broken:[/] {escape(line)}")


def write_reports(report: EvalReport, out_dir: Path | None = None) -> dict[str, Path]:
    """Write ``<split>-<answerer>.json``, ``.md`` and ``.png`` into ``out_dir`` (overwriting)."""
    out_dir = Path(out_dir or REPORTS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_name(report)
    paths = {
        "json": out_dir / f"{stem}.json",
        "md": out_dir / f"{stem}.md",
        "png": out_dir / f"{stem}.png",
    }
    paths["json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    paths["md"].write_text(markdown(report), encoding="utf-8")
    chart(report, paths["png"])
    return paths


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: EvalReport) -> str:
    """The report as Markdown: summary, per type, the judge's check, then every question."""
    lines = [
        f"# Eval: {report.split} split, {report.answerer}",
        "",
        f"{report.questions} questions · {report.created}"
        + (" · limited run (floors not checked)" if report.limited else ""),
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    for name, meta in METRICS.items():
        lines.append(f"| {meta.label} (`{name}`) | {_fmt(report.summary.get(name), meta.share)} |")
    lines += ["", "## By question type", "", "| type | n | " + " | ".join(TYPE_COLUMNS) + " |"]
    lines.append("|---|---:|" + "---:|" * len(TYPE_COLUMNS))
    for qtype, row in report.by_type.items():
        cells = " | ".join(_fmt(row.get(c)) for c in TYPE_COLUMNS)
        lines.append(f"| {qtype} | {_fmt(row['questions'], False)} | {cells} |")
    if report.broken_floors:
        lines += ["", "## Floors broken", ""] + [f"- {b}" for b in report.broken_floors]
    p = report.perturbations
    if p is not None:
        lines += [
            "",
            "## Offline judge check (perturbations)",
            "",
            f"Caught **{p.caught}/{p.unfaithful}** broken answers; wrongly flagged "
            f"**{p.wrongly_flagged}/{p.faithful}** faithful ones.",
            "",
            "| cases | flagged |",
            "|---|---:|",
        ]
        for kind, tally in {**p.by_kind, **p.by_source}.items():
            lines.append(f"| {kind} | {tally.flagged}/{tally.total} |")
        misses = [c for c in p.cases if c.kind != "faithful" and not c.flagged]
        false = [c for c in p.cases if c.kind == "faithful" and c.flagged]
        if misses:
            lines += ["", "Broken answers it missed:", ""]
            lines += [
                f"- {c.base} ({c.source}, {c.kind}): “{_md(c.changed[:200])}”" for c in misses
            ]
        if false:
            lines += ["", "Faithful answers it flagged:", ""]
            lines += [f"- {c.base} ({c.source}): {_md('; '.join(c.reasons)[:300])}" for c in false]
    lines += ["", "## Questions", ""]
    for r in report.results:
        lines += _question_md(r)
    return "\n".join(lines) + "\n"


def _question_md(r: QuestionResult) -> list[str]:
    s = r.scores
    scores = ", ".join(
        f"{k} {_fmt(getattr(s, k))}" for k in QUESTION_SCORES if getattr(s, k) is not None
    )
    lines = [
        f"### {r.id} · {r.type} · {r.language} · overall {_fmt(r.overall)}",
        "",
        f"**Q:** {_md(r.question)}",
        "",
        f"**Answer** ({r.answerer or 'none'}, {r.seconds:.2f} s"
        + (f", {r.prompt_tokens}+{r.completion_tokens} tokens" if r.prompt_tokens else "")
        + ("" if not r.abstained else ", abstained")
        + f"): {_md(r.error or r.answer)}",
        "",
    ]
    for c in r.citations:
        marks = ("gold" if c.gold else "not gold") + (
            ", verbatim" if c.verbatim else ", NOT verbatim"
        )
        lines.append(f"- [{c.n}] {_md(c.heading)} ({marks}): “{_md(c.quote)}”")
    if r.citations:
        lines.append("")
    lines += [f"**Scores:** {scores}", ""]
    if r.key_facts:
        missing = [f for f in r.key_facts if f not in r.facts_found]
        lines += [
            f"**Key facts:** found {r.facts_found or 'none'}"
            + (f", missing {missing}" if missing else ""),
            "",
        ]
    for j in r.judgements:
        if j.prompt_tokens:
            lines += [
                f"**{j.judge} judge:** faithfulness {_fmt(j.faithfulness)}, "
                f"{j.prompt_tokens}+{j.completion_tokens} tokens, {j.seconds:.2f} s",
                "",
            ]
        if j.error:
            lines += [f"**{j.judge} judge error:** {_md(j.error)}", ""]
        for v in j.flagged:
            lines.append(
                f"- {j.judge} judge flags claim {v.claim} “{_md(v.text[:160])}”: {_md('; '.join(v.reasons))}"
            )
        if j.flagged:
            lines.append("")
    lines += [f"**Reference:** {_md(r.reference_answer)}", ""]
    return lines


def chart(report: EvalReport, path: Path) -> Path:
    """A grouped bar chart of the metrics by question type, as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: CI and servers
    import matplotlib.pyplot as plt

    types = list(report.by_type)
    fig, ax = plt.subplots(figsize=(11, 4.8), dpi=110)
    width = 0.8 / len(TYPE_COLUMNS)
    for i, column in enumerate(TYPE_COLUMNS):
        values = [report.by_type[t].get(column) for t in types]
        xs = [x + (i - (len(TYPE_COLUMNS) - 1) / 2) * width for x in range(len(types))]
        ax.bar(xs, [v if v is not None else 0.0 for v in values], width, label=column)
        for x, v in zip(xs, values, strict=True):
            if v is None:
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(types)))
    ax.set_xticklabels(
        [f"{t}\n(n={int(report.by_type[t]['questions'] or 0)})" for t in types], fontsize=9
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"{report.split} split · {report.answerer}: metrics by question type")
    ax.legend(ncol=len(TYPE_COLUMNS), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --- comparing two runs -------------------------------------------------------------------------


Verdict = Literal["better", "worse", "same", "new", "gone"]


class MetricChange(BaseModel):
    """One summary metric in two runs."""

    name: str
    old: float | None
    new: float | None
    delta: float | None
    verdict: Verdict


class QuestionChange(BaseModel):
    """One question whose scores moved between two runs."""

    id: str
    type: str
    old_overall: float
    new_overall: float
    verdict: Verdict
    changes: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict)


class Comparison(BaseModel):
    """What got better and what got worse from one report to another."""

    old: str
    new: str
    metrics: list[MetricChange] = Field(default_factory=list)
    questions: list[QuestionChange] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)

    @property
    def better(self) -> list[str]:
        """Metrics that improved."""
        return [m.name for m in self.metrics if m.verdict == "better"]

    @property
    def worse(self) -> list[str]:
        """Metrics that got worse."""
        return [m.name for m in self.metrics if m.verdict == "worse"]


def _verdict(old: float | None, new: float | None, higher_is_better: bool, tol: float) -> Verdict:
    if old is None and new is None:
        return "same"
    if old is None:
        return "new"
    if new is None:
        return "gone"
    if abs(new - old) <= tol:
        return "same"
    return "better" if (new > old) == higher_is_better else "worse"


def compare_reports(old: EvalReport, new: EvalReport) -> Comparison:
    """Metric by metric and question by question, what changed from ``old`` to ``new``."""
    comparison = Comparison(
        old=f"{old.split}-{old.answerer} ({old.created})",
        new=f"{new.split}-{new.answerer} ({new.created})",
    )
    for name, meta in METRICS.items():
        a, b = old.summary.get(name), new.summary.get(name)
        # Timing is noisy: only a change of more than 20% counts.
        tol = max(0.2 * abs(a), 0.01) if name == "mean_seconds" and a else 1e-6
        comparison.metrics.append(
            MetricChange(
                name=name,
                old=a,
                new=b,
                delta=None if a is None or b is None else round(b - a, 4),
                verdict=_verdict(a, b, meta.higher_is_better, tol),
            )
        )
    before = {r.id: r for r in old.results}
    after = {r.id: r for r in new.results}
    comparison.added = sorted(set(after) - set(before))
    comparison.removed = sorted(set(before) - set(after))
    for qid in sorted(set(before) & set(after)):
        a_r, b_r = before[qid], after[qid]
        changes = {
            k: (getattr(a_r.scores, k), getattr(b_r.scores, k))
            for k in QUESTION_SCORES
            if getattr(a_r.scores, k) != getattr(b_r.scores, k)
        }
        if not changes:
            continue
        comparison.questions.append(
            QuestionChange(
                id=qid,
                type=b_r.type,
                old_overall=a_r.overall,
                new_overall=b_r.overall,
                verdict=_verdict(a_r.overall, b_r.overall, True, 1e-6),
                changes=changes,
            )
        )
    return comparison


def compare(old_json: Path, new_json: Path, console: Console | None = None) -> Comparison:
    """Load two JSON reports, print what got better and worse, and return the comparison."""
    old = EvalReport.model_validate_json(Path(old_json).read_text(encoding="utf-8"))
    new = EvalReport.model_validate_json(Path(new_json).read_text(encoding="utf-8"))
    comparison = compare_reports(old, new)
    print_comparison(comparison, console or Console())
    return comparison


def print_comparison(comparison: Comparison, console: Console) -> None:
    """Metric changes, then the questions that got worse and better."""
    colour = {"better": "green", "worse": "red", "same": "dim", "new": "cyan", "gone": "yellow"}
    table = Table(title=f"{comparison.old} → {comparison.new}", title_justify="left")
    for column in ("metric", "old", "new", "Δ", ""):
        table.add_column(column, justify="left" if column in ("metric", "") else "right")
    for m in comparison.metrics:
        meta = METRICS[m.name]
        delta = "" if m.delta is None else f"{m.delta:+.3f}"
        table.add_row(
            m.name,
            _fmt(m.old, meta.share),
            _fmt(m.new, meta.share),
            delta,
            f"[{colour[m.verdict]}]{m.verdict}[/]",
        )
    console.print(table)
    for verdict in ("worse", "better"):
        moved = [q for q in comparison.questions if q.verdict == verdict]
        if not moved:
            continue
        console.print(f"[bold {colour[verdict]}]{len(moved)} question(s) got {verdict}:[/]")
        for q in moved:
            detail = ", ".join(f"{k} {_fmt(a)}→{_fmt(b)}" for k, (a, b) in q.changes.items())
            console.print(
                f"  {q.id} ({q.type}) overall {q.old_overall:.3f}→{q.new_overall:.3f}: {detail}"
            )
    mixed = [q for q in comparison.questions if q.verdict == "same"]
    if mixed:
        console.print(f"[dim]{len(mixed)} question(s) changed without moving overall.[/]")
    if comparison.added or comparison.removed:
        console.print(
            f"[dim]only in new: {', '.join(comparison.added) or '–'}; "
            f"only in old: {', '.join(comparison.removed) or '–'}[/]"
        )


# --- the command --------------------------------------------------------------------------------


def evaluate(
    bot: Assistant,
    *,
    split: str = "test",
    compare_with: Path | None = None,
    out_dir: Path | None = None,
    limit: int | None = None,
    console: Console | None = None,
    progress: bool = True,
    floors_path: Path = FLOORS_PATH,
) -> tuple[EvalReport, int]:
    """Run, print and write one eval with ``bot``; the report and the exit code (1 when an
    offline run over the whole held-out split breaks a floor)."""
    console = console or Console()
    # Read the old report first: a bad path fails now, not after the run, and the new report
    # may overwrite it.
    old = (
        EvalReport.model_validate_json(Path(compare_with).read_text(encoding="utf-8"))
        if compare_with is not None
        else None
    )
    pairs = load_pairs(split=split)
    limited = limit is not None and limit < len(pairs)
    if limit is not None:
        pairs = pairs[:limit]
    llm_judge = None
    if bot.settings.llm_enabled:
        try:
            llm_judge = LLMJudge(bot.settings)
        except FileNotFoundError as exc:
            console.print(f"[yellow]LLM judge off: {escape(str(exc))}[/]")
    report = run_eval(
        bot,
        pairs,
        split=split,
        limited=limited,
        llm_judge=llm_judge,
        progress=progress,
    )
    floors = load_floors(floors_path) if floors_path.is_file() else None
    gated = floors is not None and floors_apply(report, floors)
    if floors is not None and gated:
        report.broken_floors = broken_floors(report.summary, floors)
    print_report(report, console, floors if gated else None)
    paths = write_reports(report, out_dir)
    console.print("Reports: " + ", ".join(escape(str(p)) for p in paths.values()))
    if old is not None:
        print_comparison(compare_reports(old, report), console)
    if floors is not None and not gated:
        console.print(
            f"[dim]Floors are checked only on a full {floors.split}-split {floors.answerer} run.[/]"
        )
    return report, 1 if report.broken_floors else 0


__all__: Sequence[str] = [
    "Comparison",
    "EvalReport",
    "QuestionResult",
    "compare",
    "evaluate",
    "run_eval",
    "write_reports",
]
