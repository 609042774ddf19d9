"""``episode-assistant``: index the episodes, search them, ask them, chat with them."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from . import Assistant, Settings
from .api import QuestionError
from .evaluate import eval_command
from .indexing import corpus_notice
from .progress import progress_bar
from .retrieval import FilterError
from .schema import Answer, Citation, Hit, Turn
from .store import IndexUnavailable

app = typer.Typer(
    help="Ask podcast episodes questions and get answers that cite episode, chapter, "
    "timestamp, speaker and the quoted words.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

CorpusOpt = Annotated[
    Path | None, typer.Option("--corpus", help="Corpus folder (default: the shipped episodes).")
]
EpisodeOpt = Annotated[
    list[str] | None, typer.Option("--episode", "-e", help='Only this episode, e.g. "EP 81".')
]
SpeakerOpt = Annotated[
    list[str] | None,
    typer.Option("--speaker", "-s", help='Only this speaker, e.g. "Seonghyun Kim".'),
]


FeedOpt = Annotated[
    Path | None,
    typer.Option(
        "--feed",
        help="A podcast RSS file on disk: titles, numbers, dates, links and chapters "
        "(default: a feed file in the corpus folder).",
    ),
]


def _assistant(corpus: Path | None = None, feed: Path | None = None) -> Assistant:
    overrides: dict[str, object] = {"corpus_dir": corpus} if corpus else {}
    if feed:
        if not feed.is_file():
            raise FileNotFoundError(f"feed file not found: {feed}")
        overrides["feed_file"] = feed
    return Assistant(Settings(**overrides))


class IndexProgress:
    """A rich progress bar with counts, rate and time left for reading and embedding."""

    def __init__(self) -> None:
        self.bar = progress_bar(err, "rate")
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.tasks:
            self.bar.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total, rate="")
        task = self.tasks[stage]
        elapsed = self.bar.tasks[task].elapsed or 0
        unit = "files" if stage.startswith("reading") else "chunks"
        rate = f"{done / elapsed:.1f} {unit}/s" if elapsed > 0.5 else ""
        self.bar.update(task, completed=done, total=total, rate=rate)

    def stop(self) -> None:
        if self.tasks:
            self.bar.stop()


def _run_index(bot: Assistant, rebuild: bool = False) -> None:
    progress = IndexProgress()
    try:
        report = bot.index(rebuild=rebuild, progress=progress)
    finally:
        progress.stop()
    for issue in report.issues:
        err.print(f"[yellow]{escape(str(issue))}[/]")
    if not report.changed:
        console.print(
            f"Index up to date: {len(report.unchanged)} unchanged files, {report.chunks} chunks "
            f"({report.seconds:.1f} s)."
        )
        return
    console.print(
        f"Indexed {report.episodes} episodes, {report.chunks} chunks in {report.seconds:.1f} s: "
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged"
        + (f", {len(report.skipped)} skipped (see the warnings)" if report.skipped else "")
        + f"; {report.embedded} chunks embedded (the rest from the cache)."
    )


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _guarded(fn: Callable[..., None]) -> Callable[..., None]:
    """Turn the errors a user can cause into one clear line, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)
        except (QuestionError, FilterError, IndexUnavailable, FileNotFoundError, ValueError) as exc:
            raise _fail(str(exc)) from None

    return wrapper


@app.command()
@_guarded
def index(
    corpus: CorpusOpt = None,
    feed: FeedOpt = None,
    rebuild: Annotated[bool, typer.Option(help="Throw the index away and build it anew.")] = False,
) -> None:
    """Build or update the index (only new or changed files are embedded)."""
    _run_index(_assistant(corpus, feed), rebuild)


def _ensure_index(bot: Assistant) -> None:
    manifest = bot.store.manifest()
    if manifest is None:
        err.print("No index yet: building it from the corpus first.")
        _run_index(bot)
    elif notice := corpus_notice(manifest, bot.settings):
        err.print(f"[yellow]{escape(notice)}[/]")


def _print_hit(i: int, hit: Hit) -> None:
    head = " · ".join(p for p in (hit.episode, hit.chapter, hit.timestamp, hit.speaker) if p)
    console.print(f"[bold cyan][{i}][/] [bold]{escape(head)}[/]  [dim]score {hit.score:.4f}[/]")
    console.print(f"    [dim]{escape(hit.episode_title)} — {escape(hit.source_file)}[/]")
    console.print("    " + escape(hit.text).replace("\n", "\n    ") + "\n")


@app.command()
@_guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 5,
    episode: EpisodeOpt = None,
    speaker: SpeakerOpt = None,
    corpus: CorpusOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the top passages with episode, chapter, timestamp and speaker."""
    bot = _assistant(corpus)
    _ensure_index(bot)
    hits = bot.search(query, k=k, episode=episode, speaker=speaker)
    if as_json:
        print(json.dumps([h.model_dump() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        console.print("No passages found.")
    for i, hit in enumerate(hits, start=1):
        _print_hit(i, hit)


def _print_citation(c: Citation) -> None:
    link = f"  [link={c.url}]{escape(c.url)}[/link]" if c.url else ""
    console.print(f"[bold cyan][{c.n}][/] [bold]{escape(c.heading())}[/]{link}")
    console.print(f"    “{escape(c.quote)}”")


def _print_answer(answer: Answer, streamed: bool = False) -> None:
    if not streamed:
        console.print(escape(answer.text))
    if answer.notice:
        console.print(f"[yellow]{escape(answer.notice)}[/]")
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            _print_citation(c)
    if answer.abstained and answer.see_also:
        console.print("\n[bold]See also[/]")
        for c in answer.see_also:
            _print_citation(c)


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
    _ensure_index(bot)
    answer = bot.ask(question, episode=episode, speaker=speaker)
    if as_json:
        print(answer.model_dump_json(indent=2, exclude={"history", "passages"}))
        return
    _print_answer(answer)


@app.command()
@_guarded
def chat(
    episode: EpisodeOpt = None,
    speaker: SpeakerOpt = None,
    corpus: CorpusOpt = None,
) -> None:
    """A conversation in the terminal; follow-ups use what was said before. Ctrl-D ends it."""
    bot = _assistant(corpus)
    _ensure_index(bot)
    console.print(
        f"[dim]{len(bot.episodes())} episodes indexed; answerer: {bot.pipeline.name}. "
        "Ask away (Ctrl-D to quit, /new for a new conversation).[/]"
    )
    history: list[Turn] = []
    while True:
        try:
            question = console.input("[bold green]you>[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if question.strip() == "/new":
            history = []
            continue
        try:
            final: Answer | None = None
            for piece in bot.stream(question, history=history, episode=episode, speaker=speaker):
                if isinstance(piece, Answer):
                    final = piece
                else:
                    console.print(escape(piece), end="")
            console.print()
            assert final is not None
            _print_answer(final, streamed=True)
            history = final.history
        except (QuestionError, FilterError) as exc:
            err.print(f"[red]{escape(str(exc))}[/]")


@app.command()
@_guarded
def ui(corpus: CorpusOpt = None) -> None:
    """Open the chat page (host, port and login from settings)."""
    from .ui import run_ui  # lazy: gradio takes seconds to import

    bot = _assistant(corpus)
    _ensure_index(bot)
    run_ui(bot.settings, bot)


@app.command()
@_guarded
def slack(corpus: CorpusOpt = None) -> None:
    """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on slack_port."""
    from .bots.slack import run_slack  # lazy: other commands don't load slack_bolt

    bot = _assistant(corpus)
    _ensure_index(bot)
    run_slack(bot.settings, assistant=bot)


@app.command("eval")
@functools.wraps(eval_command)
def eval_(*args: object, **kwargs: object) -> None:
    """Ask the held-out questions, score the answers, write the reports."""
    raise typer.Exit(eval_command(*args, **kwargs))


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
    """Print build, re-index, search and ask figures for the shipped corpus, or (--scale)
    for synthetic corpora 1x, 10x, 100x its size."""
    from .bench import run_bench

    if ingest_only:
        from .ingestbench import print_ingest, run_ingest_bench

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
    """Entry point of the ``episode-assistant`` command."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
