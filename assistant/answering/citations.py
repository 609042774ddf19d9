"""Citations: built from the index's metadata for a quote inside a passage, never from a
synthesizer's own words; markers numbered by first appearance; quotes that stay inside one
speaker's turn."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from assistant.schema import Citation, Hit, format_timestamp
from assistant.text import WORD_RE, content_terms, shorten, split_sentences

CLEAN_MARKER_RE = re.compile(r"\[(\d+)\]")
META_RE = re.compile(
    r"\b(passages?|sources?|episodes?|transcripts?)\b.{0,40}\b(do(?:es)?n[’']?t|do(?:es)? not|"
    r"never|no)\b.{0,40}\b(answer|cover|mention|say|contain|address|discuss|information)",
    re.I,
)


def speaker_changes(hit: Hit) -> list[int]:
    """Offsets in ``hit.text`` where another speaker takes over (a caption's next cue by the
    same speaker is not one)."""
    turns = hit.turns
    return [
        t.offset for t, before in zip(turns[1:], turns, strict=False) if t.speaker != before.speaker
    ]


def cite(hit: Hit, quote: str, n: int) -> Citation:
    """A citation for ``quote`` inside ``hit``: speaker and time of the turn that holds it."""
    offset = max(hit.text.find(quote), 0)
    turn = hit.turn_at(offset)
    speaker, seconds = turn.speaker, turn.seconds if hit.kind == "transcript" else None
    estimated = hit.estimate_at(offset) if seconds is not None else None
    return Citation(
        n=n,
        episode=hit.episode,
        episode_title=hit.episode_title,
        chapter=hit.chapter,
        timestamp=format_timestamp(seconds),
        seconds=seconds,
        speaker=speaker or None,
        quote=quote,
        source_file=hit.source_file,
        kind=hit.kind,
        # A player opened at the estimate lands near the words, not minutes before them.
        url=deep_link(hit.url, estimated if estimated is not None else seconds),
        passage_id=hit.id,
        estimated_seconds=estimated,
    )


def deep_link(url: str | None, seconds: int | None) -> str | None:
    """``url`` opened at ``seconds``: a ``{seconds}`` template, or a ``t=`` query parameter."""
    if not url:
        return None
    if seconds is None:
        return url.replace("{seconds}", "0") if "{seconds}" in url else url
    if "{seconds}" in url:
        return url.replace("{seconds}", str(seconds))
    return f"{url}{'&' if '?' in url else '?'}t={seconds}"


def see_also(hits: list[Hit], limit: int = 3) -> list[Citation]:
    """The closest passages, offered when the answer abstains."""
    out = []
    for hit in hits[:limit]:
        out.append(cite(hit, shorten(hit.text.split("\n")[0], 240), len(out) + 1))
    return out


def renumber(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """Number markers by first appearance and drop citations the text never uses."""
    order: dict[int, int] = {}
    for m in CLEAN_MARKER_RE.finditer(text):
        old = int(m.group(1))
        if old not in order and any(c.n == old for c in citations):
            order[old] = len(order) + 1
    text = CLEAN_MARKER_RE.sub(
        lambda m: f"[{order[int(m.group(1))]}]" if int(m.group(1)) in order else "", text
    )
    kept = []
    for old, new in sorted(order.items(), key=lambda kv: kv[1]):
        c = next(c for c in citations if c.n == old)
        kept.append(c.model_copy(update={"n": new}))
    return re.sub(r"[ \t]+", " ", text).strip(), kept


def dedupe_sources(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """One entry per source a reader can tell apart: citations of the same episode, time,
    speaker and quote (overlapping chunks hold the same sentence) become one marker."""
    first: dict[tuple, int] = {}
    alias: dict[int, int] = {}
    for c in citations:
        key = (c.episode, c.seconds, c.speaker, " ".join(c.quote.split()))
        alias[c.n] = first.setdefault(key, c.n)
    if all(a == n for n, a in alias.items()):
        return text, citations

    def merge(m: re.Match) -> str:
        return f"[{alias.get(int(m.group(1)), int(m.group(1)))}]"

    text = CLEAN_MARKER_RE.sub(merge, text)
    text = re.sub(r"(\[\d+\])(\s*\1)+", r"\1", text)  # "[1] [1]" once merged reads as one
    return renumber(text, [c for c in citations if alias[c.n] == c.n])


# --- quotes ---------------------------------------------------------------------------------


def verbatim_quotes(hit: Hit, sentences: Iterable[str], bridge_words: int = 25) -> list[str]:
    """Quotes cut from the passage itself: sentences next to each other become one quote, and
    so do two with one short sentence between them (it is quoted too); others stay apart.

    A quote is always a verbatim slice of the passage, and never crosses a speaker change:
    its speaker and time are those of the turn it comes from.
    """
    text = hit.text
    boundaries = speaker_changes(hit)
    spans = sorted((text.find(s), text.find(s) + len(s)) for s in sentences if s in text)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged:
            gap = text[merged[-1][1] : start].strip()
            crosses = any(merged[-1][0] < b <= start for b in boundaries)
            if not crosses and (
                start <= merged[-1][1]
                or not gap
                or (len(split_sentences(gap)) == 1 and len(gap.split()) <= bridge_words)
            ):
                merged[-1][1] = max(merged[-1][1], end)
                continue
        merged.append([start, end])
    return [" ".join(text[a:b].split()) for a, b in merged]


def best_quote(passage: str, claims: list[str]) -> str:
    """The sentence of ``passage`` that best matches one of ``claims``; the first sentence
    (with some substance) when none shares a content word."""
    sentences = split_sentences(passage) or [passage.strip()]
    claim_terms = [set(content_terms(c)) for c in claims]
    best, best_score = None, 0.0
    for sentence in sentences:
        words = set(content_terms(sentence))
        if not words:
            continue
        score = max((len(words & ct) for ct in claim_terms), default=0)
        score /= math.sqrt(len(words))
        if len(sentence.split()) < 4:
            score *= 0.5  # "Yes, exactly." matches everything and says nothing
        if score > best_score:
            best, best_score = sentence, score
    if best:
        return best
    return next((s for s in sentences if len(s.split()) >= 4), sentences[0])


# --- checking a written answer --------------------------------------------------------------


def claim_sentences(text: str) -> list[tuple[str, list[int]]]:
    """Sentences of an answer with the marker numbers that belong to each. A marker written
    after the full stop ("… scaling. [2] Next …") belongs to the sentence before it."""
    out: list[tuple[str, list[int]]] = []
    for sentence in split_sentences(text):
        lead = re.match(r"^(\s*\[\d+\])+", sentence)
        if lead and out:
            out[-1][1].extend(int(n) for n in CLEAN_MARKER_RE.findall(lead.group(0)))
            sentence = sentence[lead.end() :].strip()
            if not sentence:
                continue
        markers = [int(n) for n in CLEAN_MARKER_RE.findall(sentence)]
        out.append((CLEAN_MARKER_RE.sub("", sentence).strip(), markers))
    return [(s, m) for s, m in out if s or m]


def is_claim(sentence: str) -> bool:
    """Whether a sentence asserts something a reader would want a source for."""
    s = sentence.strip()
    if len(WORD_RE.findall(s)) < 4 or s.endswith(("?", ":")):
        return False
    return not META_RE.search(s)


def cite_markers(
    text: str, passages: dict[int, tuple[Hit, str]]
) -> tuple[str, list[Citation], list[str]]:
    """Citations for the ``[n]`` markers of a written answer, from the passages they point at.

    ``passages`` maps a marker number to the passage and the part of its text the writer saw.
    Each citation quotes the sentence of that text that best matches the claims citing it;
    markers that point at no passage are dropped; numbering follows first appearance and
    sources that show the same thing are merged. Returns the text, its citations, and the
    claim sentences that cite nothing.
    """
    claims: dict[int, list[str]] = {}
    for sentence, markers in claim_sentences(text):
        for k in markers:
            claims.setdefault(k, []).append(sentence)
    citations = [
        cite(hit, best_quote(seen, claims.get(k, [])), k)
        for k, (hit, seen) in sorted(passages.items())
    ]
    text, citations = renumber(text, citations)
    text, citations = dedupe_sources(text, citations)
    unsupported = [s for s, markers in claim_sentences(text) if not markers and is_claim(s)]
    return text, citations, unsupported
