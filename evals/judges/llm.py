"""The LLM faithfulness judge: the configured OpenAI-compatible model reads the claims and
the passages they cite with ``prompts/judge.txt`` and says which are supported."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from assistant.prompts import fill, load_prompt
from assistant.schema import Answer
from evals.claims import Claim, split_claims
from evals.evidence import Evidence, evidence_from
from evals.judges.verdicts import ClaimVerdict, Judgement

if TYPE_CHECKING:
    from assistant.config import Settings


class LLMJudge:
    """Asks the configured OpenAI-compatible model which claims their passages support."""

    name = "llm"

    def __init__(self, settings: Settings, client: object | None = None) -> None:
        self.settings = settings
        self.template = load_prompt(settings, "judge")
        self._client = client

    @property
    def client(self):
        """The official ``openai`` client, made on first use."""
        if self._client is None:
            from assistant.openai_client import make_client

            self._client = make_client(self.settings)
        return self._client

    def prompt(
        self, question: str, claims: list[Claim], answer: Answer, evidence: Mapping[str, Evidence]
    ) -> str:
        """The filled-in judge prompt."""
        lines = [
            f"{c.n}. {c.text} [cites: {', '.join(map(str, c.markers)) or 'none'}]" for c in claims
        ]
        blocks = []
        for citation in answer.citations:
            passage = evidence.get(citation.passage_id) or Evidence.from_citation(citation)
            blocks.append(f"[{citation.n}] {citation.heading()}\n{passage.text}")
        values = {
            "question": question,
            "claims": "\n".join(lines),
            "passages": "\n\n".join(blocks) or "(none)",
        }
        # One pass, so a passage containing "{claims}" stays as it is; JSON braces stay too.
        return fill(self.template, **values)

    def judge(self, answer: Answer, evidence: Mapping[str, Evidence] | None = None) -> Judgement:
        """Judge every claim of ``answer``; a failed call gives a ``Judgement`` with ``error``."""
        started = time.perf_counter()
        evidence = evidence if evidence is not None else evidence_from(answer)
        claims = [] if answer.abstained else split_claims(answer.text)
        result = Judgement(judge=f"llm:{self.settings.llm.model}")
        if not claims:
            return result
        try:
            response = self.client.chat.completions.create(
                model=self.settings.llm.model,
                messages=[
                    {
                        "role": "user",
                        "content": self.prompt(answer.question, claims, answer, evidence),
                    }
                ],
                temperature=0,
            )
        except Exception as exc:  # any client or server failure leaves the answer unjudged
            result.error = f"{type(exc).__name__}: {exc}"[:300]
            result.seconds = time.perf_counter() - started
            return result
        usage = getattr(response, "usage", None)
        result.prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
        result.completion_tokens = getattr(usage, "completion_tokens", 0) or 0
        content = response.choices[0].message.content or ""
        result.verdicts, result.error = parse_verdicts(content, claims)
        result.seconds = time.perf_counter() - started
        return result


def parse_verdicts(content: str, claims: list[Claim]) -> tuple[list[ClaimVerdict], str | None]:
    """Verdicts from the judge's JSON reply (a code fence or prose around it is tolerated)."""
    start, end = content.find("{"), content.rfind("}")
    try:
        data = json.loads(content[start : end + 1]) if start >= 0 else None
        items = data["claims"] if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ValueError("no 'claims' list")
    except (ValueError, KeyError, TypeError) as exc:
        return [], f"unreadable judge reply ({exc}): {content[:200]!r}"
    by_n = {c.n: c for c in claims}
    verdicts: dict[int, ClaimVerdict] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        try:
            n = int(item.get("claim"))
        except (TypeError, ValueError):
            continue
        if n not in by_n or n in verdicts:
            continue
        reason = str(item.get("reason") or "").strip()
        verdicts[n] = ClaimVerdict(
            claim=n,
            text=by_n[n].text,
            markers=by_n[n].markers,
            supported=item.get("supported") is True,
            reasons=[reason] if reason else [],
        )
    missing = [n for n in by_n if n not in verdicts]
    error = f"no verdict for claim(s) {missing}" if missing else None
    return [verdicts[n] for n in sorted(verdicts)], error
