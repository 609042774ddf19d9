"""Showing that the offline judge works: break faithful answers one claim at a time and count
how many broken answers it catches and how many faithful ones it flags.

``perturbation_check`` takes answers known to be faithful and breaks one claim at a time (a
number changed, the speaker swapped, a negation inserted, the claim replaced by a sentence
from another episode).
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from assistant.schema import Answer
from evals.claims import (
    NUMBER_RE,
    Claim,
    is_negation,
    numbers,
    quote_spans,
    speaker_mentions,
    split_claims,
    words_of,
)
from evals.evidence import Evidence
from evals.judges.offline import OfflineJudge

Perturbation = Literal["number", "speaker", "negation", "other-episode"]
PERTURBATIONS: tuple[Perturbation, ...] = ("number", "speaker", "negation", "other-episode")
AUXILIARIES = re.compile(
    r"\b(is|are|was|were|can|could|will|would|should|has|have|had|does|do|did|may|might|must)\b"
    r"(?!\s+(?:not|never|n[’']t)\b)",
    re.I,
)


class Case(BaseModel):
    """One answer shown to the judge: faithful as written, or with one claim broken."""

    base: str = Field(description="id of the answer it was built from")
    source: str = Field(description="'offline answer' (verbatim) or 'reference answer'")
    kind: Literal["faithful", "number", "speaker", "negation", "other-episode"]
    original: str = ""
    changed: str = ""
    flagged: bool = False
    reasons: list[str] = Field(default_factory=list)


class Tally(BaseModel):
    """How many cases of one kind, and how many of them the judge flagged."""

    total: int = 0
    flagged: int = 0


class PerturbationReport(BaseModel):
    """How the offline judge does on faithful answers and on deliberately broken ones."""

    cases: list[Case] = Field(default_factory=list)
    by_kind: dict[str, Tally] = Field(default_factory=dict)
    by_source: dict[str, Tally] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def faithful(self) -> int:
        """Faithful answers shown."""
        return sum(c.kind == "faithful" for c in self.cases)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wrongly_flagged(self) -> int:
        """Faithful answers the judge flagged anyway."""
        return sum(c.kind == "faithful" and c.flagged for c in self.cases)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unfaithful(self) -> int:
        """Broken answers shown."""
        return sum(c.kind != "faithful" for c in self.cases)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def caught(self) -> int:
        """Broken answers whose broken claim the judge flagged."""
        return sum(c.kind != "faithful" and c.flagged for c in self.cases)

    @property
    def catch_rate(self) -> float | None:
        """Share of broken answers caught."""
        return self.caught / self.unfaithful if self.unfaithful else None

    @property
    def accept_rate(self) -> float | None:
        """Share of faithful answers not flagged."""
        return 1 - self.wrongly_flagged / self.faithful if self.faithful else None


@dataclass
class BaseAnswer:
    """An answer known to be faithful, to break in several ways."""

    id: str
    source: str
    answer: Answer
    evidence: dict[str, Evidence]
    episode_speakers: list[str]  # speakers of the cited episodes, to swap one for another


def perturb(
    base: BaseAnswer,
    kind: Perturbation,
    foreign: Sequence[str],
    rng: random.Random,
) -> tuple[Answer, Claim, str] | None:
    """``base.answer`` with one claim broken the ``kind`` way, the claim, and its new text;
    ``None`` when no claim can be broken that way."""
    text = base.answer.text
    cited_evidence = "\n".join(e.text + "\n" + e.labels for e in base.evidence.values())
    for claim in split_claims(text):
        if not claim.markers:
            continue
        quotes = [(a, b) for a, b in quote_spans(claim.text) if len(words_of(claim.text[a:b])) >= 3]
        # Break the quoted words when there are some, else the sentence.
        target = quotes[0] if quotes else (0, len(claim.text))
        new = _break(claim.text, target, kind, base, foreign, cited_evidence, rng)
        if new is None or new == claim.text:
            continue
        changed = text[: claim.start] + new + text[claim.end :]
        return base.answer.model_copy(update={"text": changed}), claim, new
    return None


PRONOUNS = frozenset(["i", "you", "we", "they", "he", "she", "it", "there", "this", "that"])


def _break(
    claim: str,
    target: tuple[int, int],
    kind: Perturbation,
    base: BaseAnswer,
    foreign: Sequence[str],
    evidence: str,
    rng: random.Random,
) -> str | None:
    a, b = target
    inner = claim[a:b]
    if kind == "number":
        have = numbers(evidence)
        for m in NUMBER_RE.finditer(inner):
            value = m.group(0).replace(",", "")
            if not value.isdigit():
                continue
            n = int(value)
            for step in (3, 7, 11, 2 * n + 5):
                if str(n + step) not in have:
                    return claim[: a + m.start()] + str(n + step) + claim[a + m.end() :]
        return None
    if kind == "speaker":
        speakers = sorted(set(base.episode_speakers))
        for mention in speaker_mentions(claim, speakers):
            others = [s for s in speakers if s != mention.speaker]
            if not mention.attributed or not others:
                continue
            other = rng.choice(others)
            written = claim[mention.start : mention.end]
            # Keep the form the claim used: full name for full name, first name for first.
            new_name = other if " " in written else other.split()[0]
            return claim[: mention.start] + new_name + claim[mention.end :]
        return None
    if kind == "negation":
        # "is" → "is not", where no negation is near already (a double negative says little)
        # and not in a question ("do you mean" → "do not you mean" is no sentence).
        for m in AUXILIARIES.finditer(inner):
            near = words_of(inner[max(0, m.start() - 30) : m.end() + 30])
            following = words_of(inner[m.end() :])[:1]
            if any(is_negation(t) for t in near) or (following and following[0] in PRONOUNS):
                continue
            return claim[: a + m.end()] + " not" + claim[a + m.end() :]
        return None
    if not foreign:
        return None
    sentence = rng.choice(list(foreign))
    if (a, b) == (0, len(claim)):
        return sentence
    return claim[:a] + "“" + sentence + "”" + claim[b:]


def perturbation_check(
    judge: OfflineJudge,
    bases: Sequence[BaseAnswer],
    sentences: Mapping[str, Sequence[str]],
    seed: int = 0,
) -> PerturbationReport:
    """Judge each base answer as is, then once per way of breaking one of its claims.

    ``sentences`` maps each corpus file to some of its sentences: the other-episode
    perturbation takes one from a file the answer does not cite. A broken answer counts as
    caught when the judge flags a claim overlapping the broken text; a faithful one is
    wrongly flagged when any of its claims is flagged.
    """
    report = PerturbationReport()
    for base in bases:
        rng = random.Random(seed * 1_000_003 + zlib.crc32(base.id.encode()))
        judgement = judge.judge(base.answer, base.evidence)
        report.cases.append(
            Case(
                base=base.id,
                source=base.source,
                kind="faithful",
                original=base.answer.text,
                flagged=bool(judgement.flagged),
                reasons=[f"{v.text[:60]}…: {'; '.join(v.reasons)}" for v in judgement.flagged],
            )
        )
        cited = {c.source_file for c in base.answer.citations}
        pool = [x for f in sorted(sentences) if f not in cited for x in sentences[f]]
        for kind in PERTURBATIONS:
            made = perturb(base, kind, pool, rng)
            if made is None:
                continue
            broken, claim, new = made
            result = judge.judge(broken, base.evidence)
            end = claim.start + len(new)
            hits = [
                v
                for v, c in zip(result.verdicts, split_claims(broken.text), strict=False)
                if not v.supported and c.start < end and c.end > claim.start
            ]
            report.cases.append(
                Case(
                    base=base.id,
                    source=base.source,
                    kind=kind,
                    original=claim.text,
                    changed=new,
                    flagged=bool(hits),
                    reasons=[r for v in hits for r in v.reasons],
                )
            )
    for case in report.cases:
        source = case.source if case.kind == "faithful" else f"{case.source}, broken"
        for table, key in ((report.by_kind, case.kind), (report.by_source, source)):
            tally = table.setdefault(key, Tally())
            tally.total += 1
            tally.flagged += case.flagged
    return report
