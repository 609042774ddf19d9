"""How the command line shows things: the indexing progress bar and its summary, passages,
answers as they stream, and their sources."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from assistant import Assistant
    from assistant.schema import Answer, Citation, Hit, ParseIssue, Turn

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class IndexProgress:
    """A rich progress bar with counts, rate and time left for reading and embedding."""

    def __init__(self) -> None:
        from assistant.progress import progress_bar

        self.bar = progress_bar(err, "rate")
        self.tasks: dict[str, int] = {}
        self.said: set[str] = set()

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

    def notice(self, issue: ParseIssue) -> None:
        """Say a warning now, above the bar, and not again in the summary."""
        self.said.add(str(issue))
        # The bar's console prints above a live bar, and like err when none is live.
        self.bar.console.print(f"[yellow]{escape(str(issue))}[/]")

    def stop(self) -> None:
        if self.tasks:
            self.bar.stop()


def run_index(
    bot: Assistant, rebuild: bool = False, *, as_json: bool = False, out: Console | None = None
) -> None:
    """Build or update the index with a progress bar, then say what changed (or print the
    report as JSON); warnings not said during the run are said after it."""
    out = out or console
    progress = IndexProgress()
    try:
        report = bot.index(rebuild=rebuild, progress=progress, notice=progress.notice)
    finally:
        progress.stop()
    if as_json:
        data = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
        data["issues"] = [issue.model_dump() for issue in report.issues]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for issue in report.issues:
        if str(issue) not in progress.said:
            err.print(f"[yellow]{escape(str(issue))}[/]")
    for note in report.replaced:
        err.print(f"[yellow]Replaced {escape(note)}[/]")
    if not report.changed:
        out.print(
            f"Index up to date: {len(report.unchanged)} unchanged files, {report.chunks} chunks "
            f"({report.seconds:.1f} s)."
        )
        return
    out.print(
        f"Indexed {report.episodes} episodes, {report.chunks} chunks in {report.seconds:.1f} s: "
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
        f"{len(report.unchanged)} unchanged"
        + (f", {len(report.skipped)} skipped (see the warnings)" if report.skipped else "")
        + f"; {report.embedded} chunks embedded (the rest from the cache)."
    )


def ensure_index(bot: Assistant, out: Console | None = None) -> None:
    """Build the index when there is none or it is of an older chunking, before a command
    that needs it; otherwise say if the corpus changed since it was built."""
    from assistant.index.build import corpus_notice, older_version

    manifest = bot.store.manifest()
    if manifest is None:
        err.print("No index yet: building it from the corpus first.")
        run_index(bot, out=out)
    elif older_version(manifest):  # the build logs that it upgrades it
        run_index(bot, out=out)
    elif notice := corpus_notice(manifest, bot.settings):
        err.print(f"[yellow]{escape(notice)}[/]")


def print_hit(i: int, hit: Hit) -> None:
    """One search result: where it is from, its score, and its text."""
    head = " · ".join(p for p in (hit.episode, hit.chapter, hit.timestamp, hit.speaker) if p)
    console.print(f"[bold cyan][{i}][/] [bold]{escape(head)}[/]  [dim]score {hit.score:.4f}[/]")
    console.print(f"    [dim]{escape(hit.episode_title)} — {escape(hit.source_file)}[/]")
    console.print("    " + escape(hit.text).replace("\n", "\n    ") + "\n")


def print_citation(c: Citation) -> None:
    """One source of an answer: its heading, a link when the episode has one, the quote."""
    link = f"  [link={c.url}]{escape(c.url)}[/link]" if c.url else ""
    console.print(f"[bold cyan][{c.n}][/] [bold]{escape(c.heading())}[/]{link}")
    console.print(f"    “{escape(c.quote)}”")


def print_answer(answer: Answer, streamed: bool = False) -> None:
    """An answer (unless it was streamed already), its notice, and its sources or see-also."""
    if not streamed:
        console.print(escape(answer.text))
    if answer.notice:
        console.print(f"[yellow]{escape(answer.notice)}[/]")
    if answer.citations:
        console.print("\n[bold]Sources[/]")
        for c in answer.citations:
            print_citation(c)
    if answer.abstained and answer.see_also:
        console.print("\n[bold]See also[/]")
        for c in answer.see_also:
            print_citation(c)


def stream_answer(
    bot: Assistant,
    question: str,
    history: list[Turn],
    episode: list[str] | None,
    speaker: list[str] | None,
) -> Answer:
    """Print the answer as it arrives, with a status line until its first words: a model on
    a CPU can take half a minute before it writes anything."""
    from assistant.schema import Answer

    final: Answer | None = None
    status = console.status(f"[dim]Answering ({bot.pipeline.name})…[/]", spinner="dots")
    status.start()
    try:
        for piece in bot.stream(question, history=history, episode=episode, speaker=speaker):
            if isinstance(piece, Answer):
                final = piece
            elif piece:
                status.stop()
                console.print(escape(piece), end="")
    finally:
        status.stop()
    console.print()
    assert final is not None
    return final
