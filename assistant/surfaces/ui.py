"""The chat page: streaming answers whose ``[n]`` markers link to the sources listed under them.

Everything the page does goes through ``Assistant``; the event functions here are plain
functions (``respond``, ``new_chat``, ``pick_example``) so they can be tested without a browser.
Each browser tab keeps its own conversation (a ``list[Turn]``) in ``gr.State``, which Gradio
holds per session on the server, so people using the page at once never share history.

>>> from assistant import Assistant, Settings
>>> from assistant.surfaces.ui import run_ui
>>> run_ui(Settings())          # http://127.0.0.1:7860, blocks until interrupted
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from assistant.api import Assistant, clean_question
from assistant.config import Settings
from assistant.errors import FilterError, IndexFailure, InputError
from assistant.schema import Answer, Turn
from assistant.surfaces.answer_html import (
    THINKING,
    escape_text,
    inert,
    render_answer,
    render_notice,
    render_partial,
)
from assistant.text import shorten

logger = logging.getLogger(__name__)

# One chat message as the Chatbot takes it: {"role": "user" | "assistant", "content": ...}.
ChatMessage = dict[str, Any]
# What ``respond`` yields: the chat to show, the conversation to keep, the input box's text.
Update = tuple[list[ChatMessage], list[Turn], str]
Respond = Callable[
    [str | None, list[ChatMessage] | None, list[Turn] | None, Any, Any], Iterator[Update]
]

CSS_PATH = Path(__file__).with_name("ui.css")

# Follow-ups need the last few exchanges, not the whole evening: a bounded state keeps every
# request small however long a tab stays open.
# A refused question is echoed this far, so a pasted essay does not flood the chat.
ECHO_CHARS = 280
# Answers stream while others are being answered; each one holds a worker thread.
CONCURRENT_ANSWERS = 4

EXAMPLES = [
    "What did Seonghyun say about MoE's compute multiplier?",
    "When do they talk about environment scaling?",
    "환경 스케일링에 대해 언제 이야기하나요?",
    "Who is moving to London?",
]

APOLOGY = (
    "Sorry, something went wrong while answering that. Please try again in a moment; "
    "the rest of the page still works."
)
# Images only from the page's own server (its icons) or inline: nothing a Markdown image or an
# injected tag names elsewhere is fetched, whichever text it came in. Sent as a response header:
# Gradio's ``head=`` is added to the page by script, and Chromium ignored a policy put there.
IMAGES_POLICY = "img-src 'self' data: blob:"


class ImagesPolicy:
    """ASGI middleware adding the ``IMAGES_POLICY`` Content-Security-Policy to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_policy(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", IMAGES_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)


# --- what the page says about the index ---------------------------------------------------------


def episode_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """Dropdown choices ``(shown, label)``: one per episode label, its articles folded in.

    An episode and its article share a label ("EP 88"), and filters match labels, so one
    entry selects both; the shown text says so.
    """
    titles: dict[str, str] = {}
    kinds: dict[str, set[str]] = {}
    for episode in assistant.episodes():
        # A transcript's title names the episode best; an article's is the fallback.
        if episode.label not in titles or episode.kind == "transcript":
            titles[episode.label] = episode.title
        kinds.setdefault(episode.label, set()).add(episode.kind)
    choices = []
    for label, title in titles.items():
        extra = " (+ article)" if len(kinds[label]) > 1 and "article" in kinds[label] else ""
        # "Latent Space · Noam Brown" already says what it is; "EP 81" needs its title.
        named = title in label or " · " in label
        shown = label if named else f"{label} · {shorten(title, 60)}"
        choices.append((shown + extra, label))
    return choices


def speaker_choices(assistant: Assistant) -> list[str]:
    """Every speaker in the index, for the speaker filter."""
    return assistant.speakers()


def describe_answerer(name: str) -> str:
    """``offline`` or ``openai:<model>`` as a listener would say it."""
    if name.startswith("openai:"):
        return f"LLM **{name.split(':', 1)[1]}** (quotes if it is unavailable)"
    if name == "offline":
        return "offline quotes (no LLM)"
    return f"**{name}**"


def status_text(assistant: Assistant) -> str:
    """The status line: which answerer is active and how much is indexed."""
    try:
        manifest = assistant.retriever().manifest
        answerer = describe_answerer(assistant.pipeline.name)
    except Exception as exc:  # the page must open even when the index cannot be read
        logger.warning("status unavailable: %s", exc)
        return f"Index unavailable: {escape_text(str(exc))}"
    labels = {e.label for e in manifest.episodes if e.kind == "transcript"}
    others = sum(1 for e in manifest.episodes if e.kind != "transcript")
    indexed = _plural(len(labels), "episode")
    if others:
        indexed += " + " + _plural(others, "article")
    return f"Answers: {answerer} · Indexed: {indexed}, {manifest.chunks:,} chunks"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def friendly_error(exc: BaseException) -> str:
    """What a person is told when a question cannot be answered; never a stack trace."""
    if isinstance(exc, FilterError):
        return f"That filter doesn't match the index ({exc}). Clear it or pick from the list."
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, IndexFailure):
        return f"The episode index isn't available right now: {exc}"
    return APOLOGY


def _echo(question: str) -> str:
    """The user's message as shown in the chat (long ones cut, with their length)."""
    question = question.strip()
    if len(question) <= ECHO_CHARS:
        return inert(question)
    return inert(f"{question[:ECHO_CHARS].rstrip()}… ({len(question):,} characters)")


def _selected(value: Any) -> list[str] | None:
    """A dropdown's value as a list of names, or ``None`` for no filter."""
    if not value:
        return None
    names = [value] if isinstance(value, str) else [str(v) for v in value if v]
    return names or None


# --- event functions ------------------------------------------------------------------------


def make_respond(assistant: Assistant) -> Respond:
    """The submit handler bound to ``assistant``: see ``respond`` inside."""

    def respond(
        message: str | None,
        chat_messages: list[ChatMessage] | None,
        history: list[Turn] | None,
        episodes: Any = None,
        speakers: Any = None,
    ) -> Iterator[Update]:
        """Answer ``message`` in the light of ``history``, streaming.

        Yields ``(chat, history, textbox)``: first the question with a placeholder, then the
        answer as it grows, then the answer with its sources and the new history. Bad input
        and failures end in a friendly message instead; the question stays in the box so it
        can be fixed.
        """
        chat = list(chat_messages or [])
        turns = list(history or [])
        text = message if isinstance(message, str) else ""
        episode, speaker = _selected(episodes), _selected(speakers)
        if text.strip():
            chat.append({"role": "user", "content": _echo(text)})
        try:
            # Checked before anything streams, so a refusal shows at once, without a spinner.
            clean_question(text, assistant.settings.answer.max_question_chars)
            assistant.filters(episode, speaker)
        except Exception as exc:
            yield _failed(chat, turns, text, exc)
            return
        prefix = "a" + uuid.uuid4().hex[:8]
        chat.append({"role": "assistant", "content": THINKING})
        yield list(chat), turns, ""
        partial = ""
        final: Answer | None = None
        try:
            for piece in assistant.stream(text, history=turns, episode=episode, speaker=speaker):
                if isinstance(piece, Answer):
                    final = piece
                    continue
                partial += piece
                chat[-1] = {"role": "assistant", "content": render_partial(partial, prefix)}
                yield list(chat), turns, ""
            if final is None:
                raise RuntimeError("the answerer finished without an answer")
        except Exception as exc:
            chat.pop()  # the placeholder or half an answer
            yield _failed(chat, turns, text, exc)
            return
        chat[-1] = {"role": "assistant", "content": render_answer(final, prefix)}
        yield list(chat), list(final.history), ""

    return respond


def _failed(chat: list[ChatMessage], turns: list[Turn], text: str, exc: Exception) -> Update:
    if isinstance(exc, InputError):
        logger.info("refused a question: %s", exc)
    else:
        logger.exception("answering failed")
    chat.append({"role": "assistant", "content": render_notice(friendly_error(exc), "error")})
    # An empty box stays empty; anything else is kept to be shortened or retried.
    return list(chat), turns, text if text.strip() else ""


def new_chat() -> Update:
    """Forget this tab's conversation: empty chat, empty history, empty input box."""
    return [], [], ""


def was_follow_up(history: list[Turn] | None) -> bool:
    """Whether the last answer read its question as a follow-up of an earlier one."""
    last = (history or [None])[-1]
    return last is not None and bool(last.standalone) and last.standalone != last.question


def show_fresh_button(history: list[Turn] | None) -> Any:
    """The "ask as a new question" button, shown only under an answer to a follow-up."""
    return gr.update(visible=was_follow_up(history))


def as_new_question(history: list[Turn] | None) -> tuple[str, list[Turn]]:
    """The last question back in the box, with the conversation forgotten: asked again, it is
    read on its own rather than as a follow-up."""
    return ((history or [])[-1].question if history else ""), []


def pick_example(evt: gr.SelectData) -> str:
    """Put a clicked example question into the input box (the submit chain then asks it)."""
    value = evt.value
    if isinstance(value, dict):
        return str(value.get("text") or "")
    return str(value or "")


def refresh(assistant: Assistant) -> tuple[str, Any, Any]:
    """On page load: the current status line and filter lists (another process may re-index)."""
    try:
        episodes, speakers = episode_choices(assistant), speaker_choices(assistant)
    except Exception as exc:
        logger.warning("filter lists unavailable: %s", exc)
        return status_text(assistant), gr.update(), gr.update()
    return status_text(assistant), gr.update(choices=episodes), gr.update(choices=speakers)


# --- the page -------------------------------------------------------------------------------


def load_css() -> str:
    """The page's own CSS (layout, source cards, phone widths)."""
    return CSS_PATH.read_text(encoding="utf-8")


def theme() -> gr.themes.Base:
    """A calm theme using fonts served by Gradio itself, so the page needs no CDN."""
    return gr.themes.Soft(
        primary_hue="indigo",
        neutral_hue="slate",
        font=[gr.themes.LocalFont("IBM Plex Sans"), "ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=[gr.themes.LocalFont("IBM Plex Mono"), "ui-monospace", "monospace"],
    )


def build_ui(assistant: Assistant) -> gr.Blocks:
    """The chat page for ``assistant`` (launch it with ``run_ui`` or ``launch_options``)."""
    respond = make_respond(assistant)
    try:
        episodes, speakers = episode_choices(assistant), speaker_choices(assistant)
    except Exception as exc:  # an unreadable index still gets a page that says so
        logger.warning("filter lists unavailable: %s", exc)
        episodes, speakers = [], []

    with gr.Blocks(title="Episode assistant", analytics_enabled=False) as demo:
        history = gr.State([])
        with gr.Row(elem_id="ea-header", equal_height=False):
            gr.Markdown(
                "## Episode assistant\n"
                "Ask the podcast episodes anything: every answer quotes who said it, "
                "in which episode and chapter, and when.",
                elem_id="ea-intro",
                scale=1,
                min_width=180,
            )
            new_btn = gr.Button(
                "+ New chat", elem_id="ea-new", variant="secondary", scale=0, min_width=100
            )
        status = gr.Markdown(status_text(assistant), elem_id="ea-status")
        with gr.Row(elem_id="ea-filters", equal_height=True):
            episode_dd = gr.Dropdown(
                choices=episodes,
                value=[],
                multiselect=True,
                label="Episodes",
                info=None,
                elem_id="ea-episode",
                min_width=160,
                scale=3,
            )
            speaker_dd = gr.Dropdown(
                choices=speakers,
                value=[],
                multiselect=True,
                label="Speakers",
                elem_id="ea-speaker",
                min_width=140,
                scale=2,
            )
        chatbot = gr.Chatbot(
            elem_id="ea-chat",
            show_label=False,
            # The real height is set by ui.css from the window's height.
            height="60vh",
            layout="panel",
            # Copy would copy the sources' HTML; the chatbot's own clear icon is wired below.
            buttons=[],
            feedback_options=None,
            # Dollar amounts and times in transcripts must stay text, not formulas.
            latex_delimiters=[],
            sanitize_html=True,
            render_markdown=True,
            group_consecutive_messages=False,
            placeholder=(
                "**Ask about the episodes.** Answers quote the speakers, with episode, "
                "chapter and timestamp. Narrow the search with the filters above."
            ),
            examples=[{"text": q} for q in EXAMPLES],
        )
        with gr.Row(elem_id="ea-input"):
            msg = gr.Textbox(
                show_label=False,
                placeholder="Ask a question, e.g. “Who is moving to London?”",
                lines=1,
                max_lines=4,
                autofocus=True,
                submit_btn=False,
                elem_id="ea-question",
                scale=8,
                min_width=160,
                container=False,
            )
            send = gr.Button("Ask", variant="primary", elem_id="ea-ask", scale=0, min_width=72)
        fresh_btn = gr.Button(
            "Ask that as a new question", visible=False, elem_id="ea-fresh", size="sm"
        )

        answer_args: dict[str, Any] = {
            "fn": respond,
            "inputs": [msg, chatbot, history, episode_dd, speaker_dd],
            "outputs": [chatbot, history, msg],
            "show_progress": "hidden",
            "concurrency_limit": CONCURRENT_ANSWERS,
            "concurrency_id": "answer",
            "api_name": False,
        }
        shown = {"fn": show_fresh_button, "inputs": [history], "outputs": [fresh_btn]}
        shown |= {"show_progress": "hidden", "api_name": False}
        asks = [
            msg.submit(**answer_args),
            send.click(**answer_args),
            chatbot.example_select(
                pick_example, None, [msg], show_progress="hidden", api_name=False
            ).then(**answer_args),
            fresh_btn.click(
                as_new_question, [history], [msg, history], show_progress="hidden", api_name=False
            ).then(**answer_args),
        ]
        for event in asks:
            event.then(**shown)
        # A new chat also stops an answer still streaming into the old one.
        new_btn.click(new_chat, None, [chatbot, history, msg], cancels=asks, api_name=False)
        # The chatbot's own trash icon must forget the conversation too, not just hide it.
        chatbot.clear(new_chat, None, [chatbot, history, msg], cancels=asks, api_name=False)
        demo.load(
            lambda: refresh(assistant),
            None,
            [status, episode_dd, speaker_dd],
            show_progress="hidden",
            api_name=False,
        )
    return demo


def launch_options(settings: Settings) -> dict[str, Any]:
    """The ``Blocks.launch`` arguments for ``settings``: host, port, auth, no share unless
    asked, quiet, and nothing that phones home (analytics, run history, MCP, monitoring)."""
    if bool(settings.ui.username) != bool(settings.ui.password):
        raise ValueError(
            "set both ui_username and ui_password (EPISODE_ASSISTANT_UI_USERNAME / "
            "_UI_PASSWORD) to protect the chat page, or neither"
        )
    auth = None
    if settings.ui.username and settings.ui.password:
        auth = (settings.ui.username, settings.ui.password.get_secret_value())
    return {
        "server_name": settings.ui.host,
        "server_port": settings.ui.port,
        "auth": auth,
        "auth_message": "Episode assistant: sign in to ask the episodes." if auth else None,
        "share": bool(settings.ui.share),
        "quiet": True,
        "show_error": False,
        "inbrowser": False,
        "footer_links": [],
        "run_history": False,
        "mcp_server": False,
        "enable_monitoring": False,
        "pwa": False,
        "ssr_mode": False,
        "theme": theme(),
        "css": load_css(),
        "app_kwargs": {"middleware": [Middleware(ImagesPolicy)]},
    }


def run_ui(
    settings: Settings | None = None,
    assistant: Assistant | None = None,
    *,
    prevent_thread_lock: bool = False,
) -> gr.Blocks:
    """Serve the chat page on ``settings.ui.host:ui_port`` until interrupted.

    Builds the index first if there is none. With ``prevent_thread_lock`` it returns at once
    with the running app (call ``.close()`` to stop it), which is what tests use.
    """
    if assistant is None:
        assistant = Assistant(settings)
    settings = settings or assistant.settings
    options = launch_options(settings)
    demo = build_ui(assistant)
    demo.queue(default_concurrency_limit=CONCURRENT_ANSWERS)
    demo.launch(prevent_thread_lock=True, **options)
    # Launch is quiet (no Gradio banner), so say where the page is, once.
    print(f"Episode assistant chat page: {demo.local_url}", flush=True)
    if demo.share_url:
        print(f"Public share link (ui_share is on): {demo.share_url}", flush=True)
    if not prevent_thread_lock:
        demo.block_thread()
    return demo
