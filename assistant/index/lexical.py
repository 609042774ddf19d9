"""The lexical side of one index generation: BM25 over every live chunk, the few per-chunk
fields that filters need (episode, language) and the corpus's vocabulary.

Tokenising 50,000 passages read back from Chroma took 20 s at 100x the shipped corpus, so
each generation's lexical index is saved once under ``<index_dir>/lexical/`` and later
opened from there (its BM25 matrix memory-mapped, not read). An index update builds the next
one from the last one's stored tokens plus the new chunks: nothing is read back from Chroma.
A process that finds no saved copy (another machine indexed into a shared Chroma server)
builds it from Chroma once and saves it for the next process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from assistant.index.glosses import glosses
from assistant.index.store import pages
from assistant.ingestion.text_formats import is_chapter_list
from assistant.text import (
    HANGUL_RE,
    HANGUL_RUN_RE,
    SCRIPT_WORD_RE,
    WORD_RE,
    fold,
    stemmer,
    strip_particles,
)

if TYPE_CHECKING:
    import chromadb
    from llama_index.core.schema import TextNode

    from assistant.index.store import Manifest, Store

logger = logging.getLogger(__name__)

# 2: vectors saved beside BM25; 3: with checksums.json; 4: speakers left to Chroma; 5: which
# chunks search may return; 6: Korean words without their particles; 7: a word that runs
# Latin letters into Hangul split at the change; 8: each file's glosses; 9: accents dropped
FORMAT = 9
CHECKSUMS = "checksums.json"
MAIN = "main"  # vector spaces: the main embedder's, and the optional cross-lingual one's
CROSSLINGUAL = "crosslingual"
KEEP = 2  # snapshots kept: the current one and the one a running app may still be opening

# bm25s's own tokenising (scikit-learn's token pattern, its English stop words, then the
# stemmer), without its per-call overhead: it rebuilt the stop-word set for every text, which
# was 0.7 ms of every search.
_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS = frozenset(STOPWORDS_EN)
_STOPWORD_STEMS = frozenset(stemmer().stemWords(list(_STOPWORDS)))


def tokenize(texts: list[str]) -> list[list[str]]:
    """BM25 terms: lower-cased, English stop words out, Snowball-stemmed; a Korean word
    without its particle ("윤리는", "윤리가": 윤리), which as written matched only itself."""
    stem_words = stemmer().stemWords
    return [
        [
            strip_particles(w) if HANGUL_RE.match(w) else w
            for w in stem_words([w for w in _words(fold(text.lower())) if w not in _STOPWORDS])
        ]
        for text in texts
    ]


def _words(text: str) -> list[str]:
    """bm25s's tokens, a word that runs Latin letters into Hangul split at the change: a
    Korean particle sticks to the English term before it ("DeepSeek의", "learning이"),
    which as one token matched no English passage."""
    out: list[str] = []
    for token in _TOKEN_RE.findall(text):
        if HANGUL_RE.search(token) and not HANGUL_RUN_RE.fullmatch(token):
            out.extend(run for run in SCRIPT_WORD_RE.findall(token) if len(run) > 1)
        else:
            out.append(token)
    return out


@dataclass
class Rows:
    """What the lexical index keeps of each chunk, in one order."""

    ids: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    english: list[bool] = field(default_factory=list)
    # False for a write-up's chapter list: there for outlines, not search (its titles would
    # win questions that its episode's own passages answer).
    searchable: list[bool] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    # Each file's distinct words (unstemmed), so a removed file's names stop counting as known.
    words: dict[str, set[str]] = field(default_factory=dict)
    # Each file's terms glossed in English, as (Korean, English) (see glosses.py).
    glosses: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    # Space name -> float32 matrix, one unit-length row per chunk, in the order of ``ids``.
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, pid: str, text: str, meta: dict, terms: list[str]) -> None:
        """Append one chunk."""
        self.ids.append(pid)
        self.episodes.append(meta["episode"])
        self.english.append(meta.get("language", "en") == "en")
        listing = meta.get("kind") == "article" and is_chapter_list(meta.get("chapter"))
        self.searchable.append(not listing)
        self.files.append(meta["source_file"])
        # One string object per distinct term: 50,000 chunks hold 5 million term occurrences.
        self.tokens.append([sys.intern(t) for t in terms])
        # Both spellings of an accented word: as written, and as a question may type it.
        lower = text.lower()
        words = self.words.setdefault(meta["source_file"], set())
        words.update(WORD_RE.findall(lower))
        if (folded := fold(lower)) is not lower:
            words.update(WORD_RE.findall(folded))
        if meta.get("language", "en") != "en":
            self.glosses.setdefault(meta["source_file"], set()).update(glosses(text))

    def extend(
        self, items: Iterable[tuple[str, str, dict]], vectors: dict[str, np.ndarray]
    ) -> None:
        """Append chunks given as (id, text, metadata), tokenised in one batch, with their
        vectors in each space (rows in the order of ``items``)."""
        items = list(items)
        for (pid, text, meta), terms in zip(
            items, tokenize([text for _, text, _ in items]), strict=True
        ):
            self.add(pid, text, meta, terms)
        for space, matrix in vectors.items():
            matrix = np.asarray(matrix, dtype=np.float32)
            if len(matrix) != len(items):
                raise ValueError(f"{len(matrix)} {space} vectors for {len(items)} chunks")
            have = self.vectors.get(space)
            if have is None or not len(have):
                self.vectors[space] = matrix
            elif len(matrix):
                self.vectors[space] = np.concatenate([have, matrix])

    def keep_files(self, files: set[str]) -> Rows:
        """Only the chunks of ``files``."""
        out = Rows(
            words={f: w for f, w in self.words.items() if f in files},
            glosses={f: g for f, g in self.glosses.items() if f in files},
        )
        keep = [i for i, name in enumerate(self.files) if name in files]
        out.vectors = {space: np.asarray(m[keep]) for space, m in self.vectors.items()}
        for i in keep:
            out.ids.append(self.ids[i])
            out.episodes.append(self.episodes[i])
            out.english.append(self.english[i])
            out.searchable.append(self.searchable[i])
            out.files.append(self.files[i])
            out.tokens.append(self.tokens[i])
        return out


class LexicalIndex:
    """BM25, vectors and filter fields of one generation. Tokens and per-file words stay in
    ``Rows`` (and on disk), not here: a running app needs neither."""

    def __init__(self, rows: Rows, bm25: bm25s.BM25 | None = None) -> None:
        self.ids = rows.ids
        self.vectors = rows.vectors
        self.episodes = rows.episodes
        self.english = np.array(rows.english, dtype=bool)
        self.searchable = np.array(rows.searchable, dtype=bool)
        self.vocabulary: set[str] = {w for words in rows.words.values() for w in words}
        self.glosses: list[tuple[str, str]] = sorted(
            {g for gs in rows.glosses.values() for g in gs}
        )
        if bm25 is None:
            bm25 = bm25s.BM25()
            if rows.tokens:
                bm25.index(rows.tokens, show_progress=False)
        self.bm25 = bm25

    def scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every chunk for already tokenised query terms."""
        return self.bm25.get_scores(terms)

    def known(self, term: str) -> bool:
        """Whether a (stemmed) term occurs in any chunk."""
        return term in (self.bm25.vocab_dict or {})

    def rarity(self, term: str) -> float:
        """Inverse document frequency of a (stemmed) term, ``log(1 + N / df)``: high for a
        term few chunks hold, highest for one none holds. BM25's own stop words, which it
        does not index, count as common."""
        n = len(self.ids)
        if len(term) < 2:  # BM25 skips one-character tokens: "5" of "GPT-5.2" says little
            return 0.3
        index = (self.bm25.vocab_dict or {}).get(term)
        if index is None:
            return 0.3 if term in _STOPWORD_STEMS else float(np.log1p(max(n, 1)))
        indptr = self.bm25.scores["indptr"]
        df = int(indptr[index + 1] - indptr[index])
        return float(np.log1p(n / max(df, 1)))

    def save(self, directory: Path, rows: Rows) -> None:
        """Write this index, built from ``rows``, to ``directory`` in one rename (readers
        never see half of it)."""
        tokens = rows.tokens
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory.parent))
        try:
            if self.ids:
                self.bm25.save(str(tmp / "bm25"), show_progress=False)
            terms = sorted({t for doc in tokens for t in doc})
            code = {t: i for i, t in enumerate(terms)}
            flat = np.fromiter((code[t] for doc in tokens for t in doc), dtype=np.int32)
            lengths = np.array([len(doc) for doc in tokens], dtype=np.int32)
            np.savez(tmp / "tokens.npz", flat=flat, lengths=lengths)
            for space, matrix in rows.vectors.items():
                np.save(tmp / f"vectors-{space}.npy", np.asarray(matrix, dtype=np.float32))
            record = {
                "format": FORMAT,
                "ids": self.ids,
                "episodes": self.episodes,
                "english": self.english.tolist(),
                "searchable": self.searchable.tolist(),
                "files": rows.files,
                "words": {f: sorted(w) for f, w in rows.words.items()},
                "glosses": {f: sorted(g) for f, g in rows.glosses.items()},
                "terms": terms,
            }
            (tmp / "rows.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
            (tmp / CHECKSUMS).write_text(json.dumps(_checksums(tmp)), "utf-8")
            try:
                os.rename(tmp, directory)
            except OSError:  # another process saved the same generation first: same content
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _prune(directory)

    @classmethod
    def load(cls, directory: Path, *, with_tokens: bool = False) -> tuple[LexicalIndex, Rows]:
        """Open a saved index; its rows carry tokens only when asked (for the next update).

        Every file is checked against the checksums saved with it first: a zeroed score array
        or a reordered ``rows.json`` loads without complaint and silently ranks wrong passages
        (each chunk's scores would belong to another), so a mismatch raises ``ValueError``
        and the caller builds the index again.
        """
        try:
            saved_sums = json.loads((directory / CHECKSUMS).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{directory}: no readable {CHECKSUMS} ({exc})") from exc
        if _checksums(directory) != saved_sums:
            raise ValueError(f"{directory}: files differ from their checksums")
        record = json.loads((directory / "rows.json").read_text("utf-8"))
        if record.get("format") != FORMAT:
            raise ValueError(f"{directory}: lexical index format {record.get('format')}")
        rows = Rows(
            ids=record["ids"],
            episodes=record["episodes"],
            english=record["english"],
            searchable=record["searchable"],
            files=record["files"],
            words={f: set(w) for f, w in record["words"].items()},
            glosses={f: {(k, e) for k, e in g} for f, g in record["glosses"].items()},
        )
        if with_tokens:
            with np.load(directory / "tokens.npz") as saved:
                flat, lengths = saved["flat"], saved["lengths"]
            terms, codes, start = record["terms"], flat.tolist(), 0
            for n in lengths.tolist():
                rows.tokens.append([terms[c] for c in codes[start : start + n]])
                start += n
        for path in directory.glob("vectors-*.npy"):
            matrix = np.load(path, mmap_mode="r")
            if matrix.shape[0] != len(rows.ids):
                raise ValueError(f"{path}: {matrix.shape[0]} vectors for {len(rows.ids)} chunks")
            rows.vectors[path.stem.removeprefix("vectors-")] = matrix
        bm25 = bm25s.BM25.load(str(directory / "bm25"), mmap=True) if rows.ids else None
        return cls(rows, bm25), rows


def _checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` (but the checksum file), by relative path.

    Hashing reads the memory-mapped arrays once at open: 0.1 s for 100 MB, against the 20 s
    of rebuilding them from Chroma at 100x.
    """
    sums = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != CHECKSUMS:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(block)
            sums[str(path.relative_to(directory))] = digest.hexdigest()
    return sums


def snapshot_dir(index_dir: Path, collection_id: object, generation: int) -> Path:
    """Where the lexical index of a collection's generation is saved."""
    return index_dir / "lexical" / f"{collection_id}-g{generation}"


def spaces(manifest: Manifest) -> list[str]:
    """The vector spaces an index generation holds."""
    return [MAIN, CROSSLINGUAL] if manifest.crosslingual else [MAIN]


def open_lexical(
    store: Store, manifest: Manifest, collections: list[chromadb.Collection]
) -> LexicalIndex:
    """The lexical index of the active generation: saved, or built from Chroma and saved.
    ``collections`` are the generation's main collection and its cross-lingual twin, if any."""
    directory = snapshot_dir(store.settings.index.dir, collections[0].id, manifest.generation)
    if (directory / "rows.json").exists():
        try:
            index = LexicalIndex.load(directory)[0]
            if set(index.vectors) != set(spaces(manifest)):
                raise ValueError(f"{directory}: vectors of {sorted(index.vectors)}")
            return index
        except Exception as exc:  # damaged, half-pruned or another format: build it again
            logger.warning("replacing the saved BM25 index %s: %s", directory, exc)
            shutil.rmtree(directory, ignore_errors=True)
    index, rows = from_collection(collections, manifest.is_live)
    with contextlib.suppress(OSError):  # a read-only index folder: the next process builds it
        index.save(directory, rows)
    return index


def save_update(
    store: Store,
    old: Manifest | None,
    new: Manifest,
    collections: list[chromadb.Collection],
    kept: set[str],
    nodes: list[TextNode],
    vectors: list[np.ndarray],
) -> None:
    """After an index build, save the new generation's lexical index: the previous one's
    rows of ``kept`` files plus the new chunks and their ``vectors`` (one matrix per space,
    in the order of ``collections``), or (no previous one) everything from Chroma."""
    collection = collections[0]
    rows = _previous_rows(store.settings.index.dir, old, new, collection, kept)
    if rows is None or (rows.ids and set(rows.vectors) != set(spaces(new))):
        index, rows = from_collection(collections, new.is_live)
    else:
        rows.extend(
            ((n.node_id, n.text, n.metadata) for n in nodes),
            dict(zip(spaces(new), vectors, strict=True)),
        )
        index = LexicalIndex(rows)
    with contextlib.suppress(OSError):  # the first search builds it instead
        index.save(snapshot_dir(store.settings.index.dir, collection.id, new.generation), rows)


def _previous_rows(
    index_dir: Path,
    old: Manifest | None,
    new: Manifest,
    collection: chromadb.Collection,
    kept: set[str],
) -> Rows | None:
    if not kept:
        return Rows()
    if old is None or old.collection != new.collection:
        return None
    try:
        saved = LexicalIndex.load(
            snapshot_dir(index_dir, collection.id, old.generation), with_tokens=True
        )
    except Exception:  # missing or damaged: the caller reads Chroma instead
        return None
    return saved[1].keep_files(kept)


def from_collection(
    collections: list[chromadb.Collection], live: Callable[[dict], bool]
) -> tuple[LexicalIndex, Rows]:
    """Build from every live chunk stored in a generation's Chroma collections (the slow
    way): the main one holds text, metadata and main vectors; a twin, the cross-lingual ones."""
    rows = Rows()
    for page in pages(collections[0], ["documents", "metadatas", "embeddings"]):
        keep = [i for i, meta in enumerate(page["metadatas"]) if live(meta)]
        rows.extend(
            ((page["ids"][i], page["documents"][i], page["metadatas"][i]) for i in keep),
            {MAIN: np.asarray(page["embeddings"], dtype=np.float32)[keep]},
        )
    if len(collections) > 1:
        row = {pid: i for i, pid in enumerate(rows.ids)}
        matrix: np.ndarray | None = None
        for page in pages(collections[1], ["embeddings"]):
            got = np.asarray(page["embeddings"], dtype=np.float32)
            if matrix is None:
                matrix = np.zeros((len(rows.ids), got.shape[1]), dtype=np.float32)
            for pid, vector in zip(page["ids"], got, strict=True):
                if pid in row:
                    matrix[row[pid]] = vector
        rows.vectors[CROSSLINGUAL] = matrix if matrix is not None else np.zeros((0, 0), np.float32)
    return LexicalIndex(rows), rows


def _prune(current: Path) -> None:
    """Keep the newest snapshots; older ones belong to generations nobody opens any more,
    and a half-written one older than an hour belongs to a process that died writing it."""
    saved: list[tuple[float, Path]] = []
    for path in current.parent.iterdir():
        try:  # another process may be pruning too
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            continue
        if not path.name.startswith("."):
            saved.append((mtime, path))
        elif time.time() - mtime > 3600:
            shutil.rmtree(path, ignore_errors=True)
    saved.sort(reverse=True)
    for _, old in saved[KEEP:]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)
