"""episode-assistant: ask podcast episodes questions, get answers that cite their sources.

>>> from assistant import Assistant
>>> answer = Assistant().ask("When do they talk about environment scaling?")
>>> answer.text, answer.citations
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from assistant import offline  # noqa: F401  (first: keeps tiktoken, Chroma and Gradio off the network)

# The public names load on first use (PEP 562): `episode-assistant --help` and `--version`
# need none of them, and `Assistant` brings Chroma (0.3 s of imports) with it.
_HOMES = {
    "Assistant": "api",
    "AssistantError": "errors",
    "QuestionError": "errors",
    "Settings": "config",
    "FilterError": "errors",
    "Answer": "schema",
    "Citation": "schema",
    "Episode": "schema",
    "Hit": "schema",
    "Segment": "schema",
    "Turn": "schema",
    "Usage": "schema",
    "IndexUnavailable": "errors",
}

if TYPE_CHECKING:
    from assistant.api import Assistant
    from assistant.config import Settings
    from assistant.errors import AssistantError, FilterError, IndexUnavailable, QuestionError
    from assistant.schema import Answer, Citation, Episode, Hit, Segment, Turn, Usage


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Answer",
    "Assistant",
    "AssistantError",
    "Citation",
    "Episode",
    "FilterError",
    "Hit",
    "IndexUnavailable",
    "QuestionError",
    "Segment",
    "Settings",
    "Turn",
    "Usage",
]
