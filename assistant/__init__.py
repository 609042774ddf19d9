"""episode-assistant: ask podcast episodes questions, get answers that cite their sources.

>>> from assistant import Assistant
>>> answer = Assistant().ask("When do they talk about environment scaling?")
>>> answer.text, answer.citations
"""

from . import offline  # noqa: F401  (first: keeps tiktoken, Chroma and Gradio off the network)
from .api import Assistant, QuestionError
from .config import Settings
from .retrieval import FilterError
from .schema import Answer, Citation, Episode, Hit, Segment, Turn, Usage
from .store import IndexUnavailable

__all__ = [
    "Answer",
    "Assistant",
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
