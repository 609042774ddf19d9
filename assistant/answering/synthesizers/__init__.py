"""Synthesizers: what writes an answer's text from its evidence. One file per kind; the
settings pick one (``answerer``: offline quotes, or an OpenAI-compatible model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.answering.synthesizers.base import Draft, Evidence, SynthesisError, Synthesizer
from assistant.answering.synthesizers.quotes import QuoteSynthesizer
from assistant.answering.synthesizers.scripted import ScriptedSynthesizer

if TYPE_CHECKING:
    from assistant.config import Settings

__all__ = [
    "Draft",
    "Evidence",
    "QuoteSynthesizer",
    "ScriptedSynthesizer",
    "SynthesisError",
    "Synthesizer",
    "make_synthesizer",
]


def make_synthesizer(settings: Settings) -> Synthesizer:
    """The offline synthesizer, or the OpenAI-compatible one when settings enable a model."""
    if not settings.llm_enabled:
        return QuoteSynthesizer()
    from assistant.answering.synthesizers.openai import (
        OpenAISynthesizer,  # lazy: the offline path never imports openai
    )

    return OpenAISynthesizer(settings)
