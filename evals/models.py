"""What an eval run records: the metrics it reports, and the result of each question and run.

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
* ``llamaindex_hit_rate`` / ``llamaindex_mrr`` — LlamaIndex's ``RetrieverEvaluator`` over
  ``Assistant.as_retriever(k=5)`` (the plain search, the question as asked), the gold
  passages as expected ids. ``faithfulness_llamaindex`` — share of answers its
  ``FaithfulnessEvaluator`` finds supported by their cited passages (a model is needed).
* ``judge_caught`` / ``judge_accepted`` — the offline judge's own check: share of deliberately
  broken answers it flags, and share of faithful ones it leaves alone.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from evals.judges.verdicts import Judgement
from evals.perturb import PerturbationReport


class Metric(BaseModel):
    """How to read one summary number."""

    label: str
    higher_is_better: bool = True
    share: bool = True  # a 0–1 share, shown with three decimals


METRICS: dict[str, Metric] = {
    "hit@1": Metric(label="retrieval hit@1"),
    "hit@5": Metric(label="retrieval hit@5"),
    "mrr": Metric(label="retrieval MRR"),
    # The plain search (the question as asked) through LlamaIndex's own evaluator.
    "llamaindex_hit_rate": Metric(label="retrieval hit rate@5 (LlamaIndex RetrieverEvaluator)"),
    "llamaindex_mrr": Metric(label="retrieval MRR@5 (LlamaIndex RetrieverEvaluator)"),
    "citation_gold": Metric(label="answers citing a gold source"),
    "citation_verbatim": Metric(label="citations verbatim in their passage"),
    "key_fact_recall": Metric(label="key-fact recall"),
    "answer_rate": Metric(label="covered questions answered"),
    "abstention_precision": Metric(label="abstention precision"),
    "abstention_recall": Metric(label="abstention recall"),
    "faithfulness": Metric(label="faithfulness (offline judge)"),
    "faithfulness_llm": Metric(label="faithfulness (LLM judge)"),
    "faithfulness_llamaindex": Metric(label="faithfulness (LlamaIndex FaithfulnessEvaluator)"),
    # Averaging only the verdicts that came back hides a judge that timed out on half.
    "llm_judge_failed": Metric(
        label="answers the LLM judge could not judge", higher_is_better=False, share=False
    ),
    "llamaindex_judge_failed": Metric(
        label="answers LlamaIndex could not judge", higher_is_better=False, share=False
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
    "faithfulness_llamaindex",
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
    faithfulness_llamaindex: float | None = None

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


def fmt(value: float | None, share: bool = True) -> str:
    """A metric value as the reports show it: a share with three decimals, a count or a
    time with as many as it needs, "–" when not measured."""
    if value is None:
        return "–"
    if share:
        return f"{value:.3f}"
    return f"{value:,.2f}" if value % 1 else f"{value:,.0f}"
