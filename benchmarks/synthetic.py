"""A synthetic corpus N times the size of a real one, for benchmarks: deterministic from a seed.

Copy 0 is the real corpus as it is. Every further copy rewrites each real file in its own
format with a new episode number and title, its chapters (or article sections) in a seeded
new order and re-timed so that times still move forward, and every speaker turn whole.
Chunks never cross a chapter, so nearly every chunk of a copy has the text of a real chunk:
the embedding cache (seeded from the shipped vectors, which are copied along) serves them,
and store, BM25 and search are measured at full scale with real vectors, without waiting
for the embedder.

``.synth.json`` (hidden, so never indexed) records where each file comes from and how its
chapter times map back, so a retrieved passage of a copy can be scored against the gold
sources of the real file.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from assistant.ingestion.corpus import METADATA_FILE, list_files, load_metadata
from assistant.ingestion.text_formats import (
    ARTICLE_TITLE_RE,
    CHAPTER_LIST_HEADING_RE,
    HEADER_RE,
    MAX_CHAPTER_HEADING_CHARS,
    MD_HEADING_RE,
    NUMBERED_HEADING_RE,
    STAMPED_TURN_RE,
)
from assistant.ingestion.transcripts import Metadata, parse_text
from assistant.schema import format_timestamp

ORIGINS_FILE = ".synth.json"
FIRST_NUMBER = 100  # synthetic episodes are numbered from here on, clear of the real ones
WORDS_PER_SECOND = 2.5  # to guess how long a last chapter runs


@dataclass
class ChapterMap:
    """A chapter's start and end in the copy and in the real file (``None``: episode end)."""

    start: int
    origin_start: int
    end: int | None
    origin_end: int | None


@dataclass
class Origin:
    """Where a corpus file comes from: the real file, which copy, how its times map back."""

    file: str
    copy: int = 0
    chapters: list[ChapterMap] = field(default_factory=list)

    def span(self, seconds: int | None, end: int | None) -> tuple[int | None, int | None]:
        """A passage's ``[seconds, end_seconds]`` in the real file's time."""
        if not self.chapters or seconds is None:
            return seconds, end
        chapter = next((c for c in self.chapters if c.start == seconds), None)
        if chapter is None:
            return seconds, end
        if end == seconds:
            return chapter.origin_start, chapter.origin_start
        if end is None or end == chapter.end:
            return chapter.origin_start, chapter.origin_end
        return chapter.origin_start, None


@dataclass
class SynthReport:
    """What ``write_corpus`` wrote."""

    target: Path
    scale: int
    seed: int
    files: int = 0
    bytes: int = 0
    origins: dict[str, Origin] = field(default_factory=dict)


def write_corpus(source: Path, target: Path, scale: int, seed: int = 0) -> SynthReport:
    """Write ``scale`` times the corpus at ``source`` into ``target`` (emptied first)."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, not {scale}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if (source / ".embeddings").is_dir():
        shutil.copytree(source / ".embeddings", target / ".embeddings")
    files = list_files(source)
    metadata, _ = load_metadata(source)
    report = SynthReport(target=target, scale=scale, seed=seed)
    yaml_entries: dict[str, dict] = {}
    texts = {f.name: f.path.read_text(encoding="utf-8") for f in files}
    for f in files:
        _write(target / f.name, texts[f.name], report)
        report.origins[f.name] = Origin(file=f.name)
        if f.name in metadata:
            yaml_entries[f.name] = _entry(metadata[f.name])
    numbers = _numbers(files, texts, metadata, scale, seed)
    for copy in range(1, scale):
        for f in files:
            rng = random.Random(f"{seed}:{copy}:{f.name}")
            number = numbers[copy, _episode_key(f.name, texts[f.name], metadata)]
            text, chapters = rewrite(texts[f.name], f.name, number, copy, rng)
            name = _copy_name(copy, f.name)
            _write(target / name, text, report)
            report.origins[name] = Origin(file=f.name, copy=copy, chapters=chapters)
            if f.name in metadata:
                yaml_entries[name] = _copy_entry(metadata[f.name], number, copy)
    if yaml_entries:
        header = "# Written by benchmarks.synthetic: a synthetic corpus for benchmarks.\n"
        body = yaml.safe_dump(yaml_entries, allow_unicode=True, sort_keys=True)
        (target / METADATA_FILE).write_text(header + body, encoding="utf-8")
    (target / ORIGINS_FILE).write_text(
        json.dumps(
            {
                "scale": scale,
                "seed": seed,
                "origins": {k: asdict(v) for k, v in report.origins.items()},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return report


def load_origins(corpus: Path) -> dict[str, Origin]:
    """The origin of every file of a synthetic corpus (empty for a real one)."""
    path = corpus / ORIGINS_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))["origins"]
    return {
        name: Origin(
            file=o["file"], copy=o["copy"], chapters=[ChapterMap(**c) for c in o["chapters"]]
        )
        for name, o in data.items()
    }


def new_article(source: Path, number: int, seed: int = 0) -> tuple[str, str]:
    """A file name and text for an article episode whose passages exist nowhere yet.

    Built from the sentences of the corpus's shortest article, each paragraph's sentences in
    a new order and tagged with the new episode number, so every one of its chunks has new
    text and must be embedded: what adding one new episode costs.
    """
    files = list_files(source)
    articles = [
        f
        for f in files
        if (first := _first_line(f.path.read_text(encoding="utf-8"))) is not None
        and ARTICLE_TITLE_RE.match(first)
    ]
    if not articles:
        raise ValueError(f"no article in {source} to build a new episode from")
    base = min(articles, key=lambda f: f.path.stat().st_size)
    rng = random.Random(f"{seed}:new:{number}")
    lines = base.path.read_text(encoding="utf-8").split("\n")
    out = [f"EP {number}: Notes on episode {number}", ""]
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped or _is_section_heading(stripped):
            out.append(line)
            continue
        sentences = re.split(r"(?<=[.!?])\s+", stripped)
        rng.shuffle(sentences)
        out.append(f"(EP {number}) " + " ".join(sentences))
    return f"new_{number:05d}.txt", "\n".join(out)


# --- rewriting one file ------------------------------------------------------------------------


def rewrite(
    text: str, name: str, number: int, copy: int, rng: random.Random
) -> tuple[str, list[ChapterMap]]:
    """One file as copy ``copy``: renumbered, retitled, chapters or sections reordered."""
    lines = text.split("\n")
    if sum(1 for ln in lines if STAMPED_TURN_RE.match(ln.strip())) >= 3:
        return _rewrite_stamped(lines, rng), []
    first = _first_index(lines)
    if first is not None and HEADER_RE.match(lines[first].strip()):
        return _rewrite_headed(text, lines, name, number, copy, rng)
    if first is not None and (m := ARTICLE_TITLE_RE.match(lines[first].strip())):
        title = re.sub(r"\s*preview image\s*$", "", m.group(2)).strip()
        head = [*lines[:first], f"EP {number}: {_retitle(title, copy)}"]
        return "\n".join(head + _shuffle_sections(lines[first + 1 :], rng)), []
    return text, []  # plain text: copied as it is


def _rewrite_headed(
    text: str, lines: list[str], name: str, number: int, copy: int, rng: random.Random
) -> tuple[str, list[ChapterMap]]:
    episode = parse_text(text, name, Metadata()).episode
    chapters = [
        c for c in (episode.chapters if episode else []) if c.line and c.seconds is not None
    ]
    non_empty = [i for i, ln in enumerate(lines) if ln.strip()]
    lines = list(lines)
    lines[non_empty[0]] = f"EP {number}"
    if len(non_empty) > 1 and (not chapters or non_empty[1] < chapters[0].line - 1):
        lines[non_empty[1]] = _retitle(lines[non_empty[1]].strip(), copy)
    if not chapters:
        return "\n".join(lines), []
    starts = [c.line - 1 for c in chapters]  # 0-based index of each heading line
    blocks = [lines[s:e] for s, e in zip(starts, [*starts[1:], len(lines)], strict=True)]
    durations = []
    for i, chapter in enumerate(chapters):
        if i + 1 < len(chapters):
            durations.append(chapters[i + 1].seconds - chapter.seconds)
        else:
            words = sum(len(ln.split()) for ln in blocks[i][1:])
            durations.append(max(60, round(words / WORDS_PER_SECOND)))
    order = list(range(len(chapters)))
    rng.shuffle(order)
    out = lines[: starts[0]]
    maps: list[ChapterMap] = []
    at = chapters[0].seconds
    for position, i in enumerate(order):
        chapter = chapters[i]
        heading = f"{chapter.title} {format_timestamp(at)}"
        out.append(heading)
        out.extend(blocks[i][1:])
        last_here = position == len(order) - 1
        maps.append(
            ChapterMap(
                start=at,
                origin_start=chapter.seconds,
                end=None if last_here else at + durations[i],
                origin_end=chapters[i + 1].seconds if i + 1 < len(chapters) else None,
            )
        )
        at += durations[i]
    return "\n".join(out), maps


def _rewrite_stamped(lines: list[str], rng: random.Random) -> str:
    """Article sections before the chapter list reordered; the stamped turns kept in order."""
    first_turn = next(i for i, ln in enumerate(lines) if STAMPED_TURN_RE.match(ln.strip()))
    list_start = next(
        (i for i, ln in enumerate(lines) if CHAPTER_LIST_HEADING_RE.match(ln.strip())), None
    )
    article_end = list_start if list_start is not None and list_start < first_turn else first_turn
    return "\n".join(_shuffle_sections(lines[:article_end], rng) + lines[article_end:])


def _shuffle_sections(lines: list[str], rng: random.Random) -> list[str]:
    """Lines before the first heading stay first; each heading and its paragraphs move as one."""
    heads = [i for i, ln in enumerate(lines) if _is_section_heading(ln.strip())]
    if len(heads) < 2:
        return list(lines)
    blocks = [lines[s:e] for s, e in zip(heads, [*heads[1:], len(lines)], strict=True)]
    for block in blocks:  # a blank line between sections, wherever they land
        if block[-1].strip():
            block.append("")
    rng.shuffle(blocks)
    return lines[: heads[0]] + [ln for block in blocks for ln in block]


def _is_section_heading(line: str) -> bool:
    """The article parser's rule for a heading (a chapter of the paragraphs that follow)."""
    heading = MD_HEADING_RE.match(line) or NUMBERED_HEADING_RE.match(line)
    return bool(heading) and len(line) <= MAX_CHAPTER_HEADING_CHARS and not line.endswith(".")


# --- numbering and names -------------------------------------------------------------------------


def _numbers(
    files: list, texts: dict[str, str], metadata: dict[str, Metadata], scale: int, seed: int
) -> dict[tuple[int, str], int]:
    """A new episode number per (copy, real episode); a transcript and its article share one."""
    keys = sorted({_episode_key(f.name, texts[f.name], metadata) for f in files})
    pool = list(range(FIRST_NUMBER, FIRST_NUMBER + len(keys) * max(scale - 1, 1)))
    random.Random(f"{seed}:numbers").shuffle(pool)
    numbers = iter(pool)
    return {(copy, key): next(numbers) for copy in range(1, scale) for key in keys}


def _episode_key(name: str, text: str, metadata: dict[str, Metadata]) -> str:
    meta = metadata.get(name)
    if meta and meta.number:
        return meta.number
    first = _first_line(text) or ""
    if m := HEADER_RE.match(first):
        return f"EP {int(m.group(1))}"
    if m := ARTICLE_TITLE_RE.match(first):
        return f"EP {int(m.group(1))}"
    return name


def _retitle(title: str, copy: int) -> str:
    return f"{title} (rerun {copy})"


def _copy_name(copy: int, name: str) -> str:
    path = Path(name)
    return str(path.with_name(f"syn{copy:03d}_{path.name}"))


def _entry(meta: Metadata) -> dict:
    return {k: v for k, v in vars(meta).items() if v is not None}


def _copy_entry(meta: Metadata, number: int, copy: int) -> dict:
    entry = _entry(meta)
    entry["number"] = f"EP {number}"
    if meta.label:
        entry["label"] = f"{meta.label} · EP {number}"
    if meta.title:
        entry["title"] = _retitle(meta.title, copy)
    return entry


def _first_index(lines: list[str]) -> int | None:
    return next((i for i, ln in enumerate(lines) if ln.strip()), None)


def _first_line(text: str) -> str | None:
    return next((ln.strip() for ln in text.split("\n") if ln.strip()), None)


def _write(path: Path, text: str, report: SynthReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(data)
    report.files += 1
    report.bytes += len(data)


__all__ = ["ORIGINS_FILE", "Origin", "SynthReport", "load_origins", "new_article", "write_corpus"]
