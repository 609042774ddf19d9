"""``episode-assistant``: index the episodes, search them, ask them, chat with them."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

# The options that mirror a setting take its description (assistant/config.py) as help.
from assistant.config import describe
from assistant.errors import AssistantError, InputError
from assistant.surfaces.terminal import (
    console,
    ensure_index,
    err,
    print_answer,
    print_hit,
    run_index,
    stream_answer,
)

# Each command imports what it needs when it runs: `--help` should not load Chroma, and
# `ask` should not load FastAPI, the MCP SDK or Gradio.
if TYPE_CHECKING:
    from assistant import Assistant
    from assistant.schema import Turn

app = typer.Typer(
    help="Ask podcast episodes questions and get answers that cite episode, chapter, "
    "timestamp, speaker and the quoted words.",
    no_args_is_help=True,
)

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help=describe("index.corpus_dir"))]
EpisodeOpt = Annotated[
    list[str] | None, typer.Option("--episode", "-e", help='Only this episode, e.g. "EP 81".')
]
SpeakerOpt = Annotated[
    list[str] | None,
    typer.Option("--speaker", "-s", help='Only this speaker, e.g. "Seonghyun Kim".'),
]


FeedOpt = Annotated[
    Path | None,
    typer.Option("--feed", help=describe("index.feed_file")),
]


def _host(setting: str) -> Any:
    return typer.Option("--host", help=describe(setting))


def _port(setting: str) -> Any:
    return typer.Option("--port", help=describe(setting))


def _version(value: bool) -> None:
    if value:
        from assistant.surfaces.common import package_version

        print(f"episode-assistant {package_version()}")
        raise typer.Exit()


SERVERS = frozenset({"ui", "slack", "serve", "mcp"})


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors in the log.")] = False,
) -> None:
    """Ask podcast episodes questions and get answers that cite episode, chapter, timestamp,
    speaker and the quoted words."""
    # Servers say where they listen and what they serve (INFO); one-shot commands only warn.
    levels = (logging.WARNING, logging.INFO, logging.DEBUG)
    start = 1 if ctx.invoked_subcommand in SERVERS else 0
    level = logging.ERROR if quiet else levels[min(start + verbose, 2)]
    # Logs go to stderr: stdout carries answers, JSON and the MCP stdio protocol.
    # The level goes on the handler too: some libraries (bm25s) set DEBUG on their own logger.
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == "episode-assistant"), None)
    if handler is None:  # once per process, however often the app is invoked in it
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name("episode-assistant")
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    handler.setLevel(level)
    root.setLevel(level)


def _assistant(
    corpus: Path | None = None, feed: Path | None = None, **overrides: object
) -> Assistant:
    from assistant import Assistant, Settings

    if corpus:
        overrides["corpus_dir"] = corpus
    if feed:
        if not feed.is_file():
            raise FileNotFoundError(f"feed file not found: {feed}")
        overrides["feed_file"] = feed
    return Assistant(Settings(**{k: v for k, v in overrides.items() if v is not None}))


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Turn the errors a user can cause into one clear line, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)
        # Our own errors (assistant/errors.py), a missing file, and bad settings (pydantic's
        # ValidationError is a ValueError) are for the user to fix: one line each.
        except (AssistantError, FileNotFoundError, ValueError) as exc:
            raise _fail(str(exc)) from None

    return wrapper


@app.command()
@_guarded
def index(
    corpus: CorpusOpt = None,
    feed: FeedOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Throw the index away and build it anew.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Build or update the index (only new or changed files are embedded)."""
    run_index(_assistant(corpus, feed), rebuild, as_json=as_json)


@app.command()
@_guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int | None, typer.Option("-k", help=describe("retrieval.top_k"))] = None,
    episode: EpisodeOpt = None,
    speaker: SpeakerOpt = None,
    corpus: CorpusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the top passages with episode, chapter, timestamp and speaker."""
    bot = _assistant(corpus)
    ensure_index(bot)
    hits = bot.search(query, k=k, episode=episode, speaker=speaker)
    if as_json:
        print(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("No passages found.")
    for i, hit in enumerate(hits, start=1):
        print_hit(i, hit)


@app.command()
@_guarded
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in any language.")],
    episode: EpisodeOpt = None,
    speaker: SpeakerOpt = None,
    corpus: CorpusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer a question, then list its sources."""
    bot = _assistant(corpus)
    ensure_index(bot)
    if as_json:
        answer = bot.ask(question, episode=episode, speaker=speaker)
        print(answer.model_dump_json(indent=2, exclude={"history", "passages"}))
        return
    answer = stream_answer(bot, question, [], episode, speaker)
    print_answer(answer, streamed=True)


CHAT_HELP = """Commands:
  /help   this list
  /new    start a new conversation (forget what was said)
  /quit   leave (Ctrl-D works too)
Anything else is a question, in any language; follow-ups use what was said before."""

# Words that make a message conversation rather than a question.
SMALL_TALK = frozenset(
    [
        "hi",
        "hello",
        "hey",
        "hiya",
        "yo",
        "thanks",
        "thank",
        "thx",
        "ok",
        "okay",
        "cool",
        "great",
        "nice",
        "yes",
        "yeah",
        "yep",
        "no",
        "nope",
        "bye",
        "goodbye",
        "morning",
        "evening",
        "please",
        "sorry",
        "lol",
        "hmm",
        "test",
    ]
)


def _is_small_talk(message: str, in_conversation: bool) -> bool:
    """Whether a message has nothing to search for ("hi", "thanks!", "???").

    In a conversation, "why?" or "and then?" is a follow-up: only greetings and thanks are
    small talk there.
    """
    from assistant.text import WORD_RE, content_terms, stem

    noise = {stem(w) for w in SMALL_TALK}
    if [t for t in content_terms(message) if t not in noise]:
        return False
    return not in_conversation or all(w.lower() in SMALL_TALK for w in WORD_RE.findall(message))


@app.command()
@_guarded
def chat(
    episode: EpisodeOpt = None,
    speaker: SpeakerOpt = None,
    corpus: CorpusOpt = None,
) -> None:
    """A conversation in the terminal; follow-ups use what was said before.

    /help lists the commands; /quit or Ctrl-D ends it."""

    bot = _assistant(corpus)
    ensure_index(bot)
    console.print(
        f"[dim]{len(bot.episodes())} episodes indexed; answerer: {bot.pipeline.name}. "
        "Ask away (/help for commands, /quit to leave).[/]"
    )
    history: list[Turn] = []
    while True:
        try:
            question = console.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        command = question.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            return
        if command in ("/help", "/?", "help"):
            console.print(escape(CHAT_HELP))
            continue
        if command == "/new":
            history = []
            console.print("[dim]New conversation.[/]")
            continue
        if command.startswith("/"):
            err.print(f"[red]Unknown command {escape(command.split()[0])}: /help lists them.[/]")
            continue
        if command and _is_small_talk(question, bool(history)):
            console.print(
                "Ask me a question about the episodes, e.g. “What did Seonghyun say about "
                "MoE?” (/help for commands)."
            )
            continue
        try:
            final = stream_answer(bot, question, history, episode, speaker)
            print_answer(final, streamed=True)
            history = final.history
        except InputError as exc:  # QuestionError, FilterError: say why, keep the conversation
            err.print(f"[red]{escape(str(exc))}[/]")


@app.command()
@_guarded
def ui(
    corpus: CorpusOpt = None,
    host: Annotated[str | None, _host("ui.host")] = None,
    port: Annotated[int | None, _port("ui.port")] = None,
) -> None:
    """Open the chat page (host, port and login from settings)."""
    from assistant.surfaces.ui import run_ui  # lazy: gradio takes seconds to import

    bot = _assistant(corpus, ui_host=host, ui_port=port)
    ensure_index(bot)
    run_ui(bot.settings, bot)


@app.command()
@_guarded
def slack(
    corpus: CorpusOpt = None,
    host: Annotated[str | None, _host("slack.host")] = None,
    port: Annotated[int | None, _port("slack.port")] = None,
) -> None:
    """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on slack_port."""
    from assistant.surfaces.bots.slack import (
        run_slack,  # lazy: other commands don't load slack_bolt
    )

    bot = _assistant(corpus, slack_port=port)
    ensure_index(bot)
    run_slack(bot.settings, assistant=bot, **({"host": host} if host else {}))


def _uvicorn_level() -> str:
    level = logging.getLogger().getEffectiveLevel()
    return "error" if level >= logging.ERROR else ("debug" if level <= logging.DEBUG else "info")


@app.command()
@_guarded
def serve(
    corpus: CorpusOpt = None,
    host: Annotated[str | None, _host("server.host")] = None,
    port: Annotated[int | None, _port("server.port")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help=describe("server.workers"))
    ] = None,
) -> None:
    """Serve the HTTP API: OpenAI-compatible chat completions, /search, /ask, /healthz.

    A host other than loopback needs EPISODE_ASSISTANT_API_KEY (clients send it as
    'Authorization: Bearer <key>')."""
    from assistant.surfaces.common import check_exposure
    from assistant.surfaces.http import run_server  # lazy: only this command loads FastAPI

    bot = _assistant(corpus, server_host=host, server_port=port, server_workers=workers)
    settings = bot.settings
    check_exposure(
        settings.server.host,
        settings.server.api_key.get_secret_value() if settings.server.api_key else None,
        "HTTP API",
    )
    ensure_index(bot, out=err)
    processes = f" ({settings.server.workers} processes)" if settings.server.workers > 1 else ""
    err.print(f"HTTP API on http://{settings.server.host}:{settings.server.port}/v1{processes}")
    run_server(bot, settings.server.host, settings.server.port, log_level=_uvicorn_level())


@app.command()
@_guarded
def mcp(
    corpus: CorpusOpt = None,
    transport: Annotated[
        str, typer.Option(help="stdio (an MCP client starts this command) or http.")
    ] = "stdio",
    host: Annotated[str | None, _host("server.host")] = None,
    port: Annotated[int | None, _port("server.mcp_port")] = None,
) -> None:
    """Serve the episodes to MCP clients (stdio, or streamable HTTP).

    Tools search_episodes and ask_episodes; the episode list as the resource episodes://list."""
    from assistant.surfaces.mcp_server import run_mcp  # lazy: only this command loads the MCP SDK

    if transport not in ("stdio", "http", "streamable-http"):
        raise ValueError(f"--transport is stdio or http, not {transport!r}")
    bot = _assistant(corpus, server_host=host, mcp_port=port)
    # stdout is the protocol on stdio: everything this command says goes to stderr.
    ensure_index(bot, out=err)
    run_mcp(bot, "stdio" if transport == "stdio" else "http")


@app.command("eval")
def eval_(
    split: Annotated[str, typer.Option(help="Which split: test (held out) or dev.")] = "test",
    answerer: Annotated[
        str | None,
        typer.Option(help="offline (default), openai, or auto (a model when one is configured)."),
    ] = None,
    compare: Annotated[
        Path | None, typer.Option("--compare", help="An earlier JSON report to compare with.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Where reports go (default: evals/reports/).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Only the first N questions (floors not checked).")
    ] = None,
) -> None:
    """Ask the held-out questions, score the answers, write the reports; exit code 1 when the
    offline eval of the test split breaks a floor in evals/floors.json, 2 on errors."""
    from assistant.api import Assistant
    from assistant.config import Settings
    from evals.harness import evaluate  # lazy: a plain `ask` loads no eval code

    console = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    try:
        bot = Assistant(Settings(answerer=answerer or "offline"))
        ensure_index(bot, out=err)
        _, code = evaluate(
            bot, split=split, compare_with=compare, out_dir=out_dir, limit=limit, console=console
        )
    except (AssistantError, FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


@app.command()
@_guarded
def bench(
    cold: Annotated[
        bool, typer.Option(help="Also time a build with no embedding cache (minutes).")
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the figures as JSON (default evals/reports/bench.json, "
            "or bench-scale.json with --scale)."
        ),
    ] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Benchmark synthetic corpora this many times the shipped one, e.g. 1,10,100: "
            "build, size, RSS, latencies, 8 concurrent clients, a LlamaIndex baseline."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpora.")] = 0,
    clients: Annotated[int, typer.Option(help="Concurrent clients (with --scale).")] = 8,
    ingest_only: Annotated[
        bool,
        typer.Option(
            help="Only time cold ingestion of a synthetic one-hour episode in every format."
        ),
    ] = False,
) -> None:
    """Print build, re-index, search and ask figures for the shipped corpus.

    With --scale, for synthetic corpora 1x, 10x, 100x its size."""
    from assistant.config import Settings
    from benchmarks.bench import run_bench

    if ingest_only:
        from benchmarks.ingestion import print_ingest, run_ingest_bench

        print_ingest(console, run_ingest_bench(Settings(), seed=seed))
        return

    scales = None
    if scale:
        try:
            scales = [int(part) for part in scale.split(",") if part.strip()]
        except ValueError:
            scales = []
        if not scales or min(scales) < 1:
            raise ValueError(f"--scale takes whole numbers from 1, e.g. 1,10,100, not {scale!r}")
    default = "bench-scale.json" if scales else "bench.json"
    out = out or Path("evals/reports") / default

    run_bench(Settings(), cold=cold, out=out, scales=scales, seed=seed, clients=clients)


def main() -> None:
    """Entry point of the ``episode-assistant`` command (and of ``python -m assistant``)."""
    try:
        app(prog_name="episode-assistant")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
