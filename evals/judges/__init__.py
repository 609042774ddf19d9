"""Faithfulness judges: is each claim of an answer supported by the passages it cites?

Two judges return the same ``Judgement``: ``OfflineJudge`` (``offline.py``) needs no model;
``LLMJudge`` (``llm.py``) asks the configured OpenAI-compatible model. ``evals/perturb.py``
shows that the offline one works.
"""

from evals.judges.llm import LLMJudge, parse_verdicts
from evals.judges.offline import OfflineJudge
from evals.judges.verdicts import ClaimVerdict, Judgement

__all__ = ["ClaimVerdict", "Judgement", "LLMJudge", "OfflineJudge", "parse_verdicts"]
