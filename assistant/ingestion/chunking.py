"""Cut episodes into LlamaIndex ``TextNode`` chunks that carry their citation metadata.

A chunk never crosses a chapter boundary, is at most ``chunk_tokens`` tiktoken tokens
(``cl100k_base``, loaded offline) and may hold several speaker turns; ``turns`` in its
metadata records where each turn starts inside the chunk text (``TurnStart``), so a sentence
quoted from the chunk is attributed to the right speaker and time. The metadata holds typed
values; how Chroma stores them is the store's business (``assistant.index.store``).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import tiktoken

from assistant.schema import Episode, Segment, TimeEstimate, TurnStart
from assistant.text import split_sentences

if TYPE_CHECKING:  # llama-index-core takes seconds to import: only building nodes needs it
    from llama_index.core.schema import TextNode

CHUNKING_VERSION = 5  # 5: a quote keeps its "— Name" attribution


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The ``cl100k_base`` tokenizer, from the files llama-index-core ships."""
    return tiktoken.get_encoding("cl100k_base")


def count_tokens(text: str) -> int:
    """Tokens in ``text`` as OpenAI's ``cl100k_base`` counts them."""
    return len(encoding().encode(text, disallowed_special=()))


@dataclass
class _Piece:
    segment: Segment
    text: str
    tokens: int
    start: int  # where ``text`` starts in ``segment.text``: finds the cue that holds it
    # Where in its chapter this piece is likely said, from its word position between the
    # chapter's start and the next one's (transcripts that stamp chapters only).
    estimate: int | None = None


def _pieces(segment: Segment, limit: int) -> list[_Piece]:
    """Split a segment into sentences, and sentences longer than ``limit`` into token windows."""
    pieces = []
    cursor = 0
    for sentence in split_sentences(segment.text):
        found = segment.text.find(sentence, cursor)
        start = found if found >= 0 else cursor
        cursor = start + len(sentence)
        ids = encoding().encode(sentence, disallowed_special=())
        if len(ids) <= limit:
            pieces.append(_Piece(segment, sentence, len(ids), start))
            continue
        # A 10 MB line with no full stop still has to fit: cut it in token windows.
        window_at = start
        for first in range(0, len(ids), limit):
            part = encoding().decode(ids[first : first + limit]).strip()
            if part:
                found = segment.text.find(part, window_at)
                window_at = found if found >= 0 else window_at
                pieces.append(_Piece(segment, part, min(limit, len(ids) - first), window_at))
    return pieces


def chunk_episode(episode: Episode, chunk_tokens: int, overlap: int) -> list[TextNode]:
    """All chunks of one episode, in order."""
    nodes: list[TextNode] = []
    groups: list[list[Segment]] = []
    for seg in episode.segments:
        same = groups and (groups[-1][0].chapter, groups[-1][0].kind) == (seg.chapter, seg.kind)
        if same:
            groups[-1].append(seg)
        else:
            groups.append([seg])
    for i, group in enumerate(groups):
        pieces = [p for seg in group for p in _pieces(seg, chunk_tokens)]
        _estimate_times(pieces, _next_start(group, groups[i + 1 :]))
        for window in _windows(pieces, chunk_tokens, overlap):
            nodes.append(_node(episode, window, len(nodes)))
    _link_end_times(nodes)
    return nodes


def _next_start(group: list[Segment], later: list[list[Segment]]) -> int | None:
    """When the chapter after ``group`` starts (``None``: it is the last, or untimed)."""
    for other in later:
        if other[0].kind == group[0].kind and other[0].seconds is not None:
            return other[0].seconds
    return None


def _estimate_times(pieces: list[_Piece], end: int | None) -> None:
    """Estimated times for a chapter whose turns carry only the chapter's start: each piece
    at its share of the chapter's words between this start and the next chapter's. Speech
    runs at a steady-enough rate that this lands within a minute or so (measured on the
    Noam Brown transcript, whose turns carry exact times: README, Answers)."""
    first = pieces[0].segment if pieces else None
    if first is None or first.kind != "transcript" or first.exact_time or first.cues:
        return
    start = first.seconds
    if start is None or end is None or end <= start:
        return
    words = [len(p.text.split()) for p in pieces]
    total = sum(words) or 1
    before = 0
    for piece, count in zip(pieces, words, strict=True):
        piece.estimate = start + round(before / total * (end - start))
        before += count


def _windows(pieces: list[_Piece], limit: int, overlap: int) -> list[list[_Piece]]:
    """Greedy windows of whole sentences; the next one repeats up to ``overlap`` tokens."""
    windows: list[list[_Piece]] = []
    start = 0
    while start < len(pieces):
        end, used = start, 0
        # +1 a piece: the space or newline that joins it to the one before can cost a token.
        while end < len(pieces) and (end == start or used + pieces[end].tokens + 1 <= limit):
            used += pieces[end].tokens + (end > start)
            end += 1
        windows.append(pieces[start:end])
        if end >= len(pieces):
            break
        back, kept = end, 0
        while back - 1 > start and kept + pieces[back - 1].tokens <= overlap:
            back -= 1
            kept += pieces[back].tokens
        start = back
    return windows


def _node(episode: Episode, window: list[_Piece], index: int) -> TextNode:
    text_parts: list[str] = []
    # One entry per turn, and one more at each sentence of a turn that starts in a later
    # cue, so a quoted sentence gets the time of its own cue. Entries sit at sentence starts
    # only: a reader that breaks the text at entries (the LLM prompt) never breaks a sentence.
    turns: list[TurnStart] = []
    estimates: list[TimeEstimate] = []  # at each sentence, where only chapters are timed
    offset = 0
    previous: Segment | None = None
    last_seconds: int | None = None
    for piece in window:
        seg = piece.segment
        if previous is not None:
            sep = " " if seg is previous else "\n"
            text_parts.append(sep)
            offset += len(sep)
        at_start = seg.seconds_at(piece.start)
        if seg is not previous or at_start != last_seconds:
            turns.append(
                TurnStart(
                    offset=offset, speaker=seg.speaker, seconds=at_start, exact=seg.exact_time
                )
            )
        last_seconds = at_start
        if piece.estimate is not None:
            estimates.append(TimeEstimate(offset=offset, seconds=piece.estimate))
        text_parts.append(piece.text)
        offset += len(piece.text)
        previous = seg
    text = "".join(text_parts)
    first = window[0].segment
    start_seconds = first.seconds_at(window[0].start)
    speakers = list(dict.fromkeys(p.segment.speaker for p in window if p.segment.speaker))
    by_length: dict[str, int] = {}
    for p in window:
        if p.segment.speaker:
            by_length[p.segment.speaker] = by_length.get(p.segment.speaker, 0) + len(p.text)
    main_speaker = max(by_length, key=by_length.__getitem__) if by_length else None
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    metadata = {
        "episode": episode.label,
        "episode_id": episode.id,
        "episode_title": episode.title,
        "kind": first.kind,
        "language": first.language,
        "chapter": first.chapter or "",
        "seconds": start_seconds if start_seconds is not None else -1,
        "exact_time": bool(first.exact_time),
        "end_seconds": -1,
        "speaker": main_speaker or "",
        "speakers": speakers,
        "turns": turns,
        "estimates": estimates,
        "source_file": episode.source_file,
        "url": episode.url or "",
        "line_start": window[0].segment.line_start,
        "line_end": window[-1].segment.line_end,
        "position": index,
    }
    from llama_index.core.schema import TextNode

    return TextNode(
        id_=f"{episode.id}:{index:05d}:{digest}",
        text=text,
        metadata=metadata,
        excluded_embed_metadata_keys=list(metadata),
        excluded_llm_metadata_keys=list(metadata),
    )


def _link_end_times(nodes: list[TextNode]) -> None:
    """A chunk ends where the next timed chunk starts (or at its chapter's end)."""
    for node, nxt in itertools.pairwise(nodes):
        start, after = node.metadata["seconds"], nxt.metadata["seconds"]
        if start >= 0 and after >= start:
            node.metadata["end_seconds"] = after


def chunk_corpus(episodes: list[Episode], chunk_tokens: int, overlap: int) -> list[TextNode]:
    """Chunks of every episode, in corpus order."""
    return [n for e in episodes for n in chunk_episode(e, chunk_tokens, overlap)]
