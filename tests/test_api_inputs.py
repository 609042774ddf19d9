"""The Python API refuses malformed arguments with the documented errors and a message a
person can act on, never a TypeError from deep inside."""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.api import QuestionError
from assistant.retrieval.search import FilterError


@pytest.mark.parametrize("question", [123, b"MoE", ["MoE"], 4.5])
def test_a_question_that_is_not_text_is_refused(bot: Assistant, question: object) -> None:
    for call in (bot.ask, bot.search):
        with pytest.raises(QuestionError, match="must be text"):
            call(question)


def test_bytes_are_told_to_be_decoded(bot: Assistant) -> None:
    with pytest.raises(QuestionError, match="decode"):
        bot.ask(b"MoE")


@pytest.mark.parametrize("episode", [["EP 81", None], 81, {"EP": 81}, [b"EP 81"]])
def test_a_filter_that_is_not_names_is_refused(bot: Assistant, episode: object) -> None:
    with pytest.raises(FilterError, match="episode filter must be a name"):
        bot.ask("compute multiplier", episode=episode)
    with pytest.raises(FilterError, match="speaker filter must be a name"):
        bot.search("compute multiplier", speaker=episode)


@pytest.mark.parametrize("k", [-3, 0, 1_000_000, 2.5, True, "5"])
def test_k_out_of_bounds_is_refused(bot: Assistant, k: object) -> None:
    with pytest.raises(QuestionError, match="from 1 to 50"):
        bot.search("compute multiplier", k=k)


def test_names_in_a_tuple_and_the_largest_k_work(bot: Assistant) -> None:
    hits = bot.search("compute multiplier", k=50, episode=("EP 81", "EP 79"))
    assert 5 < len(hits) <= 50 and {h.episode for h in hits} <= {"EP 81", "EP 79"}
