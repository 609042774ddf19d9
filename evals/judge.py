"""Faithfulness judges: is each claim of an answer supported by the passages it cites?

An answer's claims are its sentences (or quoted spans) with the ``[n]`` markers that follow
them. Two judges return the same ``Judgement``:

* ``OfflineJudge`` needs no model. It matches each claim with its cited evidence: quoted words
  must be the passage's words, or else the claim's content words must be in the passage;
  every number and capitalised name must appear there; a speaker the claim attributes words
  to must be the one who says them; a negation must not appear or vanish on the way; and,
  when an embedder is given, a claim in another language is compared with its passages by
  embedding (the cross-lingual space: content words cannot match across languages).
* ``LLMJudge`` sends the claims and passages to the configured OpenAI-compatible model with
  ``prompts/judge.txt``.

``perturbation_check`` shows that the offline judge works: it takes answers known to be
faithful, breaks one claim at a time (a number changed, the speaker swapped, a negation
inserted, the claim replaced by a sentence from another episode), and counts how many broken
answers the judge catches and how many faithful ones it flags.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field, computed_field

from assistant.ingestion.transcripts import detect_language
from assistant.prompts import fill, load_prompt
from assistant.schema import Answer, Citation, Hit, format_timestamp
from assistant.text import stem

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.index.embeddings import LocalEmbedder

# --- text helpers -------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MARKERS_RE = re.compile(r"(?:[ \t]*\[\d+\])+")
TOKEN_RE = re.compile(r"[^\W_]+(?:[’'][^\W_]+)*")
NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")
# A full stop that ends a sentence, unless it ends a common abbreviation or an initial.
SENTENCE_END_RE = re.compile(r"(?<=[.!?。])[\"”’)]*\s+(?=\S)")
ABBREVIATIONS = frozenset(["e.g.", "i.e.", "vs.", "dr.", "mr.", "ms.", "prof.", "etc.", "approx."])
NEGATIONS = frozenset(
    ["not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"]
)
# Function words: not what a claim is about. (Negations are kept apart, see NEGATIONS.)
STOPWORDS = _words(
    """
    a an the and or but if then so of to in on at by for with from as is are was were be
    been being do does did have has had this that these those it its it's i you he she we
    they me him her us them my your his our their what which who whom whose when where why
    how about into over under again further there here all any both each few more most other
    some such only own same than too very can will just should now would could like also i'm
    you're we're they're that's there's i've we've you've i'd we'd you'd i'll we'll
    you'll let's yeah yes um uh oh okay ok well really actually kind sort lot lots thing
    things way
    """
)
NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
}
# Words that frame a claim ("Chester said that …", "in the EP 88 article") rather than state
# what the passage says: they are not expected in the passage.
FRAMING = _words(
    """
    ep episode episodes article passage passages chapter host hosts guest guests speaker
    interview podcast quote quoted source sources transcript english korean answer say says
    said tell tells told ask asks asked explain explains explained note notes noted argue
    argues argued add adds added reply replies replied answers answered call calls called
    suggest suggests suggested recall recalls recalled believe believes believed think
    thinks thought predict predicts predicted compare compares compared bring brings brought
    raise raises raised remark remarks remarked confirm confirms confirmed agree agrees
    agreed claim claims claimed state states stated emphasize emphasizes emphasized stress
    stresses stressed observe observes observed put puts liken likens likened see sees view
    views take takes expect expects expected warn warns warned describe describes described
    mention mentions mentioned discuss discusses discussed talk talks talked point points
    pointed according also later earlier first then
    """
)
SPEECH_VERBS = _words(
    """
    saying asking explaining noting arguing adding replying answering calling suggesting
    recalling believing thinking predicting comparing raising remarking confirming agreeing
    claiming stating emphasizing stressing observing describing mentioning warning expecting
    quote quotes quoted quoting open opens opened start starts started begin begins began
    introduce introduces introduced recommend recommends recommended insist insists insisted
    conclude concludes concluded respond responds responded propose proposes proposed say
    says said tell tells told ask asks asked explain explains explained note notes noted
    argue argues argued add adds added reply replies replied answer answers answered call
    calls called suggest suggests suggested recall recalls recalled believe believes
    believed think thinks thought predict predicts predicted compare compares compared bring
    brings brought raise raises raised remark remarks remarked confirm confirms confirmed
    agree agrees agreed claim claims claimed state states stated emphasize emphasizes
    emphasized stress stresses stressed observe observes observed put puts liken likens
    likened describe describes described mention mentions mentioned warn warns warned expect
    expects expected admit admits admitted joke jokes joked wonder wonders wondered estimate
    estimates estimated sees saw feel feels felt
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


def canon(text: str) -> str:
    """Text reduced for verbatim comparison: casefolded, one kind of quote mark and dash,
    single spaces."""
    text = text.casefold()
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-")):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).strip()


def is_verbatim(quote: str, passage: str) -> bool:
    """Whether ``quote`` is the passage's own words; an ellipsis (… or ...) may skip text."""
    parts = [canon(p).strip(" \"'.,;:!?") for p in re.split(r"…|\.\.\.", quote)]
    parts = [p for p in parts if p]
    if not parts:
        return False
    haystack = canon(passage)
    at = 0
    for part in parts:
        found = haystack.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _tokens(text: str) -> list[str]:
    return [t.casefold().replace("’", "'") for t in TOKEN_RE.findall(text)]


def _is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith("n't")


def _term(token: str) -> str | None:
    """The stemmed content term of a token, or ``None`` for stopwords and negations."""
    token = re.sub(r"'s$", "", token)
    if _is_negation(token) or token in STOPWORDS or (len(token) < 2 and not token.isdigit()):
        return None
    return stem(token)


def terms(text: str, drop: frozenset[str] = frozenset()) -> set[str]:
    """Stemmed content words of ``text`` (``drop``: extra unstemmed words to ignore)."""
    out = set()
    for token in _tokens(text):
        if token in drop or re.sub(r"'s$", "", token) in drop:
            continue
        term = _term(token)
        if term:
            out.add(term)
    return out


def numbers(text: str, *, include_one: bool = True) -> set[str]:
    """Numbers in ``text``, normalised: ``2,000`` → ``2000``, ``04:34`` → ``4:34``,
    ``seven`` → ``7``."""
    out: set[str] = set()
    for m in NUMBER_RE.finditer(text):
        s = m.group(0)
        if ":" in s:
            out.add(":".join(str(int(p)) if p.isdigit() else p for p in re.split(r"[:]", s)))
        elif re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
            out.add(s.replace(",", ""))
        else:
            for part in s.split(","):
                if part.isdigit():
                    out.add(str(int(part)))
                elif part:
                    out.add(part.rstrip("."))
    for token in _tokens(text):
        if token in NUMBER_WORDS and (include_one or token != "one"):
            out.add(NUMBER_WORDS[token])
    return out


def quote_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the outermost quotations in ``text``, marks included: “…” (which may nest,
    as in “he said “no” twice”) and straight "…" outside them."""
    spans: list[tuple[int, int]] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "“":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "”" and depth:
            depth -= 1
            if depth == 0:
                spans.append((start, i + 1))
    if depth:  # an unclosed “ runs to the end
        spans.append((start, len(text)))
    for m in re.finditer(r'"[^"]*"', text):
        if not any(a <= m.start() < b for a, b in spans):
            spans.append((m.start(), m.end()))
    return sorted(spans)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text``; a quotation (“…”) is never split."""
    protected = quote_spans(text)
    spans, start = [], 0
    for m in SENTENCE_END_RE.finditer(text):
        if any(a < m.start() < b for a, b in protected):
            continue
        before = text[start : m.start()].split()
        last = before[-1].casefold() if before else ""
        if last.rstrip('"”’)') in ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


# --- claims -------------------------------------------------------------------------------------


class Claim(BaseModel):
    """A sentence or quoted span of an answer with the markers that cite it."""

    n: int = Field(description="1-based position among the answer's claims")
    text: str
    markers: list[int] = Field(default_factory=list)
    start: int = Field(description="character offset of the claim in the answer text")
    end: int


def split_claims(text: str) -> list[Claim]:
    """The claims of an answer: each sentence with the ``[n]`` markers that follow it.

    A marker after the full stop ("… scaling. [2]") belongs to the sentence before it. A
    sentence without markers is a claim citing nothing, unless it is too short to assert
    anything or is a lead-in ending in a colon or a question.
    """
    pieces: list[tuple[int, int, list[int]]] = []
    pos = 0
    for m in MARKERS_RE.finditer(text):
        pieces.append((pos, m.start(), [int(n) for n in re.findall(r"\d+", m.group(0))]))
        pos = m.end()
    if text[pos:].strip():
        pieces.append((pos, len(text), []))
    claims: list[Claim] = []
    for start, end, markers in pieces:
        body = text[start:end]
        spans = split_sentences(body)
        for i, (a, b) in enumerate(spans):
            last = i == len(spans) - 1
            raw = body[a:b]
            lead = len(raw) - len(raw.lstrip(" \t\n.,;:!?"))
            sentence = raw[lead:].rstrip()
            if not sentence:
                continue
            cited = markers if last else []
            if not cited and (len(_tokens(sentence)) < 4 or sentence.endswith((":", "?"))):
                continue
            claims.append(
                Claim(
                    n=len(claims) + 1,
                    text=sentence,
                    markers=cited,
                    start=start + a + lead,
                    end=start + a + lead + len(sentence),
                )
            )
    return claims


# --- evidence -----------------------------------------------------------------------------------


@dataclass
class Sentence:
    """One sentence of a cited passage and the speaker who says it."""

    text: str
    speaker: str | None
    tokens: list[str]
    terms: list[str | None]

    @property
    def termset(self) -> set[str]:
        """The sentence's content terms."""
        return {t for t in self.terms if t}


@dataclass
class Evidence:
    """A cited passage: its text, where it is, and who speaks where inside it."""

    id: str
    text: str
    labels: str  # episode, title, chapter, timestamp, speakers: what a claim may say about it
    turns: list[tuple[int, str | None]] = field(default_factory=list)
    default_speaker: str | None = None
    # The passage in the judge's embedding space, for claims not in English (made on demand).
    vector: np.ndarray | None = None
    _sentences: list[Sentence] | None = field(default=None, repr=False)

    @classmethod
    def from_hit(cls, hit: Hit) -> Evidence:
        """Evidence from a retrieved passage (``turns`` locate each speaker's words)."""
        turns = [(t.offset, t.speaker) for t in hit.turns]
        labels = [hit.episode, hit.episode_title, hit.chapter, hit.timestamp, hit.speaker]
        labels += [s for _, s in turns]
        # An answer may say where in the chapter a quote likely is ("04:34 (≈05:47)").
        labels += [f"≈{format_timestamp(e.seconds)}" for e in hit.estimates]
        if hit.kind == "article":
            labels.append("article")
        return cls(
            id=hit.id,
            text=hit.text,
            labels=" · ".join(x for x in labels if x),
            turns=turns,
            default_speaker=hit.speaker if hit.kind == "transcript" else None,
        )

    @classmethod
    def from_citation(cls, citation: Citation) -> Evidence:
        """Evidence from a citation alone, when its passage is not at hand."""
        labels = [citation.episode, citation.episode_title, citation.chapter]
        labels += [citation.when, citation.speaker]
        return cls(
            id=citation.passage_id,
            text=citation.quote,
            labels=" · ".join(x for x in labels if x),
            default_speaker=citation.speaker,
        )

    def speaker_at(self, offset: int) -> str | None:
        """Who says the words at character ``offset``."""
        speaker = self.default_speaker
        for start, name in self.turns:
            if start > offset:
                break
            speaker = name
        return speaker

    def sentences(self) -> list[Sentence]:
        """The passage's sentences with their speakers (computed once)."""
        if self._sentences is None:
            self._sentences = self._split()
        return self._sentences

    def _split(self) -> list[Sentence]:
        out = []
        for line_match in re.finditer(r"[^\n]+", self.text):
            line = line_match.group(0)
            for a, b in split_sentences(line):
                text = line[a:b].strip()
                tokens = _tokens(text)
                out.append(
                    Sentence(
                        text=text,
                        speaker=self.speaker_at(line_match.start() + a),
                        tokens=tokens,
                        terms=[_term(t) for t in tokens],
                    )
                )
        return out


def evidence_from(answer: Answer, extra: Iterable[Hit] = ()) -> dict[str, Evidence]:
    """Evidence for every passage an answer could cite: its retrieved passages and ``extra``."""
    out = {hit.id: Evidence.from_hit(hit) for hit in [*answer.passages, *extra]}
    for citation in answer.citations:
        out.setdefault(citation.passage_id, Evidence.from_citation(citation))
    return out


# --- verdicts -----------------------------------------------------------------------------------


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


# --- the offline judge --------------------------------------------------------------------------


@dataclass
class _Mention:
    speaker: str
    start: int
    end: int
    attributed: bool  # the claim puts words in this person's mouth ("X said", "X (EP 81):")


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
        drop = FRAMING | _name_words(speakers)

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
            if len([t for t in _tokens(part) if t not in drop]) < 4:
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
        if len(_tokens(inner)) < MIN_QUOTE_WORDS:
            continue
        quotes.append(inner)
        outside.append(text[pos:a])
        pos = b
    outside.append(text[pos:])
    return quotes, " … ".join(o.strip() for o in outside if o.strip())


def _mask_quotes(text: str) -> str:
    """``text`` with quotations blanked out (same length, so offsets still hold)."""
    for a, b in quote_spans(text):
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def _name_words(speakers: Iterable[str]) -> frozenset[str]:
    return frozenset(w.casefold() for s in speakers for w in s.split())


def _names_in(speaker: str, text: str) -> bool:
    words = set(_tokens(text))
    return any(p.casefold() in words for p in speaker.split() if len(p) >= 3)


def _variants(speakers: list[str]) -> dict[str, str]:
    """Ways a claim names a speaker: the full name, or a first name nobody else has. (Not
    the last name: "Yejin Choi" is not Seungjoon Choi.)"""
    firsts: dict[str, int] = {}
    for s in speakers:
        firsts[s.split()[0]] = firsts.get(s.split()[0], 0) + 1
    out: dict[str, str] = {}
    for s in speakers:
        out[s] = s
        first = s.split()[0]
        if len(first) >= 3 and firsts[first] == 1:
            out.setdefault(first, s)
    return out


def _mentions(text: str, speakers: list[str]) -> list[_Mention]:
    """Known speakers the text names outside quotations, and whether it attributes words
    to them."""
    masked = _mask_quotes(text)
    variants = _variants(speakers)
    found: list[_Mention] = []
    for variant in sorted(variants, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(variant)}(?!\w)", masked):
            if any(x.start <= m.start() < x.end for x in found):
                continue
            end = m.end()
            surname = re.match(r" [A-Z][a-z]+(?!\w)", masked[end:])
            if " " not in variant and surname and variants[variant] == variant:
                end += surname.end()  # "Noam" is indexed, "Noam Brown" is written
            found.append(
                _Mention(variants[variant], m.start(), end, _attributed(masked, m.start(), end))
            )
    return sorted(found, key=lambda x: x.start)


NOT_A_VERB = frozenset(
    ["and", "or", "of", "in", "on", "at", "to", "for", "with", "from", "by", "as", "than", "nor"]
)


def _attributed(text: str, start: int, end: int) -> bool:
    """Whether the name at ``text[start:end]`` is who speaks: "X said", "X (EP 81 …):",
    "X's view", "according to X", or X as the subject opening a clause ("…, X argues")."""
    after, before = text[end : end + 40], text[max(0, start - 25) : start].casefold()
    if re.match(r"\s*(?:[’']s\b|\(|:|,\s*(?:who|whose)\b)", after):
        return True
    if re.search(r"\b(according to|asked by|said by|by|from)\s*$", before):
        return True
    following = _tokens(after)[:3]
    if any(t in SPEECH_VERBS for t in following):
        return True
    opens_clause = re.search(
        r"(^|[.;:!?—–,(]|\b(and|but|then|while|so|after|before|when|where)\b)\s*$", before
    )
    return bool(opens_clause and following and following[0] not in NOT_A_VERB)


def _attribution(
    text: str, sentences: list[Sentence], speakers: list[str], drop: frozenset[str]
) -> list[str]:
    """Problems with who the claim says spoke: the words it gives a speaker (up to the next
    name) must be closest to what that speaker says in the cited passage."""
    problems = []
    mentions = [m for m in _mentions(text, speakers) if m.attributed]
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
        if any(s.speaker is None and _names_in(mention.speaker, s.text) for s in top):
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
    tokens = _tokens(evidence)
    have = set(tokens) | {re.sub(r"'s$", "", t) for t in tokens} | set(_name_words(speakers))
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
        if initial and not inner and bare not in _name_words(speakers):
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
        clause_terms = {t for t in (_term(x) for x in _tokens(clause)) if t}
        if negated or len(clause_terms) < 3:
            continue
        for sentence in sentences:
            if sentence.text.rstrip().endswith("?"):
                continue  # "Aren't they all Chinese?" asks; it does not deny
            shared = clause_terms & sentence.termset
            if len(shared) < 3 or len(shared) < 0.6 * len(sentence.termset):
                continue
            for i, token in enumerate(sentence.tokens):
                if not _is_negation(token):
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
    tokens = _tokens(subclause)
    out = []
    for i, token in enumerate(tokens):
        if not _is_negation(token):
            continue
        after: list[str] = []
        for x in tokens[i + 1 :]:
            if x in SCOPE_BREAKS or _is_negation(x) or len(after) == 3:
                break
            term = _term(x)
            if term and not x.isdigit():
                after.append(term)
        before = [t for x in tokens[:i] if (t := _term(x)) and not x.isdigit()][-3:]
        if after or before:
            out.append((token, set(after or before)))
    return out


def _negated_near(tokens: list[str], terms_: list[str | None], scope: set[str]) -> bool:
    """Whether a negation comes shortly before (or right after) a scope term."""
    negs = [i for i, t in enumerate(tokens) if _is_negation(t)]
    spots = [i for i, t in enumerate(terms_) if t in scope]
    return any(-2 <= s - n <= NEGATION_WINDOW for n in negs for s in spots)


# --- the LLM judge ------------------------------------------------------------------------------


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


# --- showing that the offline judge works -------------------------------------------------------

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
        quotes = [(a, b) for a, b in quote_spans(claim.text) if len(_tokens(claim.text[a:b])) >= 3]
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
        for mention in _mentions(claim, speakers):
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
            near = _tokens(inner[max(0, m.start() - 30) : m.end() + 30])
            following = _tokens(inner[m.end() :])[:1]
            if any(_is_negation(t) for t in near) or (following and following[0] in PRONOUNS):
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
