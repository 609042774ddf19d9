"""The one place an ``openai`` client is made from settings (answers, judge, embeddings)."""

from __future__ import annotations

import httpx
import openai

from assistant.config import Settings


def make_client(settings: Settings, *, max_retries: int | None = None) -> openai.OpenAI:
    """An ``openai.OpenAI`` for the configured server; ``max_retries`` overrides the setting
    (the answerer retries by itself, to honour Retry-After and fall back in time)."""
    key = settings.llm.api_key
    return openai.OpenAI(
        # Local servers need no key, but the client insists on one.
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.llm.base_url or None,
        # The read timeout bounds the wait for the first token (and each one after); the
        # whole reply's budget is kept by the caller.
        timeout=httpx.Timeout(
            settings.llm.timeout,
            read=settings.llm.read_timeout,
            connect=min(10.0, settings.llm.timeout),
        ),
        max_retries=settings.llm.max_retries if max_retries is None else max_retries,
    )
