"""Prompt templates: read from ``settings.llm.prompts_dir`` (else the wheel's copy) and filled."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.config import Settings

# Where the wheel keeps its copy of the checkout's prompts/ (pyproject.toml's force-include).
PACKAGED_PROMPTS = Path(__file__).resolve().parent / "_prompts"
PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


def load_prompt(settings: Settings, name: str) -> str:
    """The template ``name`` from ``settings.llm.prompts_dir``, else the copy packaged in the wheel.

    Read on every call, so an edited prompt takes effect on the next question.
    """
    for folder in (settings.llm.prompts_dir, PACKAGED_PROMPTS):
        path = Path(folder) / f"{name}.txt"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    raise FileNotFoundError(
        f"prompt {name}.txt is missing from {settings.llm.prompts_dir} (and no packaged copy exists)"
    )


def fill(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders in one pass (values are never re-scanned, so a passage
    that contains ``{question}`` stays as it is); other braces are left alone."""
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render_prompt(settings: Settings, name: str, **values: str) -> str:
    """The template ``name``, filled with ``values``."""
    return fill(load_prompt(settings, name), **values)
