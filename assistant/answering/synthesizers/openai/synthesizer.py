"""The generative synthesizer: the model writes the answer from the packed passages, and
every ``[n]`` it writes is checked against the passages that were actually sent; a follow-up
is condensed into a standalone question by the model too."""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from assistant.answering.citations import CLEAN_MARKER_RE, cite_markers, claim_sentences, is_claim
from assistant.answering.synthesizers.base import NOTICE, Draft, Evidence
from assistant.answering.synthesizers.openai.calls import ChatClient, Run
from assistant.answering.synthesizers.openai.packing import neutral, pack_passages
from assistant.answering.synthesizers.openai.reply import (
    NO_ANSWER,
    LoopGuard,
    MarkerRewriter,
    ThinkFilter,
    is_no_answer,
    tidy,
)
from assistant.errors import LLMFailure, SynthesisError
from assistant.prompts import load_prompt, render_prompt
from assistant.schema import Turn, Usage

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

UNCITED_NOTICE = "The model's answer cited no passage: showing quoted passages"
LOOP_NOTICE = "The model repeated itself; its answer was cut after the first time"
UNSUPPORTED_NOTICE = (
    "The model's answer was mostly claims no passage supports: showing quoted passages"
)
# A reply with at least this many claims, most of them citing nothing, is not shown as an
# answer.
MIN_CLAIMS_CHECKED = 3
CONDENSE_TOKENS = 80  # a standalone question is one line


class OpenAISynthesizer:
    """Writes answers with an OpenAI-compatible chat model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = f"openai:{self.settings.llm.model}"
        self.chat = ChatClient(settings)
        self.redact = self.chat.redact

    def synthesize(self, evidence: Evidence) -> Iterator[str | Draft]:
        """Answer text as it arrives from the server, then the ``Draft``.

        Text before the first valid ``[n]`` marker is held back: a reply that turns out to
        cite nothing (retried with a reminder) or to decline is never shown half-way. A
        failed call raises ``SynthesisError`` and the pipeline answers offline.
        """
        run = Run()
        try:
            draft = yield from self._generate(evidence, run)
        except LLMFailure as failure:
            raise SynthesisError(failure.reason, NOTICE, run.usage) from None
        except SynthesisError:
            raise
        except Exception as exc:  # logged without the key, answered offline by the pipeline
            reason = self.redact(f"{type(exc).__name__}: {exc}")
            log.error("LLM synthesizer error: %s", reason)
            raise SynthesisError(reason, NOTICE, run.usage) from None
        if draft is None:
            raise SynthesisError("the reply cited no passage", UNCITED_NOTICE, run.usage)
        draft.usage = run.usage.model_copy()
        yield draft

    def _generate(self, evidence: Evidence, run: Run) -> Generator[str, None, Draft | None]:
        """Stream the model's answer and check it; ``None`` when it cited nothing twice."""
        query = evidence.query
        packed, section = pack_passages(evidence.hits, self.settings.llm.passage_budget)
        if not packed:
            raise LLMFailure("no passage fits the context budget", retry=False)
        asked = (
            query.standalone
            if query.standalone == query.text
            else f"{query.standalone} (asked as: {query.text})"
        )
        messages = [
            {"role": "system", "content": load_prompt(self.settings, "system")},
            {
                "role": "user",
                "content": render_prompt(self.settings, "answer", passages=section, question=asked),
            },
        ]
        for attempt in range(2):
            rewriter = MarkerRewriter(len(packed))
            guard = LoopGuard()
            raw = yield from self._stream_answer(messages, rewriter, run, guard)
            text = tidy(raw)
            if is_no_answer(text):  # a sentinel anywhere, markers or not, means no answer
                return Draft(text="", declined=True)
            if rewriter.order:
                shown = {
                    k: (packed[n - 1].hit, packed[n - 1].text) for n, k in rewriter.order.items()
                }
                text, citations, unsupported = cite_markers(text, shown)
                claims = [s for s, _ in claim_sentences(text) if is_claim(s)]
                if len(claims) >= MIN_CLAIMS_CHECKED and 2 * len(unsupported) > len(claims):
                    raise SynthesisError(
                        f"{len(unsupported)} of {len(claims)} claims cite nothing",
                        UNSUPPORTED_NOTICE,
                        run.usage,
                    )
                return Draft(
                    text=text,
                    citations=citations,
                    unsupported_sentences=unsupported,
                    passages=[p.hit.model_copy(update={"text": p.text}) for p in packed],
                    notice=LOOP_NOTICE if guard.tripped else None,
                )
            if attempt == 0:
                log.info("LLM answer cited no passage; asking again with a reminder")
                messages = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": load_prompt(self.settings, "reminder")},
                ]
        return None

    def _stream_answer(
        self, messages: list[dict], rewriter: MarkerRewriter, run: Run, guard: LoopGuard
    ) -> Generator[str, None, str]:
        """Yield rewritten text once a valid marker has been seen, never after the model said
        it has no answer, and never past a repeat the guard caught; return all of it."""
        think = ThinkFilter()
        text = ""
        shown = 0  # characters of ``text`` already yielded

        def showable(final: bool = False) -> str:
            if not rewriter.order or NO_ANSWER in text.upper():
                return ""
            return (guard.cut(text) if final else guard.shown(text))[shown:]

        for delta in self.chat.call(messages, run, stream=True, stop=lambda: guard.tripped):
            text += rewriter.feed(think.feed(delta))
            guard.feed(text)
            piece = showable()
            if piece:
                shown += len(piece)
                yield piece
        text += rewriter.feed(think.flush()) + rewriter.flush()
        piece = showable(final=True)
        if piece:
            yield piece
        return guard.cut(text)

    # --- follow-ups ----------------------------------------------------------------------

    def condense(self, question: str, history: list[Turn]) -> tuple[str | None, Usage]:
        """The follow-up rewritten as a standalone question by the model; ``None`` (the
        offline method) when the reply is unusable. ``SynthesisError`` when the server cannot
        be reached, so the answer does not wait for it twice."""
        run = Run()
        lines = []
        for turn in history:  # the pipeline keeps settings.answer.history_turns
            said = CLEAN_MARKER_RE.sub("", turn.answer)
            said = said if len(said) <= 600 else said[:600].rsplit(" ", 1)[0] + " …"
            lines += [f"User: {turn.question}", f"Assistant: {' '.join(said.split())}"]
        try:
            prompt = render_prompt(
                self.settings, "condense", history=neutral("\n".join(lines)), question=question
            )
            text = "".join(
                self.chat.call(
                    [{"role": "user", "content": prompt}], run, stream=False, limit=CONDENSE_TOKENS
                )
            )
        except LLMFailure as failure:
            log.warning(
                "condensing the follow-up failed (%s); using the offline method", failure.reason
            )
            if failure.reason != "unusable reply":
                raise SynthesisError(failure.reason, NOTICE, run.usage) from None
            return None, run.usage
        except Exception as exc:  # a broken prompt file, say: follow-ups still work offline
            log.error("condensing failed: %s", self.redact(f"{type(exc).__name__}: {exc}"))
            return None, run.usage
        line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
        line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.I)
        return line.strip().strip("\"'“”`").strip() or None, run.usage
