"""The offline faithfulness judge: each claim matched with the passages it cites, no model.

Quoted words must be the passage's words, or else the claim's content words must be in the
passage; every number and capitalised name must appear there; a speaker the claim attributes
words to must be the one who says them; a negation must not appear or vanish on the way; and,
when an embedder is given, a claim in another language is compared with its passages by
embedding (the cross-lingual space: content words cannot match across languages).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from assistant.schema import Answer, Citation
from assistant.text import detect_language, word_set
from evals.claims import (
    REPORTING_VERBS,
    Claim,
    content_term,
    is_negation,
    is_verbatim,
    name_words,
    names_in,
    numbers,
    quote_spans,
    speaker_mentions,
    split_claims,
    terms,
    words_of,
)
from evals.evidence import Evidence, Sentence, evidence_from
from evals.judges.verdicts import ClaimVerdict, Judgement

if TYPE_CHECKING:
    from assistant.index.embeddings import LocalEmbedder

# Words that frame a claim ("Chester said that …", "in the EP 88 article") rather than state
# what the passage says: they are not expected in the passage.
FRAMING = REPORTING_VERBS | word_set(
    """
    ep episode episodes article passage passages chapter host hosts guest guests speaker
    interview podcast source sources transcript english korean see view views take takes
    discuss discusses discussed talk talks talked point points pointed according also later
    earlier first then
    """
)
# Capitalised words that are framing or too generic to check as names.
NAME_ALLOWLIST = frozenset(["i", "ep", "english", "korean", "ai", "q", "a", "ok", "okay"])
MIN_COVERAGE = 0.6  # share of a paraphrase's content words that must be in the evidence
# Claim-to-passage cosine for claims not in English, in the cross-lingual USE-m3 space (tuned
# on the dev split: e5, the main embedder, hardly separates supporting from unrelated passages).
MIN_SIMILARITY = 0.25
MIN_QUOTE_WORDS = 3  # shorter quoted spans are emphasis ("so-called “scaling”"), not quotes
NEGATION_WINDOW = 8


class OfflineJudge:
    """Claim-to-evidence matching; needs no model (an embedder is optional).

    >>> judge = OfflineJudge(speakers=bot.speakers(), embedder=bot.crosslingual or bot.embedder)
    >>> judge.judge(answer).faithfulness

    The embedder is only used for claims not in English. Measured on the dev split, the
    cross-lingual USE-m3 space separates a Korean claim's own passages from unrelated ones
    (cosine ≳ 0.25 vs ≲ 0.25); e5, the main embedder, barely does (0.85 vs 0.82 medians),
    in English too, where content words already do better.
    """

    name = "offline"

    def __init__(self, speakers: Sequence[str] = (), embedder: LocalEmbedder | None = None) -> None:
        self.speakers = list(speakers)
        self.embedder = embedder
        self._queries: dict[str, np.ndarray] = {}

    def judge(self, answer: Answer, evidence: Mapping[str, Evidence] | None = None) -> Judgement:
        """Judge every claim of ``answer`` against the passages its markers cite."""
        started = time.perf_counter()
        evidence = evidence if evidence is not None else evidence_from(answer)
        by_n = {c.n: c for c in answer.citations}
        verdicts = []
        if not answer.abstained:
            for claim in split_claims(answer.text):
                cited = [by_n[m] for m in claim.markers if m in by_n]
                passages = [evidence.get(c.passage_id) or Evidence.from_citation(c) for c in cited]
                verdicts.append(self.check(claim, cited, passages))
        return Judgement(judge=self.name, verdicts=verdicts, seconds=time.perf_counter() - started)

    # --- one claim ------------------------------------------------------------------------

    def check(self, claim: Claim, cited: list[Citation], passages: list[Evidence]) -> ClaimVerdict:
        """The verdict on one claim given the citations and passages it cites."""
        verdict = ClaimVerdict(
            claim=claim.n, text=claim.text, markers=claim.markers, supported=True
        )
        if not claim.markers:
            return _fail(verdict, "cites no passage")
        if not cited:
            return _fail(verdict, f"cites {claim.markers}, which no citation carries")
        text = claim.text
        evidence_text = "\n".join(p.text for p in passages)
        labels = " · ".join([p.labels for p in passages] + [_labels(c) for c in cited])
        sentences = [s for p in passages for s in p.sentences()]
        speakers = self._speakers(cited, passages)
        drop = FRAMING | name_words(speakers)

        # Quoted words are checked as quotes; what is not verbatim is checked as a paraphrase.
        quotes, outside = _quotes(text)
        loose = [q for q in quotes if not is_verbatim(q, evidence_text)]
        if len(loose) < len(quotes):
            verdict.reasons.append("quotes the passage verbatim")
        if loose:
            verdict.reasons.append("quotation not verbatim: checked as a paraphrase")
        # Around a quotation is framing ("Seonghyun Kim (EP 81 at 04:34): …"), unless it says
        # more than that in English.
        substance = {
            t
            for t in terms(outside, drop) - terms(labels)
            if t.isascii() and not t.replace(".", "").isdigit()
        }
        framing_only = len(substance) < 4
        checked = loose if quotes and framing_only else [*loose, outside]
        unquoted = " ".join([outside, *loose])

        problems: list[str] = []
        for part in checked:
            problems += self._content(part, evidence_text + "\n" + labels, passages, drop, verdict)
        problems += _numbers_missing(unquoted, evidence_text + "\n" + labels)
        problems += _names_missing(unquoted, evidence_text + "\n" + labels, speakers)
        problems += _attribution(text, sentences, speakers, drop)
        for problem in problems:
            _fail(verdict, problem)
        return verdict

    def _speakers(self, cited: list[Citation], passages: list[Evidence]) -> list[str]:
        names = [*self.speakers, *(c.speaker for c in cited if c.speaker)]
        names += [s for p in passages for _, s in p.turns if s]
        return list(dict.fromkeys(n for n in names if n))

    def _content(
        self,
        part: str,
        evidence: str,
        passages: list[Evidence],
        drop: frozenset[str],
        verdict: ClaimVerdict,
    ) -> list[str]:
        """Problems with what a paraphrase (or loose quotation) says."""
        sentences = [s for p in passages for s in p.sentences()]
        if detect_language(part) != "en":
            # Content words cannot be matched across languages; the embedding space can, for
            # a claim that says more than a name ("최승준(Seungjoon Choi) 님입니다." does not).
            if len([t for t in words_of(part) if t not in drop]) < 4:
                return []
            if self.embedder is None:
                verdict.reasons.append("not English: content not checked without an embedder")
                return []
            sim = self._similarity(part, passages)
            verdict.similarity = round(sim, 3)
            if sim < MIN_SIMILARITY:
                return [f"meaning far from the cited passage (similarity {sim:.2f})"]
            return []
        wanted = terms(part, drop)
        if not wanted:
            return []
        have = terms(evidence)
        coverage = len(wanted & have) / len(wanted)
        verdict.coverage = round(coverage, 3) if verdict.coverage is None else verdict.coverage
        problems = []
        if coverage < MIN_COVERAGE:
            missing = sorted(wanted - have)[:6]
            problems.append(
                f"only {coverage:.0%} of its content words are in the cited passage "
                f"(missing: {', '.join(missing)})"
            )
        problems += _negation_problems(part, sentences)
        return problems

    def _similarity(self, part: str, passages: list[Evidence]) -> float:
        """Cosine of the claim and its closest cited passage in the judge's embedding space."""
        assert self.embedder is not None
        if part not in self._queries:
            self._queries[part] = self.embedder.embed_query(part)
        missing = [p for p in passages if p.vector is None]
        if missing:
            for p, v in zip(
                missing, self.embedder.embed_passages([p.text for p in missing]), strict=True
            ):
                p.vector = v
        return max(float(np.dot(p.vector, self._queries[part])) for p in passages)


def _fail(verdict: ClaimVerdict, reason: str) -> ClaimVerdict:
    verdict.supported = False
    verdict.reasons.append(reason)
    return verdict


def _labels(citation: Citation) -> str:
    parts = [citation.episode, citation.episode_title, citation.chapter, citation.when]
    parts += [citation.speaker]
    return " · ".join(p for p in parts if p)


def _quotes(text: str) -> tuple[list[str], str]:
    """Quoted spans long enough to be quotations, and the text around them."""
    quotes, outside, pos = [], [], 0
    for a, b in quote_spans(text):
        inner = text[a + 1 : b - 1] if text[b - 1] in '”"' else text[a + 1 : b]
        if len(words_of(inner)) < MIN_QUOTE_WORDS:
            continue
        quotes.append(inner)
        outside.append(text[pos:a])
        pos = b
    outside.append(text[pos:])
    return quotes, " … ".join(o.strip() for o in outside if o.strip())


def _attribution(
    text: str, sentences: list[Sentence], speakers: list[str], drop: frozenset[str]
) -> list[str]:
    """Problems with who the claim says spoke: the words it gives a speaker (up to the next
    name) must be closest to what that speaker says in the cited passage."""
    problems = []
    mentions = [m for m in speaker_mentions(text, speakers) if m.attributed]
    for i, mention in enumerate(mentions):
        until = mentions[i + 1].start if i + 1 < len(mentions) else len(text)
        wanted = terms(text[mention.end : until], drop)
        if not wanted:
            continue  # "Chester said it": nothing to place
        scores = [len(wanted & s.termset) for s in sentences]
        best = max(scores, default=0)
        if best == 0:
            continue  # nothing supports the words at all: the content check says so
        own = max(
            (sc for s, sc in zip(sentences, scores, strict=True) if s.speaker == mention.speaker),
            default=0,
        )
        if own >= 0.8 * best:
            continue
        top = [s for s, sc in zip(sentences, scores, strict=True) if sc >= 0.8 * best]
        # An article names people in its text rather than as speakers.
        if any(s.speaker is None and names_in(mention.speaker, s.text) for s in top):
            continue
        said_by = sorted({s.speaker or "the article" for s in top})
        problems.append(
            f"attributes the words to {mention.speaker}, but in the cited passage they are "
            f"said by {', '.join(said_by)}"
        )
    return problems


def _numbers_missing(text: str, evidence: str) -> list[str]:
    missing = sorted(numbers(text, include_one=False) - numbers(evidence))
    if not missing:
        return []
    return [f"number{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the passage"]


def _names_missing(text: str, evidence: str, speakers: list[str]) -> list[str]:
    """Capitalised names (Latin script) in ``text`` that the evidence never mentions."""
    tokens = words_of(evidence)
    have = set(tokens) | {re.sub(r"'s$", "", t) for t in tokens} | set(name_words(speakers))
    have |= {part for t in tokens for part in re.findall(r"[a-z]{2,}", t)}
    missing = []
    for m in re.finditer(r"[A-Za-z][A-Za-z0-9’'\-]*", text):
        word = m.group(0)
        if not word[0].isupper():
            continue
        prefix = text[: m.start()].rstrip()
        initial = not prefix or prefix[-1] in ".!?:;“\"(—–-…‘'" or not prefix[-1].isascii()
        inner = any(ch.isupper() or ch.isdigit() for ch in word[1:])
        bare = re.sub(r"'s$", "", word.replace("’", "'")).casefold().strip("'-")
        if initial and not inner and bare not in name_words(speakers):
            continue  # a capital that only starts a sentence
        if bare in have or bare in NAME_ALLOWLIST:
            continue
        parts = [p for p in re.findall(r"[a-z]{2,}", bare) if p not in NAME_ALLOWLIST]
        if any(p not in have for p in parts):
            missing.append(word)
    missing = list(dict.fromkeys(missing))
    if not missing:
        return []
    return [f"name{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the passage"]


def _negation_problems(part: str, sentences: list[Sentence]) -> list[str]:
    """A negation the claim adds, or one the passage has and the claim drops.

    A negated phrase in the claim ("not a paradigm shift") must be negated in some passage
    sentence that has its words. A clause that closely restates a negated passage sentence
    must keep the negation.
    """
    for clause in re.split(r"[;:.!?—–“”\"]", part):
        negated = [x for sub in re.split(r"[,()]", clause) for x in _claim_scope(sub)]
        for cue, scope in negated:
            need = max(1, math.ceil(2 * len(scope) / 3))
            saying = [s for s in sentences if len(scope & s.termset) >= need]
            if saying and not any(_negated_near(s.tokens, s.terms, scope) for s in saying):
                return [f"says “{cue} …” where the cited passage has no negation"]
        clause_terms = {t for t in (content_term(x) for x in words_of(clause)) if t}
        if negated or len(clause_terms) < 3:
            continue
        for sentence in sentences:
            if sentence.text.rstrip().endswith("?"):
                continue  # "Aren't they all Chinese?" asks; it does not deny
            shared = clause_terms & sentence.termset
            if len(shared) < 3 or len(shared) < 0.6 * len(sentence.termset):
                continue
            for i, token in enumerate(sentence.tokens):
                if not is_negation(token):
                    continue
                scope = {t for t in sentence.terms[i + 1 : i + 1 + NEGATION_WINDOW] if t}
                hit = scope & clause_terms
                if len(hit) >= 2 and len(hit) >= 0.6 * len(scope):
                    return [f"drops the passage's “{token}” (“{sentence.text[:80]}”)"]
    return []


SCOPE_BREAKS = frozenset(
    ["and", "but", "or", "because", "which", "that", "so", "while", "whereas", "than"]
)


def _claim_scope(subclause: str) -> list[tuple[str, set[str]]]:
    """Each negation cue of a subclause and the content terms it negates: up to three after
    it, stopping at a conjunction ("no harness and …"), else up to three before it. Numbers
    are not what a negation negates ("not everything (EP 81, 33:40)")."""
    tokens = words_of(subclause)
    out = []
    for i, token in enumerate(tokens):
        if not is_negation(token):
            continue
        after: list[str] = []
        for x in tokens[i + 1 :]:
            if x in SCOPE_BREAKS or is_negation(x) or len(after) == 3:
                break
            term = content_term(x)
            if term and not x.isdigit():
                after.append(term)
        before = [t for x in tokens[:i] if (t := content_term(x)) and not x.isdigit()][-3:]
        if after or before:
            out.append((token, set(after or before)))
    return out


def _negated_near(tokens: list[str], terms_: list[str | None], scope: set[str]) -> bool:
    """Whether a negation comes shortly before (or right after) a scope term."""
    negs = [i for i, t in enumerate(tokens) if is_negation(t)]
    spots = [i for i, t in enumerate(terms_) if t in scope]
    return any(-2 <= s - n <= NEGATION_WINDOW for n in negs for s in spots)
