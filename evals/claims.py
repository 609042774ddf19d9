"""An answer's claims and the words they are made of: tokens, content terms, numbers,
quotations, and the speakers a claim names.

A claim is a sentence (or a quoted span) of an answer with the ``[n]`` markers that follow it;
both judges and the perturbation check read answers through these helpers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from assistant.text import STOPWORDS, sentence_spans, stem, word_set

MARKERS_RE = re.compile(r"(?:[ \t]*\[\d+\])+")
TOKEN_RE = re.compile(r"[^\W_]+(?:[’'][^\W_]+)*")
NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")
ABBREVIATIONS = frozenset(["e.g.", "i.e.", "vs.", "dr.", "mr.", "ms.", "prof.", "etc.", "approx."])
NEGATIONS = frozenset(
    ["not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "without", "cannot"]
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
# Verbs that report speech ("Chester said", "as he argued"): a name before one is who speaks,
# and in a claim they frame what the passage says rather than say it.
REPORTING_VERBS = word_set(
    """
    say says said tell tells told ask asks asked explain explains explained note notes noted
    argue argues argued add adds added reply replies replied answer answers answered call
    calls called suggest suggests suggested recall recalls recalled believe believes believed
    think thinks thought predict predicts predicted compare compares compared bring brings
    brought raise raises raised remark remarks remarked confirm confirms confirmed agree
    agrees agreed claim claims claimed state states stated emphasize emphasizes emphasized
    stress stresses stressed observe observes observed put puts liken likens likened quote
    quoted sees expect expects expected warn warns warned describe describes described
    mention mentions mentioned
    """
)
SPEECH_VERBS = REPORTING_VERBS | word_set(
    """
    saying asking explaining noting arguing adding replying answering calling suggesting
    recalling believing thinking predicting comparing raising remarking confirming agreeing
    claiming stating emphasizing stressing observing describing mentioning warning expecting
    quotes quoting open opens opened start starts started begin begins began introduce
    introduces introduced recommend recommends recommended insist insists insisted conclude
    concludes concluded respond responds responded propose proposes proposed admit admits
    admitted joke jokes joked wonder wonders wondered estimate estimates estimated saw feel
    feels felt
    """
)


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


def words_of(text: str) -> list[str]:
    return [t.casefold().replace("’", "'") for t in TOKEN_RE.findall(text)]


def is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith("n't")


def content_term(token: str) -> str | None:
    """The stemmed content term of a token, or ``None`` for stopwords and negations."""
    token = re.sub(r"'s$", "", token)
    if is_negation(token) or token in STOPWORDS or (len(token) < 2 and not token.isdigit()):
        return None
    return stem(token)


def terms(text: str, drop: frozenset[str] = frozenset()) -> set[str]:
    """Stemmed content words of ``text`` (``drop``: extra unstemmed words to ignore)."""
    out = set()
    for token in words_of(text):
        if token in drop or re.sub(r"'s$", "", token) in drop:
            continue
        term = content_term(token)
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
    for token in words_of(text):
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


def claim_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` as the package splits them, joined again where a cut fell
    inside a quotation (“…”) or after an abbreviation or an initial ("e.g.", "J."): a
    claim quotes whole and names people by their initials. Lines stay hard breaks."""
    protected = quote_spans(text)
    out: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        if out and "\n" not in text[out[-1][1] : a]:
            start, cut = out[-1]
            last = text[start:cut].split()[-1].casefold()
            # Where the end marks stop: inside a quotation when it closes the quotation too.
            mark = start + len(text[start:cut].rstrip('"”’)'))
            quoted = any(x < mark < y for x, y in protected)
            if quoted or last.rstrip('"”’)') in ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last):
                out[-1] = (start, b)
                continue
        out.append((a, b))
    return out


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
        spans = claim_sentences(body)
        for i, (a, b) in enumerate(spans):
            last = i == len(spans) - 1
            raw = body[a:b]
            lead = len(raw) - len(raw.lstrip(" \t\n.,;:!?"))
            sentence = raw[lead:].rstrip()
            if not sentence:
                continue
            cited = markers if last else []
            if not cited and (len(words_of(sentence)) < 4 or sentence.endswith((":", "?"))):
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


# --- who a claim names -----------------------------------------------------------------------


@dataclass
class Mention:
    speaker: str
    start: int
    end: int
    attributed: bool  # the claim puts words in this person's mouth ("X said", "X (EP 81):")


def _mask_quotes(text: str) -> str:
    """``text`` with quotations blanked out (same length, so offsets still hold)."""
    for a, b in quote_spans(text):
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def name_words(speakers: Iterable[str]) -> frozenset[str]:
    return frozenset(w.casefold() for s in speakers for w in s.split())


def names_in(speaker: str, text: str) -> bool:
    # "Noam’s Dev Stack" names Noam.
    words = {w.removesuffix("'s") for w in words_of(text)}
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


def speaker_mentions(text: str, speakers: list[str]) -> list[Mention]:
    """Known speakers the text names outside quotations, and whether it attributes words
    to them."""
    masked = _mask_quotes(text)
    variants = _variants(speakers)
    found: list[Mention] = []
    for variant in sorted(variants, key=len, reverse=True):
        for m in re.finditer(rf"(?<!\w){re.escape(variant)}(?!\w)", masked):
            if any(x.start <= m.start() < x.end for x in found):
                continue
            end = m.end()
            surname = re.match(r" [A-Z][a-z]+(?!\w)", masked[end:])
            if " " not in variant and surname and variants[variant] == variant:
                end += surname.end()  # "Noam" is indexed, "Noam Brown" is written
            found.append(
                Mention(variants[variant], m.start(), end, _attributed(masked, m.start(), end))
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
    following = words_of(after)[:3]
    if any(t in SPEECH_VERBS for t in following):
        return True
    opens_clause = re.search(
        r"(^|[.;:!?—–,(]|\b(and|but|then|while|so|after|before|when|where)\b)\s*$", before
    )
    return bool(opens_clause and following and following[0] not in NOT_A_VERB)
