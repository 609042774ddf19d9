"""Owns Chroma: an embedded ``PersistentClient`` under ``index/`` or a ``chroma run`` server.

The pointer and the manifest (embedder, chunking, files, their hashes and *generations*)
are the metadata of a small, empty ``<prefix>-meta`` collection, replaced in one write (a
single row of Chroma's own database, embedded or on a ``chroma run`` server, so readers see
the old manifest or the new one). Every build is a new generation, and only the pointer's
move makes it visible:

- a first build (or ``--rebuild``) writes new collections;
- an update writes the chunks of new and changed files into the same collections, tagged
  with the new generation number, moves the pointer, and only then deletes the replaced
  chunks. A chunk counts only if the manifest names its file with its generation, so
  readers never see half an update, a killed update leaves the previous index whole, and
  adding one episode to a 50,000-chunk index writes that episode's chunks alone.

What a build replaces (the previous version of a changed file, a removed file's chunks, the
collections a ``--rebuild`` replaced) is *retired*, not deleted: the manifest lists it, and
the next build deletes it first. An app still searching the previous generation when the
pointer moves (it looks every few seconds) keeps finding every chunk that generation counts.

Chroma's embedded client keeps each collection's HNSW index in memory, cached per folder for
the whole process, and never notices that another process wrote to the folder: after an
update elsewhere, ``get(ids=…, include=["embeddings"])`` for the new chunks fails with
"Error finding id" (the ids are in the shared sqlite file, not in the stale in-memory index)
until the process restarts, and a writer on a stale client would persist its outdated index
over the fresh one. So every ``Store`` opens a client of its own (``_client``), and an app
opens a new ``Store`` for each generation it moves to and for each build.

How a chunk's metadata is stored is decided here too (``encode_metadata`` /
``decode_metadata``): Chroma takes scalars and non-empty lists of one scalar type, so
speakers are a list (a speaker filter asks ``$contains``) and the turn and estimate tables
are compact JSON; the rest of the code sees only ``TurnStart`` and ``TimeEstimate``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import chromadb
import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel, Field, ValidationError

from assistant.config import Settings
from assistant.errors import IndexUnavailable
from assistant.schema import TimeEstimate, TurnStart

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode

# 2: the manifest in collection metadata, speakers as list metadata, the collection's
# distance in ``configuration`` (1: a fake-vector record, "a|b" speakers and flag keys).
INDEX_FORMAT = 2
MANIFEST_KEY = "manifest"
LEGACY_POINTER_ID = "active"  # where format 1 kept its manifest, to recognise such an index
# Cosine, as the embedders' vectors are compared (search itself is exact, in numpy).
COSINE = {"hnsw": {"space": "cosine"}}
# Held while a client is made: another thread making one at the same moment would be handed
# this one's System before it has started.
_CLIENTS = threading.Lock()
CROSSLINGUAL_SUFFIX = "-x"
BATCH = 1000


class FileEntry(BaseModel):
    """What the index holds of one corpus file."""

    sha256: str
    episode: str | None = None
    chunks: int = 0
    build: int = 0  # the generation whose chunks are this file's (0: written before tags)


class EpisodeSummary(BaseModel):
    """An indexed episode, for filters and the UI's lists."""

    label: str
    title: str
    kind: str
    source_file: str
    speakers: list[str] = Field(default_factory=list)
    chapters: int = 0
    show: str | None = None  # the podcast's title, when a feed gave it
    date: str | None = None  # ISO date, from episodes.yaml or a feed ("the March episode")


class Manifest(BaseModel):
    """The active generation and what it was built with."""

    generation: int
    collection: str
    embedder: str
    dimension: int
    # The cross-lingual space: same chunks, a second embedder, in ``<collection>-x``.
    crosslingual: str | None = None
    crosslingual_dimension: int = 0
    chunk_tokens: int
    chunk_overlap: int
    chunking_version: int
    index_format: int = 1  # how the store encodes it all (INDEX_FORMAT); 1 before it was kept
    files: dict[str, FileEntry] = Field(default_factory=dict)
    episodes: list[EpisodeSummary] = Field(default_factory=list)
    chunks: int = 0
    built_at: str = ""
    settings_key: str = ""  # see indexing.settings_key; empty in indexes built before it
    corpus: str = ""  # the corpus folder it was built from (absolute); empty before it was kept
    # What this generation replaced, kept for apps still on the previous one; the next build
    # deletes it. ``retired``: file -> the build of its chunks to keep (-1: none, a removed
    # file); ``retired_chunks``: how many rows that leaves beyond the live ones.
    retired: dict[str, int] = Field(default_factory=dict)
    retired_chunks: int = 0
    retired_collection: str | None = None  # the previous active collection after a --rebuild

    def is_live(self, metadata: dict) -> bool:
        """Whether a stored chunk belongs to this generation (not replaced, not half-added)."""
        entry = self.files.get(metadata.get("source_file", ""))
        return entry is not None and metadata.get("build", 0) == entry.build

    def describe_build(self) -> str:
        """The settings that must match for this index to be searched."""
        cross = f", cross-lingual {self.crosslingual}" if self.crosslingual else ""
        return (
            f"embedder {self.embedder} ({self.dimension}-d){cross}, chunks of "
            f"{self.chunk_tokens} tokens with {self.chunk_overlap} overlap "
            f"(chunking v{self.chunking_version})"
        )


def pages(collection: chromadb.Collection, include: list[str], size: int = 5000) -> Iterator[dict]:
    """Every row of ``collection``, a page of ``size`` at a time (never all in one answer)."""
    offset = 0
    while True:
        page = collection.get(include=include, limit=size, offset=offset)
        if not page["ids"]:
            return
        yield page
        offset += len(page["ids"])


def _client(settings: Settings) -> chromadb.ClientAPI:
    """A Chroma client that shares no in-memory state with any other (see the module doc)."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.index.chroma_host:  # each HttpClient is its own already; the server is one process
        return chromadb.HttpClient(
            host=settings.index.chroma_host,
            port=settings.index.chroma_port,
            settings=chroma_settings,
        )
    path = settings.index.dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    with _CLIENTS, contextlib.ExitStack() as cleanup:
        cleanup.callback(_forget_system, str(path))
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _forget_system(path: str) -> None:
    # Chroma caches one System per folder for the process: taken out of the cache, the client
    # just made keeps its own (its collections hold it), and the next one loads the folder
    # afresh. A System whose start failed (a damaged chroma.sqlite3) stays cached too, and
    # every later client in the process then failed with "'RustBindingsAPI' object has no
    # attribute 'bindings'", which made `index --rebuild` fail once before it worked.
    SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)


class Store:
    """The Chroma side of the index: read the active generation, write a new one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.where = (
            f"chroma server {settings.index.chroma_host}:{settings.index.chroma_port}"
            if settings.index.chroma_host
            else str(settings.index.dir / "chroma")
        )
        self._meta_name = f"{settings.index.collection}-meta"
        try:
            self.client = _client(settings)
            self._meta = self.client.get_or_create_collection(self._meta_name)
        except Exception as exc:  # chroma raises many kinds; all mean the same to a user
            raise IndexUnavailable(
                f"cannot open the index at {self.where}: {exc}. "
                "Rebuild it with `episode-assistant index --rebuild`."
            ) from exc

    # --- reading ---------------------------------------------------------------------------

    def manifest(self) -> Manifest | None:
        """The active generation's manifest, or ``None`` when nothing was indexed yet."""
        try:  # read afresh: a Collection object keeps the metadata it was opened with
            text = (self.client.get_collection(self._meta_name).metadata or {}).get(MANIFEST_KEY)
        except Exception as exc:
            raise IndexUnavailable(
                f"cannot read the index at {self.where}: {exc}. "
                "Rebuild it with `episode-assistant index --rebuild`."
            ) from exc
        if text is None:
            got = self._meta.get(ids=[LEGACY_POINTER_ID], include=["documents"])
            if not got["ids"]:
                return None
            text = got["documents"][0]  # format 1: check_compatible says to rebuild it
        try:
            return Manifest.model_validate_json(text)
        except ValidationError as exc:
            raise IndexUnavailable(
                f"the index at {self.where} has an unreadable manifest ({exc.error_count()} "
                "errors). Rebuild it with `episode-assistant index --rebuild`."
            ) from exc

    def collection(self, manifest: Manifest, *, crosslingual: bool = False) -> chromadb.Collection:
        """The collection of the active generation (or its cross-lingual twin)."""
        name = manifest.collection + (CROSSLINGUAL_SUFFIX if crosslingual else "")
        try:
            return self.client.get_collection(name)
        except Exception as exc:
            raise IndexUnavailable(
                f"the index at {self.where} points at a missing collection {name!r}. "
                "Rebuild it with `episode-assistant index --rebuild`."
            ) from exc

    # --- writing a generation --------------------------------------------------------------

    def new_collection(self, generation: int, *, crosslingual: bool = False) -> chromadb.Collection:
        """An empty collection for a generation being built (not visible until committed)."""
        name = f"{self.settings.index.collection}-g{generation}"
        name += CROSSLINGUAL_SUFFIX if crosslingual else ""
        self._drop(name)  # a leftover of a killed run with the same number
        return self.client.create_collection(name, configuration=COSINE)

    def add(
        self,
        collection: chromadb.Collection,
        nodes: list[TextNode],
        vectors: np.ndarray,
        *,
        documents: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Add nodes with their vectors (always given: Chroma must never embed on its own).

        The cross-lingual twin stores no documents: text lives once, in the main collection.
        ``progress(done, total)`` follows each batch: Chroma takes longer than the embedder
        over a large file's chunks.
        """
        for start in range(0, len(nodes), BATCH):
            part = nodes[start : start + BATCH]
            collection.add(
                ids=[n.node_id for n in part],
                documents=[n.text for n in part] if documents else None,
                metadatas=[encode_metadata(n.metadata) for n in part],
                embeddings=vectors[start : start + BATCH],
            )
            if progress:
                progress(min(start + BATCH, len(nodes)), len(nodes))

    def delete_replaced(
        self, collection: chromadb.Collection, files: list[str], generation: int
    ) -> None:
        """After a commit: delete the chunks of ``files`` that ``generation`` did not write
        (their previous versions, or every chunk of a removed file)."""
        for start in range(0, len(files), 50):
            collection.delete(
                where={
                    "$and": [
                        {"source_file": {"$in": files[start : start + 50]}},
                        {"build": {"$ne": generation}},
                    ]
                }
            )

    def delete_retired(self, collection: chromadb.Collection, manifest: Manifest) -> None:
        """Delete what ``manifest``'s build retired (no app searches the generation before it
        any more), before a new build writes anything."""
        by_build: dict[int, list[str]] = {}
        for name, keep in manifest.retired.items():
            by_build.setdefault(keep, []).append(name)
        for keep, files in by_build.items():
            self.delete_replaced(collection, sorted(files), keep)

    def delete_dead(self, collection: chromadb.Collection, manifest: Manifest) -> int:
        """Delete every chunk ``manifest`` does not count (left by a killed update); reads
        all metadata, so it runs only when the row count says there is something to find."""
        dead = [
            pid
            for page in pages(collection, ["metadatas"])
            for pid, meta in zip(page["ids"], page["metadatas"], strict=True)
            if not manifest.is_live(meta)
        ]
        for start in range(0, len(dead), BATCH):
            collection.delete(ids=dead[start : start + BATCH])
        return len(dead)

    def commit(self, manifest: Manifest) -> None:
        """Point at the new generation in one write, then drop every other generation but the
        one it retired."""
        manifest.built_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.write_manifest(manifest)
        self.collect_garbage(manifest.collection, manifest.retired_collection)

    def write_manifest(self, manifest: Manifest) -> None:
        """Replace the manifest (one write: readers see the old one or this one)."""
        self._meta.modify(metadata={MANIFEST_KEY: manifest.model_dump_json()})
        # A format-1 index rebuilt in place: its pointer record would only mislead.
        self._meta.delete(ids=[LEGACY_POINTER_ID])

    def collect_garbage(self, *keep: str | None) -> None:
        """Drop generations other than ``keep`` (old ones, and those of killed runs)."""
        prefix = f"{self.settings.index.collection}-g"
        kept = {k + suffix for k in keep if k for suffix in ("", CROSSLINGUAL_SUFFIX)}
        for name in self.collection_names():
            if name.startswith(prefix) and name not in kept:
                self._drop(name)
        self.sweep_orphaned_segments()

    def sweep_orphaned_segments(self) -> int:
        """Delete the vector-segment folders of dropped collections; returns how many.

        Chroma 1.5 deletes a collection's rows but leaves its HNSW folder on disk, so every
        rebuild left two folders behind, each as large as the vectors of one generation. A
        folder is Chroma's when its name is a UUID, and orphaned when no segment row of its
        database names it.
        """
        if self.settings.index.chroma_host:
            return 0
        root = self.settings.index.dir / "chroma"
        try:
            uri = f"file:{root / 'chroma.sqlite3'}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                live = {row[0] for row in db.execute("SELECT id FROM segments")}
        except sqlite3.Error:
            return 0  # not a layout we know: leave every folder alone
        swept = 0
        for path in root.iterdir():
            if path.is_dir() and _is_uuid(path.name) and path.name not in live:
                shutil.rmtree(path, ignore_errors=True)
                swept += 1
        return swept

    def collection_names(self) -> Iterator[str]:
        """Names of every collection in the Chroma store."""
        for c in self.client.list_collections():
            yield c if isinstance(c, str) else c.name

    def _drop(self, name: str) -> None:
        with contextlib.suppress(Exception):  # not there: nothing to drop
            self.client.delete_collection(name)


def encode_metadata(meta: dict) -> dict:
    """A chunk's metadata as Chroma stores it (see the module doc)."""
    out = dict(meta)
    turns: list[TurnStart] = meta.get("turns", [])
    estimates: list[TimeEstimate] = meta.get("estimates", [])
    out["turns"] = json.dumps(
        [[t.offset, t.speaker, t.seconds, t.exact] for t in turns], ensure_ascii=False
    )
    out["estimates"] = json.dumps([[e.offset, e.seconds] for e in estimates])
    if not meta.get("speakers"):
        out.pop("speakers", None)  # Chroma refuses an empty list
    return out


def decode_metadata(stored: dict) -> dict:
    """A chunk's metadata as Chroma gave it, with typed turns, estimates and speakers."""
    meta = dict(stored)
    try:
        meta["turns"] = [
            TurnStart(
                offset=offset,
                speaker=speaker or None,
                seconds=None if seconds is None or seconds < 0 else seconds,
                exact=bool(exact),
            )
            for offset, speaker, seconds, exact in json.loads(stored.get("turns") or "[]")
        ]
        meta["estimates"] = [
            TimeEstimate(offset=offset, seconds=seconds)
            for offset, seconds in json.loads(stored.get("estimates") or "[]")
        ]
    except (ValueError, TypeError) as exc:  # unpacking a short entry is a ValueError too
        raise IndexUnavailable(
            f"chunk {stored.get('source_file', '?')}#{stored.get('position', '?')} has "
            f"unreadable turns ({exc}). Rebuild it with `episode-assistant index --rebuild`."
        ) from exc
    meta["speakers"] = list(stored.get("speakers") or [])
    return meta


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def wipe_local_index(settings: Settings) -> None:
    """Remove an embedded index folder that cannot even be opened (for ``--rebuild``)."""
    if not settings.index.chroma_host:
        shutil.rmtree(settings.index.dir / "chroma", ignore_errors=True)


def damaged_local_index(settings: Settings) -> str | None:
    """What is wrong with the embedded Chroma folder, if anything a rebuild must replace:
    a ``chroma.sqlite3`` that fails SQLite's own check (truncated, overwritten), or segment
    folders left without it (it was deleted: a new one would leave them on disk for ever)."""
    if settings.index.chroma_host:
        return None
    folder = settings.index.dir / "chroma"
    db = folder / "chroma.sqlite3"
    if not db.exists():
        left = [p for p in folder.iterdir()] if folder.is_dir() else []
        return f"{len(left)} entries in {folder} without their chroma.sqlite3" if left else None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        verdict = str(exc)
    return None if verdict == "ok" else f"{db} is damaged ({verdict})"
