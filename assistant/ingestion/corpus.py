"""Find the files of a corpus folder, read what its optional ``episodes.yaml`` and podcast
feed say about them, and parse them all."""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.ingestion.feed import is_feed, match_files, read_feed
from assistant.ingestion.reading import read_regular
from assistant.ingestion.transcripts import Metadata, ParsedFile, parse_file
from assistant.schema import Episode, ParseIssue

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


def list_files(
    folder: Path, issues: list[ParseIssue] | None = None, max_bytes: int | None = None
) -> list[CorpusFile]:
    """Corpus files below ``folder``: hidden files and folders and the metadata file excluded.
    A file over ``max_bytes`` is left out, with a warning, before it is read.

    Anything that cannot be indexed (a name that is not UTF-8, a broken or looping symlink,
    a symlink to a folder, a FIFO or device, a file that cannot be read) is left out with
    a warning in ``issues``; no such file ever stops the listing of the others.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {folder}")
    issues = issues if issues is not None else []
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() == METADATA_FILE:
            continue
        name = rel.as_posix()
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # Python keeps undecodable name bytes as surrogates, which no store can hold.
            shown = os.fsencode(name).decode("utf-8", errors="replace")
            issues.append(ParseIssue(file=shown, message="file name is not UTF-8: rename it"))
            continue
        problem = _not_indexable(path)
        if problem == "folder":
            continue
        if problem is not None:
            issues.append(ParseIssue(file=name, message=problem))
            continue
        if max_bytes is not None and (size := path.stat().st_size) > max_bytes:
            issues.append(
                ParseIssue(
                    file=name,
                    message=(
                        f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:g} MB cap "
                        "(EPISODE_ASSISTANT_MAX_FILE_MB): skipped"
                    ),
                )
            )
            continue
        try:
            raw = read_regular(path)
        except OSError as exc:
            issues.append(
                ParseIssue(file=name, message=f"cannot read, skipped: {exc}", level="error")
            )
            continue
        files.append(CorpusFile(path, name, hashlib.sha256(raw).hexdigest()))
    return files


def _not_indexable(path: Path) -> str | None:
    """Why ``path`` is not a file to index (``"folder"`` for a plain folder), or ``None``."""
    try:
        own = path.lstat()
    except OSError as exc:
        return f"cannot read, skipped: {exc}"
    link = stat.S_ISLNK(own.st_mode)
    if link:
        try:
            own = path.stat()
        except OSError as exc:  # ELOOP for a loop, ENOENT for a dangling link
            return f"broken or looping symlink, skipped: {exc.strerror}"
    if stat.S_ISDIR(own.st_mode):
        # rglob does not follow a symlinked folder: say so rather than drop it unseen.
        return "symlink to a folder, not followed" if link else "folder"
    if not stat.S_ISREG(own.st_mode):
        return "not a regular file (FIFO, socket or device), never read: skipped"
    return None


class _MetadataLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with dates left as text, so ``2024-13-45`` is one bad field
    (``_check_date``), not a crash of the whole file in the date constructor."""


_MetadataLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Aliases are fine (``<<: *defaults``) until they expand past any real metadata: nine
# nested levels of ten aliases fit in 300 bytes and expand to a billion values.
MAX_METADATA_VALUES = 100_000
DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def load_metadata(folder: Path) -> tuple[dict[str, Metadata], list[ParseIssue]]:
    """Read ``episodes.yaml`` if present; a bad entry is reported and skipped, never fatal."""
    path = folder / METADATA_FILE
    if not path.exists() and not path.is_symlink():
        return {}, []
    try:
        loader = _MetadataLoader(read_regular(path).decode("utf-8"))
        try:
            node = loader.get_single_node()
            size = _expanded_size(node, {})
            if size > MAX_METADATA_VALUES:
                return {}, [
                    ParseIssue(
                        file=METADATA_FILE,
                        message=(
                            f"YAML aliases expand to {size:,} values (over "
                            f"{MAX_METADATA_VALUES:,}): metadata ignored"
                        ),
                        level="error",
                    )
                ]
            duplicates = _duplicate_keys(node)
            data = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except (yaml.YAMLError, UnicodeDecodeError, OSError, ValueError, TypeError) as exc:
        # ValueError: a value the constructors refuse (an explicit !!timestamp 2024-13-45,
        # an int of 5,000 digits).
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        return {}, [
            ParseIssue(
                file=METADATA_FILE,
                line=line + 1 if line is not None else None,
                message=f"unreadable metadata, ignored: {exc}",
                level="error",
            )
        ]
    data = data or {}
    if not isinstance(data, dict):
        return {}, [ParseIssue(file=METADATA_FILE, message="expected a mapping of file names")]
    out: dict[str, Metadata] = {}
    issues: list[ParseIssue] = list(duplicates)
    lines = _entry_lines(node)
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
        fields = {}
        for key, value in entry.items():
            if key not in METADATA_FIELDS or value is None:
                continue
            if isinstance(value, (list, dict)):
                issues.append(
                    ParseIssue(
                        file=METADATA_FILE,
                        line=lines.get((str(name), str(key))),
                        message=f"{name}: {key} must be text, not a {type(value).__name__}",
                    )
                )
                continue
            fields[key] = str(value)
        if "date" in fields:
            date, problem = _check_date(fields["date"])
            if problem:
                issues.append(
                    ParseIssue(
                        file=METADATA_FILE,
                        line=lines.get((str(name), "date")),
                        message=f"{name}: {problem}: date ignored",
                    )
                )
            if date is None:
                del fields["date"]
            else:
                fields["date"] = date
        out[str(name)] = Metadata(**fields)
    return out, issues


def _check_date(value: str) -> tuple[str | None, str | None]:
    """A ``YYYY-MM-DD`` date as the date constructor wrote it, or why it is not a date."""
    m = DATE_RE.fullmatch(value.strip())
    if not m:
        return value, None  # free text ("spring 2024") is kept as written
    try:
        return datetime.date(*(int(g) for g in m.groups())).isoformat(), None
    except ValueError as exc:
        return None, f"{value!r} is not a date ({exc})"


def _duplicate_keys(node: yaml.Node | None) -> list[ParseIssue]:
    """Keys repeated in the same mapping: YAML keeps the last silently, the user is told."""
    issues: list[ParseIssue] = []
    stack = [node]
    seen_nodes: set[int] = set()  # an alias shares its node: visit each once
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        issues.append(
                            ParseIssue(
                                file=METADATA_FILE,
                                line=key.start_mark.line + 1,
                                message=f"duplicate key {key.value!r}: the last one is used",
                            )
                        )
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return sorted(issues, key=lambda i: i.line or 0)


def _expanded_size(node: yaml.Node | None, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded, each node counted
    once (``sizes``), so a billion-value bomb is measured in a few dozen steps."""
    if node is None:
        return 0
    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = MAX_METADATA_VALUES + 1  # a recursive alias expands without end
    children: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    total = 1 + sum(_expanded_size(child, sizes) for child in children)
    sizes[key] = total
    return total


def _entry_lines(node: yaml.Node | None) -> dict[tuple[str, str], int]:
    """The line of each field of each entry: ``(file name, field) -> line``."""
    lines: dict[tuple[str, str], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.MappingNode):
                for field_key, _ in value.value:
                    if isinstance(field_key, yaml.ScalarNode):
                        lines[(key.value, field_key.value)] = field_key.start_mark.line + 1
    return lines


@dataclass
class CorpusScan:
    """The episode files of a folder (its feed and the chapters files the feed uses left
    out) and what the feed and ``episodes.yaml`` say about each, checked against them all."""

    folder: Path
    files: list[CorpusFile]
    metadata: dict[str, Metadata]
    issues: list[ParseIssue] = field(default_factory=list)


def scan(folder: Path, feed: Path | None = None, max_bytes: int | None = None) -> CorpusScan:
    """List a corpus folder and merge its metadata: ``feed`` (or a feed file found in the
    folder) completes what the files say, and ``episodes.yaml`` wins over the feed. Files
    over ``max_bytes`` are skipped with a warning."""
    issues: list[ParseIssue] = []
    files = list_files(folder, issues, max_bytes)
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
    ids: set[str] = set()
    for done, f in enumerate(files, start=1):
        try:
            result = parse_file(f.path, corpus.metadata.get(f.name), name=f.name)
        except Exception as exc:  # one file must never cost the corpus: say which, go on
            result = ParsedFile(
                None,
                [
                    ParseIssue(
                        file=f.name,
                        message=f"could not be parsed, skipped: {type(exc).__name__}: {exc}",
                        level="error",
                    )
                ],
            )
        out.issues.extend(result.issues)
        if result.episode is not None:
            episode = result.episode
            # "ep.txt" and "ep.md" share the id "ep": the later one takes its full name.
            if episode.id in ids:
                episode.id = f.name
                while episode.id in ids:
                    episode.id += "+"
            ids.add(episode.id)
            out.episodes.append(episode)
        if progress:
            progress("reading episodes", done, len(files))
    return out


def load_corpus(folder: Path, feed: Path | None = None) -> Corpus:
    """Parse every file of a corpus folder."""
    corpus = scan(folder, feed)
    return parse_files(corpus, corpus.files)
