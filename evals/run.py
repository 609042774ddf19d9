"""The run loop: ask every question of a split through the ``Assistant`` API, judge and score
each answer, and put the run's report together."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console

from assistant.progress import progress_bar
from assistant.schema import Answer
from evals.dataset import QAPair
from evals.evidence import Evidence, evidence_from
from evals.judge_check import judge_check
from evals.judges import LLMJudge, OfflineJudge
from evals.llamaindex import LlamaIndexFaithfulness, retriever_scores
from evals.models import EvalReport, QuestionResult, Scores
from evals.passages import index_passages
from evals.scoring import score_answer
from evals.summary import by_type, summarize

if TYPE_CHECKING:
    from assistant.api import Assistant

ModelJudge = LLMJudge | LlamaIndexFaithfulness


def run_eval(
    bot: Assistant,
    pairs: Sequence[QAPair],
    *,
    split: str = "test",
    limited: bool = False,
    model_judges: Sequence[ModelJudge] = (),
    console: Console | None = None,
    progress: bool = True,
) -> EvalReport:
    """Ask every pair through ``bot.ask`` and score the answers (a progress bar on ``console``).

    The offline judge judges every answer, and so does each of ``model_judges`` (the LLM
    judge, LlamaIndex's FaithfulnessEvaluator) when a model is configured; LlamaIndex's
    RetrieverEvaluator scores the plain search beside the chain's retrieval.
    """
    console = console or Console(stderr=True)
    # Load the index and models first (a search in each language), so the first question's
    # time is its own.
    speakers = bot.speakers()
    for warm_up in ("warm up", "준비"):
        bot.search(warm_up, k=1)
    _ = bot.pipeline
    # The cross-lingual space judges claims not in English (e5 hardly helps; see
    # judges/offline.py);
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
            result, answer, evidence = _ask_one(bot, pair, judge, model_judges)
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
    passages = index_passages(bot)
    report.perturbations = judge_check(bot, judge, pairs, results, answers, passages)
    report.summary = summarize(results, report.perturbations)
    report.summary.update(retriever_scores(bot, pairs, passages))
    report.by_type = by_type(results)
    return report


def _ask_one(
    bot: Assistant, pair: QAPair, judge: OfflineJudge, model_judges: Sequence[ModelJudge]
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
    evidence = evidence_from(answer, index_passages(bot, list(dict.fromkeys(missing))))
    judgements = [j.judge(answer, evidence) for j in (judge, *model_judges)]
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
