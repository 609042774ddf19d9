"""Build or update the index: find what changed, chunk it, embed it (cached), swap it in."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .chunking import CHUNKING_VERSION, chunk_corpus
from .config import Settings
from .corpus import METADATA_FILE, list_files, load_metadata, parse_files
from .embedcache import EmbeddingCache, text_hash
from .embeddings import LocalEmbedder
from .schema import Episode, ParseIssue
from .store import EpisodeSummary, FileEntry, IndexUnavailable, Manifest, Store
from .transcripts import Metadata

# progress(stage, done, total): stage is "embedding"; done counts chunks.
Progress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    """What one ``index`` run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    episodes: int = 0
    seconds: float = 0.0
    issues: list[ParseIssue] = field(default_factory=list)
    changed: bool = False


def seed_path(settings: Settings, embedder: LocalEmbedder) -> Path:
    """Where a corpus ships precomputed passage vectors for an embedder."""
    return settings.corpus_dir / ".embeddings" / f"{embedder.model_name}.npz"


def open_cache(settings: Settings, embedder: LocalEmbedder) -> EmbeddingCache:
    """The embedding cache, seeded from the corpus's shipped vectors if any."""
    cache = EmbeddingCache(settings.index_dir / "embeddings.sqlite")
    cache.seed_from(seed_path(settings, embedder), embedder.model_name)
    return cache


def check_compatible(manifest: Manifest, settings: Settings, embedder: LocalEmbedder) -> None:
    """Refuse to mix vectors or chunks built with other settings."""
    wanted = (
        embedder.model_name,
        embedder.dimension,
        settings.chunk_tokens,
        settings.chunk_overlap,
        CHUNKING_VERSION,
    )
    built = (
        manifest.embedder,
        manifest.dimension,
        manifest.chunk_tokens,
        manifest.chunk_overlap,
        manifest.chunking_version,
    )
    if wanted != built:
        raise IndexUnavailable(
            f"the index was built with {manifest.describe_build()}, but the settings ask for "
            f"embedder {embedder.model_name} ({embedder.dimension}-d), chunks of "
            f"{settings.chunk_tokens} tokens with {settings.chunk_overlap} overlap "
            f"(chunking v{CHUNKING_VERSION}). Rebuild it with `episode-assistant index --rebuild`."
        )


def build_index(
    settings: Settings,
    embedder: LocalEmbedder,
    store: Store,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IndexReport:
    """Bring the index up to date with the corpus folder; returns what changed."""
    started = time.perf_counter()
    report = IndexReport()
    old = None if rebuild else store.manifest()
    if old is not None:
        check_compatible(old, settings, embedder)

    files = list_files(settings.corpus_dir)
    metadata, _ = load_metadata(settings.corpus_dir)
    # An entry of episodes.yaml belongs to its file: editing it re-indexes that file only.
    hashes = {f.name: _file_key(f.sha256, metadata.get(f.name)) for f in files}
    old_files = old.files if old else {}
    for f in files:
        if f.name not in old_files:
            report.added.append(f.name)
        elif old_files[f.name].sha256 != hashes[f.name]:
            report.updated.append(f.name)
        else:
            report.unchanged.append(f.name)
    report.removed = sorted(set(old_files) - {f.name for f in files})
    report.changed = bool(report.added or report.updated or report.removed or old is None)
    if not report.changed:
        report.chunks, report.episodes = old.chunks, len(old.episodes)
        report.seconds = time.perf_counter() - started
        return report

    to_parse = [f for f in files if f.name in set(report.added) | set(report.updated)]
    corpus = parse_files(settings.corpus_dir, to_parse)
    report.issues = corpus.issues
    nodes = chunk_corpus(corpus.episodes, settings.chunk_tokens, settings.chunk_overlap)

    cache = open_cache(settings, embedder)
    try:
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embedding", done, len(nodes))

        before = len(cache.get_many(embedder.model_name, [text_hash(n.text) for n in nodes]))
        vectors = cache.embed(
            embedder.model_name,
            [n.text for n in nodes],
            embedder.embed_passages,
            batch_size=embedder.embed_batch_size,
            progress=tick,
        )
        report.embedded = len(nodes) - before
    finally:
        cache.close()

    generation = (old.generation + 1) if old else _next_generation(store)
    target = store.new_collection(generation)
    kept = list(report.unchanged)
    copied = store.copy_files(store.collection(old), target, kept) if old and kept else 0
    store.add(target, nodes, vectors)

    summaries = {e.source_file: _summary(e) for e in corpus.episodes}
    old_summaries = {e.source_file: e for e in (old.episodes if old else [])}
    entries: dict[str, FileEntry] = {}
    for f in files:
        if f.name in kept:
            entries[f.name] = old_files[f.name]
        else:
            episode = summaries.get(f.name)
            entries[f.name] = FileEntry(
                sha256=hashes[f.name],
                episode=episode.label if episode else None,
                chunks=sum(1 for n in nodes if n.metadata["source_file"] == f.name),
            )
    episodes = [summaries.get(name) or old_summaries.get(name) for name in sorted(entries)]
    manifest = Manifest(
        generation=generation,
        collection=target.name,
        embedder=embedder.model_name,
        dimension=embedder.dimension,
        chunk_tokens=settings.chunk_tokens,
        chunk_overlap=settings.chunk_overlap,
        chunking_version=CHUNKING_VERSION,
        files=entries,
        episodes=[e for e in episodes if e is not None],
        chunks=copied + len(nodes),
    )
    store.commit(manifest)
    report.chunks, report.episodes = manifest.chunks, len(manifest.episodes)
    report.seconds = time.perf_counter() - started
    return report


def _file_key(sha256: str, meta: Metadata | None) -> str:
    if meta is None:
        return sha256
    return hashlib.sha256((sha256 + json.dumps(vars(meta), sort_keys=True)).encode()).hexdigest()


def _summary(episode: Episode) -> EpisodeSummary:
    return EpisodeSummary(
        label=episode.label,
        title=episode.title,
        kind=episode.kind,
        source_file=episode.source_file,
        speakers=episode.speakers,
        chapters=len(episode.chapters),
    )


def _next_generation(store: Store) -> int:
    """After a --rebuild or on a fresh store, count past any generation left behind."""
    prefix = f"{store.settings.collection}-g"
    numbers = [
        int(name[len(prefix) :])
        for name in store.collection_names()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
    return max(numbers, default=0) + 1


__all__ = ["METADATA_FILE", "IndexReport", "build_index", "check_compatible", "open_cache"]
