"""Context packing: the best passages that fit the token budget, each inside delimiters that
a passage's own text cannot close, with speaker labels where the speaker changes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.ingestion.chunking import count_tokens
from assistant.schema import Hit, TurnStart, format_timestamp
from assistant.text import split_sentences

MIN_TRIMMED_TOKENS = 40  # a trimmed passage shorter than this is not worth its header
DELIMITER_RE = re.compile(r"<(\s*/?\s*)(passages?|conversation)\b", re.I)


@dataclass
class Packed:
    """A passage as sent to the model: its number, its hit, and the text actually sent."""

    n: int
    hit: Hit
    text: str


def neutral(text: str) -> str:
    """Defuse anything that looks like our delimiters, so a passage cannot close its tag."""
    return DELIMITER_RE.sub(lambda m: "‹" + m.group(1) + m.group(2), text)


def _attr(value: str) -> str:
    return neutral(" ".join(value.split())).replace('"', "'")


def format_passage(n: int, hit: Hit, text: str) -> str:
    """One passage inside its delimiters, with episode, chapter, timestamp and speakers."""
    turns = hit.turns if hit.kind == "transcript" else []
    speakers = list(dict.fromkeys(t.speaker for t in turns if t.speaker and t.offset < len(text)))
    if not speakers and hit.speaker:
        speakers = [hit.speaker]
    attrs = [("n", str(n)), ("episode", hit.episode), ("title", hit.episode_title)]
    if hit.kind != "transcript":
        attrs.append(("kind", hit.kind))
    if hit.chapter:
        attrs.append(("chapter", hit.chapter))
    if hit.timestamp and hit.kind == "transcript":
        attrs.append(("timestamp", hit.timestamp))
    if speakers:
        attrs.append(("speaker", ", ".join(speakers)))
    head = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs)
    return f"<passage {head}>\n{neutral(_body(hit, text, turns))}\n</passage>"


def _body(hit: Hit, text: str, turns: list[TurnStart]) -> str:
    """The passage text with a speaker label wherever the speaker changes (so the model can
    tell who said what inside a passage that holds several turns)."""
    if not turns:
        return text
    starts = [min(t.offset, len(text)) for t in turns]
    parts = [text[: starts[0]].strip()] if starts[0] > 0 else []
    previous = None
    for turn, start, end in zip(turns, starts, [*starts[1:], len(text)], strict=True):
        piece = text[start:end].strip()
        if not piece:
            continue
        if turn.speaker and turn.speaker != previous:
            when = format_timestamp(turn.seconds) if turn.exact else None
            piece = f"{turn.speaker}{f' ({when})' if when else ''}: {piece}"
        previous = turn.speaker
        parts.append(piece)
    return "\n".join(p for p in parts if p)


def _sentence_ends(text: str) -> list[int]:
    """Character offsets in ``text`` where each of its sentences ends."""
    ends, pos = [], 0
    for sentence in split_sentences(text):
        found = text.find(sentence, pos)
        if found < 0:
            continue
        pos = found + len(sentence)
        ends.append(pos)
    return ends


def wrap_passages(blocks: list[str]) -> str:
    """The passages section of the prompt: every passage between the outer delimiters."""
    return "<passages>\n" + "\n\n".join(blocks) + "\n</passages>"


def pack_passages(hits: list[Hit], budget: int) -> tuple[list[Packed], str]:
    """Fill ``budget`` tokens (the whole passages section, delimiters included) with the best
    passages in rank order. A passage that does not fit whole is cut at a sentence boundary
    (never mid-sentence) when enough of it fits, and skipped otherwise."""
    packed: list[Packed] = []
    blocks: list[str] = []
    for hit in hits:
        if any(hit.text in p.text for p in packed):
            continue  # overlapping chunks: this one adds nothing the model has not got
        n = len(packed) + 1
        block = format_passage(n, hit, hit.text)
        if count_tokens(wrap_passages([*blocks, block])) <= budget:
            packed.append(Packed(n, hit, hit.text))
            blocks.append(block)
            continue
        # Longest prefix of whole sentences that fits (ends are few: a linear scan is cheap).
        for end in reversed(_sentence_ends(hit.text)[:-1]):
            text = hit.text[:end]
            if count_tokens(text) < MIN_TRIMMED_TOKENS:
                break
            block = format_passage(n, hit, text)
            if count_tokens(wrap_passages([*blocks, block])) <= budget:
                packed.append(Packed(n, hit, text))
                blocks.append(block)
                break
    return packed, wrap_passages(blocks)
