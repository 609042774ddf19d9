"""Find the files of a corpus folder, read what its optional ``episodes.yaml`` and podcast
feed say about them, and parse them all."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .feed import is_feed, match_files, read_feed
from .schema import Episode, ParseIssue
from .transcripts import Metadata, parse_file

METADATA_FILE = "episodes.yaml"
METADATA_FIELDS = {"number", "label", "title", "url", "date"}


@dataclass
class CorpusFile:
    """A file of the corpus and the hash of its bytes (what decides re-indexing)."""

    path: Path
    name: str
    sha256: str


@dataclass
class Corpus:
    """Every parsed episode of a folder and every issue met while reading it."""

    folder: Path
    episodes: list[Episode] = field(default_factory=list)
    issues: list[ParseIssue] = field(default_factory=list)


def list_files(folder: Path) -> list[CorpusFile]:
    """Corpus files below ``folder``: hidden files and folders and the metadata file excluded."""
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {folder}")
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if rel.as_posix() == METADATA_FILE:
            continue
        files.append(
            CorpusFile(path, rel.as_posix(), hashlib.sha256(path.read_bytes()).hexdigest())
        )
    return files


def load_metadata(folder: Path) -> tuple[dict[str, Metadata], list[ParseIssue]]:
    """Read ``episodes.yaml`` if present; a bad entry is reported and skipped, never fatal."""
    path = folder / METADATA_FILE
    if not path.exists():
        return {}, []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        return {}, [
            ParseIssue(
                file=METADATA_FILE,
                line=line + 1 if line is not None else None,
                message=f"unreadable metadata, ignored: {exc}",
                level="error",
            )
        ]
    if not isinstance(data, dict):
        return {}, [ParseIssue(file=METADATA_FILE, message="expected a mapping of file names")]
    out: dict[str, Metadata] = {}
    issues: list[ParseIssue] = []
    for name, entry in data.items():
        if not isinstance(entry, dict):
            issues.append(ParseIssue(file=METADATA_FILE, message=f"{name}: expected a mapping"))
            continue
        unknown = set(entry) - METADATA_FIELDS
        if unknown:
            issues.append(
                ParseIssue(
                    file=METADATA_FILE,
                    message=f"{name}: unknown field(s) {sorted(unknown)} ignored",
                )
            )
        out[str(name)] = Metadata(
            **{k: str(v) for k, v in entry.items() if k in METADATA_FIELDS and v is not None}
        )
    return out, issues


@dataclass
class CorpusScan:
    """The episode files of a folder (its feed and the chapters files the feed uses left
    out) and what the feed and ``episodes.yaml`` say about each, checked against them all."""

    folder: Path
    files: list[CorpusFile]
    metadata: dict[str, Metadata]
    issues: list[ParseIssue] = field(default_factory=list)


def scan(folder: Path, feed: Path | None = None) -> CorpusScan:
    """List a corpus folder and merge its metadata: ``feed`` (or a feed file found in the
    folder) completes what the files say, and ``episodes.yaml`` wins over the feed."""
    files = list_files(folder)
    issues: list[ParseIssue] = []
    in_folder = [f.path for f in files if is_feed(f.path)]
    feeds = [feed] if feed is not None else in_folder
    # A feed is never an episode, even when --feed names another one.
    given = feed.resolve() if feed is not None else None
    skipped = {f.name for f in files if f.path in in_folder or f.path.resolve() == given}
    from_feed: dict[str, Metadata] = {}
    for path in feeds:
        name = path.name if feed is not None else path.relative_to(folder).as_posix()
        parsed, problems = read_feed(path, name)
        issues.extend(problems)
        if parsed is None:
            continue
        names = [f.name for f in files if f.name not in skipped]
        matches, used, problems = match_files(parsed, path, names, folder)
        issues.extend(problems)
        skipped |= used
        for file, match in matches.items():
            item = match.item
            from_feed[file] = Metadata(
                number=item.number,
                title=item.title,
                url=item.url,
                date=item.date,
                show=match.show,
                chapters=match.chapters,
            )
    files = [f for f in files if f.name not in skipped]
    from_yaml, problems = load_metadata(folder)
    issues.extend(problems)
    known = {f.name for f in files}
    for name in from_yaml:
        if name not in known:
            issues.append(
                ParseIssue(file=METADATA_FILE, message=f"{name}: no such file in the corpus")
            )
    metadata = {}
    for name in known:
        if name in from_feed or name in from_yaml:
            metadata[name] = _merged(from_feed.get(name), from_yaml.get(name))
    return CorpusScan(folder, files, metadata, issues)


def _merged(feed: Metadata | None, yaml_entry: Metadata | None) -> Metadata:
    """The feed's fields, each replaced by ``episodes.yaml``'s where that sets it."""
    merged = Metadata(**vars(feed)) if feed else Metadata()
    for key, value in vars(yaml_entry or Metadata()).items():
        if value:
            setattr(merged, key, value)
    return merged


def parse_files(
    corpus: CorpusScan,
    files: list[CorpusFile],
    progress: Callable[[str, int, int], None] | None = None,
) -> Corpus:
    """Parse the given files of a scanned corpus with their metadata."""
    out = Corpus(folder=corpus.folder, issues=list(corpus.issues))
    for done, f in enumerate(files, start=1):
        result = parse_file(f.path, corpus.metadata.get(f.name), name=f.name)
        out.issues.extend(result.issues)
        if result.episode is not None:
            out.episodes.append(result.episode)
        if progress:
            progress("reading episodes", done, len(files))
    return out


def load_corpus(folder: Path, feed: Path | None = None) -> Corpus:
    """Parse every file of a corpus folder."""
    corpus = scan(folder, feed)
    return parse_files(corpus, corpus.files)
