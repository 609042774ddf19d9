"""Cold ingestion of one synthetic one-hour episode (about 9,000 words) in every transcript
format: seconds and chunks per second from an empty index and an empty embedding cache.

The episode is the same words in each format (real sentences of the shipped transcripts,
shuffled with a seed, three speakers, a cue every ~12 words), so the figures differ only by
what each format costs to parse and how its turns chunk.
"""

from __future__ import annotations

import html
import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assistant.api import Assistant
from assistant.config import PROJECT_ROOT, Settings
from assistant.ingestion.chunking import chunk_corpus
from assistant.ingestion.corpus import load_corpus
from assistant.schema import format_timestamp
from assistant.text import split_sentences

SPEAKERS = ("Ann Lee", "Bob Ray", "Cy Moss")
EPISODE_SECONDS = 3600
EPISODE_WORDS = 9000
CUE_WORDS = 12


@dataclass
class SyntheticCue:
    """One caption-sized piece of the synthetic episode."""

    start: float
    end: float
    speaker: str
    text: str


def synthetic_cues(seed: int = 0, words: int = EPISODE_WORDS) -> list[SyntheticCue]:
    """About ``words`` words of real English sentences, spoken in turns over an hour."""
    rng = random.Random(seed)
    corpus = load_corpus(PROJECT_ROOT / "episodes")
    sentences = [
        s
        for e in corpus.episodes
        if e.kind == "transcript"
        for seg in e.segments
        if seg.language == "en"
        for s in split_sentences(seg.text)
        if 4 <= len(s.split()) <= 40
    ]
    rng.shuffle(sentences)
    cues: list[SyntheticCue] = []
    total, speaker, turn_left = 0, SPEAKERS[0], 0
    pending: list[str] = []
    for sentence in sentences * (1 + words // max(1, sum(len(s.split()) for s in sentences))):
        if total >= words:
            break
        if turn_left <= 0:
            speaker = rng.choice([s for s in SPEAKERS if s != speaker])
            turn_left = rng.randint(40, 220)
        for word in sentence.split():
            pending.append(word)
            total += 1
            turn_left -= 1
            if len(pending) >= CUE_WORDS:
                cues.append(SyntheticCue(0, 0, speaker, " ".join(pending)))
                pending = []
        if pending and turn_left <= 0:
            cues.append(SyntheticCue(0, 0, speaker, " ".join(pending)))
            pending = []
    if pending:
        cues.append(SyntheticCue(0, 0, speaker, " ".join(pending)))
    step = EPISODE_SECONDS / max(1, len(cues))
    for i, cue in enumerate(cues):
        cue.start, cue.end = i * step, (i + 1) * step
    return cues


def _clock(seconds: float, sep: str = ".") -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{int((seconds - whole) * 1000):03d}"


def _turns(cues: list[SyntheticCue]) -> list[list[SyntheticCue]]:
    turns: list[list[SyntheticCue]] = []
    for cue in cues:
        if turns and turns[-1][0].speaker == cue.speaker:
            turns[-1].append(cue)
        else:
            turns.append([cue])
    return turns


def _vtt(cues: list[SyntheticCue]) -> str:
    body = "".join(
        f"{_clock(c.start)} --> {_clock(c.end)}\n<v {c.speaker}>{c.text}\n\n" for c in cues
    )
    return "WEBVTT - Synthetic hour\n\n" + body


def _srt(cues: list[SyntheticCue]) -> str:
    out, previous = [], None
    for i, c in enumerate(cues, start=1):
        label = f"{c.speaker}: " if c.speaker != previous else ""
        out.append(f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{label}{c.text}\n")
        previous = c.speaker
    return "\n".join(out)


def _json(cues: list[SyntheticCue]) -> str:
    segments = [
        {
            "speaker": c.speaker,
            "startTime": round(c.start, 3),
            "endTime": round(c.end, 3),
            "body": c.text,
        }
        for c in cues
    ]
    return json.dumps({"version": "1.0.0", "segments": segments}, indent=1)


def _html(cues: list[SyntheticCue]) -> str:
    parts = [
        f"<cite>{t[0].speaker}:</cite>\n<time>{format_timestamp(int(t[0].start))}</time>\n"
        f"<p>{html.escape(' '.join(c.text for c in t))}</p>\n"
        for t in _turns(cues)
    ]
    return "<html><body>\n" + "".join(parts) + "</body></html>\n"


def _text_export(cues: list[SyntheticCue]) -> str:
    return "".join(
        f"[{_clock(t[0].start)[:8]}] {t[0].speaker}: {' '.join(c.text for c in t)}\n"
        for t in _turns(cues)
    )


def _headed(cues: list[SyntheticCue]) -> str:
    lines = ["EP 900", "Synthetic hour", "The whole hour 00:00"]
    lines += [f"{t[0].speaker} {' '.join(c.text for c in t)}" for t in _turns(cues)]
    return "\n".join(lines) + "\n"


WRITERS: dict[str, tuple[str, Callable[[list[SyntheticCue]], str]]] = {
    "webvtt": ("hour.vtt", _vtt),
    "srt": ("hour.srt", _srt),
    "podcast-json": ("hour.json", _json),
    "podcast-html": ("hour.html", _html),
    "text-export": ("hour.txt", _text_export),
    "headed (shipped)": ("hour-headed.txt", _headed),
}


def run_ingest_bench(settings: Settings, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per format: words, turns, chunks, cold build seconds and chunks/s (fresh index, fresh
    embedding cache, embedders loaded by the build as a first ``index`` run loads them), and
    the seconds of parsing and chunking alone."""
    import llama_index.core  # noqa: F401  (imported once up front: every format pays the same)

    cues = synthetic_cues(seed)
    words = sum(len(c.text.split()) for c in cues)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ea-ingest-") as tmp:
        for fmt, (name, write) in WRITERS.items():
            folder = Path(tmp) / fmt.split()[0] / "corpus"
            folder.mkdir(parents=True)
            (folder / name).write_text(write(cues), encoding="utf-8")
            update = {"corpus_dir": folder, "index_dir": folder.parent / "index", "feed_file": None}
            bot = Assistant(settings.model_copy(update=update))
            started = time.perf_counter()
            report = bot.index()
            seconds = time.perf_counter() - started
            # Ours alone, without the embedders: reading the format and cutting it in chunks.
            started = time.perf_counter()
            episodes = load_corpus(folder).episodes
            chunk_corpus(episodes, settings.index.chunk_tokens, settings.index.chunk_overlap)
            parse_seconds = time.perf_counter() - started
            turns = sum(len(e.segments) for e in episodes)
            figures[fmt] = {
                "words": words,
                "turns": turns,
                "chunks": report.chunks,
                "seconds": round(seconds, 1),
                "chunks_per_s": round(report.chunks / seconds, 2),
                "parse_and_chunk_s": round(parse_seconds, 2),
            }
    return figures


def print_ingest(console: Console, figures: dict[str, dict[str, float]]) -> None:
    """The per-format table, with the issue's target (under 20 s for the hour)."""
    table = Table(title="cold ingestion of a synthetic one-hour episode (target < 20 s)")
    for column in ("format", "words", "turns", "chunks", "seconds", "chunks/s", "parse+chunk s"):
        table.add_column(column, justify="left" if column == "format" else "right")
    for fmt, f in figures.items():
        mark = "[green]✓[/]" if f["seconds"] < 20 else "[red]✗[/]"
        table.add_row(
            fmt,
            str(f["words"]),
            str(f["turns"]),
            str(f["chunks"]),
            f"{f['seconds']} {mark}",
            str(f["chunks_per_s"]),
            str(f["parse_and_chunk_s"]),
        )
    console.print(table)
