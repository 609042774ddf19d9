"""A run's summary: the metrics over all questions, and by question type."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import get_args

from evals.dataset import QuestionType
from evals.judges.verdicts import LLAMAINDEX_JUDGE, LLM_JUDGE
from evals.models import QuestionResult
from evals.perturb import PerturbationReport

QUESTION_TYPES = get_args(QuestionType)


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
        "llm_judge_failed": _judge_failed(results, LLM_JUDGE),
        "faithfulness_llamaindex": _mean([r.scores.faithfulness_llamaindex for r in results]),
        "llamaindex_judge_failed": _judge_failed(results, LLAMAINDEX_JUDGE),
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


def _judge_failed(results: Sequence[QuestionResult], judge: str) -> float | None:
    """How many answers a model judge returned no verdicts for (``None``: it did not run)."""
    ran = [j for r in results for j in r.judgements if j.judge.startswith(judge)]
    return float(sum(j.error is not None for j in ran)) if ran else None


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
