"""The LLM path timed against a local stand-in model that answers after a fixed delay."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from pydantic import SecretStr

from assistant.api import Assistant
from benchmarks.fake_openai import FakeOpenAI, Reply
from benchmarks.harness import percentiles

SCRIPTED_DELAY = 0.25  # seconds the stand-in model takes per completion
SCRIPTED_ANSWER = "They talk about it in the first passage [1]."


@contextlib.contextmanager
def scripted_model(offline: Assistant) -> Iterator[Assistant]:
    """An assistant on the LLM path, its model a local stand-in that answers every request
    after ``SCRIPTED_DELAY`` (the delays of concurrent calls overlap)."""
    # One delta, as a real model's short answer often arrives: the figure is our overhead,
    # not the cost of parsing many small chunks.
    reply = Reply(text=SCRIPTED_ANSWER, pieces=[SCRIPTED_ANSWER], delay=SCRIPTED_DELAY)
    server = FakeOpenAI(default=reply).start()
    try:
        bot = Assistant(
            offline.settings.model_copy(
                update={
                    "answerer": "openai",
                    "openai_base_url": server.base_url,
                    "openai_api_key": SecretStr("sk-bench"),
                }
            )
        )
        bot.retriever().cache_queries = False
        yield bot
    finally:
        server.stop()


def llm_overhead(offline: Assistant, questions: list[str]) -> dict[str, float]:
    """What the assistant adds around the model call (retrieval, packing, citation check):
    wall-clock of ``ask`` against a local model that takes a fixed delay, minus that delay."""
    with scripted_model(offline) as bot:
        bot.ask(questions[0])  # warm-up: the client, its connection pool, the tokenizer
        samples = []
        for question in questions[:40]:
            started = time.perf_counter()
            answer = bot.ask(question)
            elapsed = time.perf_counter() - started
            if answer.usage.calls:  # abstentions never reach the model
                samples.append((elapsed - SCRIPTED_DELAY * answer.usage.calls) * 1000)
        return percentiles(samples)
