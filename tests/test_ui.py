"""The chat page's event functions and rendering, without a browser."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest

from assistant import Answer, Assistant, Citation, QuestionError, Settings, Turn
from assistant.surfaces.answer_html import THINKING, render_answer, render_source
from assistant.surfaces.ui import (
    APOLOGY,
    build_ui,
    describe_answerer,
    episode_choices,
    friendly_error,
    launch_options,
    make_respond,
    new_chat,
    pick_example,
    speaker_choices,
    status_text,
)

MOE = "What did Seonghyun say about MoE's compute multiplier?"
LONDON = "Who is moving to London?"


def content(message: dict[str, Any]) -> str:
    """A chat message's text, whether plain or in Gradio's content-block form."""
    value = message["content"]
    if isinstance(value, list):
        return "".join(block.get("text", "") for block in value)
    return value


def source_episodes(html: str) -> list[str]:
    return re.findall(r'<span class="ea-ep">([^<]+)</span>', html)


@pytest.fixture(scope="module")
def respond(bot: Assistant):
    return make_respond(bot)


def test_streaming_grows_then_ends_with_sources(respond) -> None:
    updates = list(respond(MOE, [], [], [], []))
    first_chat, first_history, first_box = updates[0]
    assert content(first_chat[0]) == MOE and first_chat[0]["role"] == "user"
    assert content(first_chat[1]) == THINKING
    assert first_history == [] and first_box == ""

    streamed = [content(chat[-1]) for chat, _, _ in updates[1:-1]]
    assert len(streamed) >= 2, "the answer should arrive in pieces"
    assert all(len(a) < len(b) for a, b in itertools.pairwise(streamed))
    assert all("ea-sources" not in text for text in streamed)

    chat, history, box = updates[-1]
    final = content(chat[-1])
    assert len(chat) == 2 and box == ""
    assert "ea-sources" in final and "EP 81" in final and "04:34" in final
    assert "Seonghyun Kim" in final
    # Every marker links to a source of the same answer, numbered the same.
    targets = re.findall(r'class="ea-cite" href="#([\w-]+)"', final)
    anchors = re.findall(r'<li class="ea-source" id="([\w-]+)"', final)
    assert targets and set(targets) <= set(anchors)
    assert [a.rsplit("-", 1)[1] for a in anchors] == [str(i + 1) for i in range(len(anchors))]
    assert [t.question for t in history] == [MOE]
    # What the Chatbot component is given must be valid for it.
    gr.Chatbot().postprocess(chat)


def test_episode_filter_is_respected(respond) -> None:
    *_, (chat, _, _) = respond(
        "When do they talk about environment scaling?", [], [], ["EP 79"], []
    )
    episodes = source_episodes(content(chat[-1]))
    assert episodes and set(episodes) == {"EP 79"}


def test_speaker_filter_is_respected(respond) -> None:
    *_, (chat, _, _) = respond("What do they say about reasoning?", [], [], [], ["Noam"])
    episodes = source_episodes(content(chat[-1]))
    assert episodes and set(episodes) == {"Latent Space · Noam Brown"}


def test_single_string_filter_values_work(respond) -> None:
    *_, (chat, _, _) = respond(
        "When do they talk about environment scaling?", [], [], "EP 79", None
    )
    assert set(source_episodes(content(chat[-1]))) == {"EP 79"}


@pytest.mark.parametrize("question", ["", "   \n\t ", None])
def test_empty_question_gets_a_friendly_message(respond, question) -> None:
    updates = list(respond(question, [], [], [], []))
    assert len(updates) == 1
    chat, history, box = updates[0]
    assert [m["role"] for m in chat] == ["assistant"]
    assert "Please type a question" in content(chat[0]) and "ea-error" in content(chat[0])
    assert history == [] and box == ""


def test_overlong_question_is_refused_and_kept_for_editing(respond) -> None:
    question = "why " * 4999 + "why?"  # 20,000 characters
    updates = list(respond(question, [], [], [], []))
    assert len(updates) == 1
    chat, history, box = updates[0]
    echoed = content(chat[0])
    assert len(echoed) < 400 and "20,000 characters" in echoed
    assert "characters long" in content(chat[1]) and "Traceback" not in content(chat[1])
    assert history == [] and box == question


def test_unknown_filter_is_explained(respond) -> None:
    ((chat, _, _),) = list(respond(LONDON, [], [], ["EP 999"], []))
    text = content(chat[-1])
    assert "filter doesn't match" in text and "EP 81" in text


class _Broken:
    """An assistant whose answerer fails, before or after it has streamed some text."""

    def __init__(self, settings: Settings, after: list[str]) -> None:
        self.settings = settings
        self.after = after

    def filters(self, episode: object = None, speaker: object = None) -> None:
        return None

    def stream(self, question: str, **_: object) -> Iterator[str | Answer]:
        yield from self.after
        raise RuntimeError("secret internal detail")


@pytest.mark.parametrize("partial", [[], ["Half an ", "answer"]])
def test_unexpected_failure_is_an_apology_not_a_trace(bot: Assistant, partial: list[str]) -> None:
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    turns = [Turn(question="hi", answer="hello")]
    updates = list(make_respond(_Broken(bot.settings, partial))(LONDON, earlier, turns, [], []))  # type: ignore[arg-type]
    chat, history, box = updates[-1]
    assert chat[:2] == earlier and content(chat[2]) == LONDON
    assert content(chat[3]) == f'<div class="ea-error">{APOLOGY}</div>'
    assert len(chat) == 4, "the half-streamed answer is replaced by the apology"
    assert history == turns and box == LONDON


def test_follow_up_uses_this_conversation_only(respond) -> None:
    *_, (chat, history, _) = respond(LONDON, [], [], [], [])
    follow_up = "And what did Chester say about it?"
    *_, (chat, history, _) = respond(follow_up, chat, history, [], [])
    assert "Follow-up, searched as" in content(chat[-1]) and "London" in content(chat[-1])
    assert [t.question for t in history] == [LONDON, follow_up]
    # A fresh conversation (another tab, or after "New chat") has no London to lean on.
    *_, (fresh, _, _) = respond(follow_up, [], [], [], [])
    assert "Follow-up, searched as" not in content(fresh[-1])


def test_gradio_content_blocks_from_the_browser_are_kept(respond) -> None:
    earlier = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
    ]
    *_, (chat, _, _) = respond(LONDON, earlier, [], [], [])
    assert chat[:2] == earlier and len(chat) == 4
    gr.Chatbot().postprocess(chat)


def test_history_stays_bounded(respond) -> None:
    turns = [Turn(question=f"q{i}", answer=f"a{i}") for i in range(20)]
    *_, (_, history, _) = respond(LONDON, [], turns, [], [])
    assert len(history) == Settings().answer.history_turns and history[-1].question == LONDON


def test_new_chat_clears_everything() -> None:
    assert new_chat() == ([], [], "")


def test_pick_example_fills_the_box() -> None:
    assert pick_example(gr.SelectData(None, {"index": 1, "value": {"text": LONDON}})) == LONDON


def test_abstention_shows_see_also(bot: Assistant) -> None:
    answer = bot.ask("What is the best pizza in Naples?")
    assert answer.abstained
    html = render_answer(answer, "x")
    assert "See also" in html and 'class="ea-source"' in html and "ea-cite" not in html


def test_notice_is_shown(bot: Assistant) -> None:
    answer = bot.ask(LONDON).model_copy(
        update={"notice": "LLM unavailable: showing quoted passages"}
    )
    html = render_answer(answer, "x")
    assert '<div class="ea-notice">LLM unavailable: showing quoted passages</div>' in html


def test_source_links_its_timestamp_and_escapes_corpus_text() -> None:
    citation = Citation(
        n=2,
        episode="EP 81",
        episode_title="Tom & <Jerry>",
        chapter="Intro",
        timestamp="04:34",
        seconds=274,
        speaker="Chester Roh",
        quote="a <script>alert(1)</script> quote",
        source_file="x.txt",
        url="https://example.com/ep81?t=274",
        passage_id="p",
    )
    html = render_source(citation, "a1")
    assert 'id="a1-2"' in html
    assert '<a class="ea-time" href="https://example.com/ep81?t=274" target="_blank"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "Tom &amp; &lt;Jerry&gt;" in html
    assert "Chester Roh" in html and "Intro" in html
    plain = render_source(citation.model_copy(update={"url": None, "kind": "article"}), "a1")
    assert "href" not in plain and "article" in plain


def test_friendly_errors() -> None:
    assert friendly_error(QuestionError("Please type a question.")) == "Please type a question."
    assert friendly_error(KeyError("x")) == APOLOGY


def test_filter_lists_and_status(bot: Assistant) -> None:
    choices = episode_choices(bot)
    labels = [value for _, value in choices]
    assert len(labels) == len(set(labels)) and {"EP 81", "EP 88", "EP 79"} <= set(labels)
    assert any("(+ article)" in shown for shown, value in choices if value == "EP 88")
    assert speaker_choices(bot) == bot.speakers()
    status = status_text(bot)
    chunks = bot.retriever().manifest.chunks
    assert "offline quotes" in status and f"{chunks:,} chunks" in status
    assert "4 episodes + 1 article" in status
    assert "gpt-4.1-mini" in describe_answerer("openai:gpt-4.1-mini")


def test_build_ui_has_the_page(bot: Assistant) -> None:
    demo = build_ui(bot)
    assert isinstance(demo, gr.Blocks)
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"ea-chat", "ea-episode", "ea-speaker", "ea-new", "ea-question", "ea-status"} <= ids


def test_launch_options() -> None:
    options = launch_options(Settings(ui_host="127.0.0.1", ui_port=7999))
    assert options["server_name"] == "127.0.0.1" and options["server_port"] == 7999
    assert options["auth"] is None and options["share"] is False and options["quiet"] is True
    assert ".ea-cite" in options["css"]
    protected = launch_options(Settings(ui_username="ann", ui_password="pw", ui_share=True))
    assert protected["auth"] == ("ann", "pw") and protected["share"] is True
    with pytest.raises(ValueError, match="both"):
        launch_options(Settings(ui_username="ann"))
