"""Find the files of a corpus folder, read its optional ``episodes.yaml`` and parse them all."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

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


def parse_files(folder: Path, files: list[CorpusFile]) -> Corpus:
    """Parse the given files of ``folder`` with their metadata."""
    metadata, issues = load_metadata(folder)
    corpus = Corpus(folder=folder, issues=issues)
    known = {f.name for f in files}
    for name in metadata:
        if name not in known:
            corpus.issues.append(
                ParseIssue(file=METADATA_FILE, message=f"{name}: no such file in the corpus")
            )
    for f in files:
        result = parse_file(f.path, metadata.get(f.name), name=f.name)
        corpus.issues.extend(result.issues)
        if result.episode is not None:
            corpus.episodes.append(result.episode)
    return corpus


def load_corpus(folder: Path) -> Corpus:
    """Parse every file of a corpus folder."""
    return parse_files(folder, list_files(folder))
