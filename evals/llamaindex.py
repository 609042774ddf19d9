"""LlamaIndex's own evaluators next to ours: ``RetrieverEvaluator`` (hit rate, MRR) over
``Assistant.as_retriever()``, and ``FaithfulnessEvaluator`` when a model is configured.

Their figures are reported beside the eval's, not instead of them. They measure other
things: the retriever's hit rate is the plain search's top ``k`` for the question as asked
(ours, ``hit@5``, is the answer chain's passages, narrowed to the episodes and speakers the
question names), and LlamaIndex's faithfulness is one YES/NO per answer against the passages
it cites (our judges give a verdict per claim).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from assistant.schema import Answer, Hit
from evals.dataset import QAPair
from evals.evidence import Evidence
from evals.judges.verdicts import LLAMAINDEX_JUDGE, ClaimVerdict, Judgement
from evals.scoring import is_gold_passage

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from assistant.api import Assistant
    from assistant.config import Settings


def gold_ids(pair: QAPair, passages: Sequence[Hit]) -> list[str]:
    """Ids of the index passages that are gold for ``pair`` (the eval's own rule)."""
    return [h.id for h in passages if any(is_gold_passage(h, s) for s in pair.sources)]


def retriever_scores(
    bot: Assistant, pairs: Sequence[QAPair], passages: Sequence[Hit], k: int = 5
) -> dict[str, float | None]:
    """LlamaIndex's ``hit_rate`` and ``mrr`` at ``k`` over the pairs with gold passages,
    averaged: ``llamaindex_hit_rate`` and ``llamaindex_mrr``."""
    from llama_index.core.evaluation import RetrieverEvaluator

    evaluator = RetrieverEvaluator.from_metric_names(
        ["hit_rate", "mrr"], retriever=bot.as_retriever(k=k)
    )
    hit_rates: list[float] = []
    mrrs: list[float] = []
    for pair in pairs:
        expected = gold_ids(pair, passages)
        if not expected:
            continue
        result = evaluator.evaluate(query=pair.question, expected_ids=expected)
        hit_rates.append(result.metric_vals_dict["hit_rate"])
        mrrs.append(result.metric_vals_dict["mrr"])
    if not hit_rates:
        return {"llamaindex_hit_rate": None, "llamaindex_mrr": None}
    return {
        "llamaindex_hit_rate": round(sum(hit_rates) / len(hit_rates), 4),
        "llamaindex_mrr": round(sum(mrrs) / len(mrrs), 4),
    }


def openai_like(settings: Settings) -> LLM:
    """A LlamaIndex LLM over the configured OpenAI-compatible server (any model name: the
    ``OpenAI`` class refuses names it has no context window for)."""
    from llama_index.llms.openai_like import OpenAILike

    from assistant.openai_client import make_client

    client = make_client(settings)
    return OpenAILike(
        model=settings.llm.model,
        api_base=str(client.base_url),
        api_key=client.api_key,
        is_chat_model=True,
        temperature=0,
        timeout=settings.llm.timeout,
        max_retries=settings.llm.max_retries,
        openai_client=client,
    )


class LlamaIndexFaithfulness:
    """LlamaIndex's ``FaithfulnessEvaluator`` as one more judge: a one-verdict ``Judgement``
    (is the whole answer supported by the passages it cites?)."""

    def __init__(self, settings: Settings, llm: LLM | None = None) -> None:
        from llama_index.core.evaluation import FaithfulnessEvaluator

        self.name = f"{LLAMAINDEX_JUDGE}:{settings.llm.model}"
        self.evaluator = FaithfulnessEvaluator(llm=llm or openai_like(settings))
        # One loop for every answer: the LLM keeps its async client, whose connections
        # belong to the loop that opened them. ``evaluate`` runs each call on a new loop
        # once the process has no current one (after any ``asyncio.run``), and the second
        # answer then failed with "Connection error".
        self._loop = asyncio.new_event_loop()

    def judge(self, answer: Answer, evidence: Mapping[str, Evidence]) -> Judgement:
        """Judge ``answer`` against its cited passages; a failed call gives ``error``."""
        started = time.perf_counter()
        result = Judgement(judge=self.name)
        cited = list(dict.fromkeys(c.passage_id for c in answer.citations))
        contexts = [evidence[pid].text for pid in cited if pid in evidence]
        if answer.abstained or not contexts:
            return result
        try:
            verdict = self._loop.run_until_complete(
                self.evaluator.aevaluate(
                    query=answer.question, response=answer.text, contexts=contexts
                )
            )
        except Exception as exc:  # any client or server failure leaves the answer unjudged
            result.error = f"{type(exc).__name__}: {exc}"[:300]
        else:
            result.verdicts = [
                ClaimVerdict(
                    claim=1,
                    text=answer.text,
                    supported=bool(verdict.passing),
                    reasons=[(verdict.feedback or "").strip()[:300]],
                )
            ]
        result.seconds = time.perf_counter() - started
        return result
