"""What a judge returns: a verdict per claim, and the judgement of a whole answer."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

# How a Judgement names its judge: "offline", "llm:<model>", "llamaindex:<model>".
OFFLINE_JUDGE, LLM_JUDGE, LLAMAINDEX_JUDGE = "offline", "llm", "llamaindex"


class ClaimVerdict(BaseModel):
    """A judge's verdict on one claim."""

    claim: int
    text: str
    markers: list[int] = Field(default_factory=list)
    supported: bool
    reasons: list[str] = Field(default_factory=list, description="why not, or notes")
    coverage: float | None = Field(None, description="share of content words in the evidence")
    similarity: float | None = None


class Judgement(BaseModel):
    """Every claim of one answer, judged."""

    judge: str
    verdicts: list[ClaimVerdict] = Field(default_factory=list)
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def faithfulness(self) -> float | None:
        """Share of claims supported; ``None`` when there is nothing to judge."""
        if not self.verdicts:
            return None
        return sum(v.supported for v in self.verdicts) / len(self.verdicts)

    @property
    def flagged(self) -> list[ClaimVerdict]:
        """The claims judged unsupported."""
        return [v for v in self.verdicts if not v.supported]
