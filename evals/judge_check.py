"""The offline judge's own check in a run: this split's faithful answers (correct offline
answers, and the reference answers written as cited answers), broken and judged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.answering.citations import cite
from assistant.schema import Answer, Citation, Hit
from evals.claims import claim_sentences
from evals.dataset import QAPair, normalize_ws
from evals.evidence import Evidence, evidence_from
from evals.judges import OfflineJudge
from evals.models import QuestionResult
from evals.perturb import BaseAnswer, PerturbationReport, perturbation_check

if TYPE_CHECKING:
    from assistant.api import Assistant


def judge_check(
    bot: Assistant,
    judge: OfflineJudge,
    pairs: Sequence[QAPair],
    results: Sequence[QuestionResult],
    answers: dict[str, tuple[Answer, dict[str, Evidence]]],
    chunks: Sequence[Hit],
) -> PerturbationReport:
    """Run the perturbation check on this split's correct answers and reference answers.

    Correct answers: offline answers (quotations, so faithful by construction) that are
    answered, covered, cite a gold source and quote every citation verbatim. A model's
    answers are not used: they may be unfaithful themselves. Because quotations are easy to
    match, the reference answers are added too (human paraphrases citing the passages that
    hold their gold quotes): on those the judge has to match meaning, not strings.
    ``chunks``: every passage of the index, sorted by id.
    """
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
    sentences = [text[a:b].strip() for a, b in claim_sentences(text)]
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
        for a, b in claim_sentences(text):
            sentence = text[a:b].strip()
            if 10 <= len(sentence.split()) <= 40 and '"' not in sentence and "“" not in sentence:
                by_file.setdefault(hit.source_file, {})[sentence] = None
    return {f: list(sentences) for f, sentences in sorted(by_file.items())}
