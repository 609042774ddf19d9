"""The generative synthesizer: OpenAI or any OpenAI-compatible server (vLLM, Ollama,
llama.cpp, LM Studio) writes the answer from the evidence passages, and every ``[n]`` it
writes is checked against the passages that were actually sent.

We call the official ``openai`` client directly. llama-index's ``OpenAI`` LLM class refuses
model names it does not know (it looks up a context window per name), which breaks every
local server whose models are called "llama3.1:8b" or "Qwen/Qwen2.5-7B-Instruct". The client
is made with ``max_retries=0``: retries and backoff happen here, so that a 429's Retry-After
is honoured, a dead server costs a bounded wait, and the pipeline's offline answer takes over.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
import openai

from assistant.answering.citations import (
    CLEAN_MARKER_RE,
    META_RE,
    cite_markers,
    claim_sentences,
    is_claim,
)
from assistant.answering.synthesizers.base import NOTICE, Draft, Evidence
from assistant.errors import LLMFailure, SynthesisError
from assistant.ingestion.chunking import count_tokens, split_sentences
from assistant.openai_client import make_client
from assistant.prompts import load_prompt, render_prompt
from assistant.schema import Hit, Turn, Usage, format_timestamp

if TYPE_CHECKING:
    from assistant.config import Settings

log = logging.getLogger(__name__)

UNCITED_NOTICE = "The model's answer cited no passage: showing quoted passages"
NO_ANSWER = "NO_ANSWER"

# Backoff between attempts: BASE * 2**attempt seconds, jittered, at most MAX.
BACKOFF_BASE = 0.25
BACKOFF_MAX = 4.0
# A server asking us to wait longer than this gets the offline answer instead: nobody waits
# a minute for a chat reply.
MAX_RETRY_AFTER = 20.0
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# Parameters some servers or models reject; dropped once when an error names them.
OPTIONAL_PARAMS = ("stream_options", "temperature", "max_tokens")
CONDENSE_TOKENS = 80  # a standalone question is one line
# A sentence seen this many times in one reply means the model is looping: the stream stops.
REPEATS = 3
LOOP_NOTICE = "The model repeated itself; its answer was cut after the first time"
UNSUPPORTED_NOTICE = (
    "The model's answer was mostly claims no passage supports: showing quoted passages"
)
# A reply with at least this many claims, most of them citing nothing, is not shown as an
# answer.
MIN_CLAIMS_CHECKED = 3
MIN_TRIMMED_TOKENS = 40  # a trimmed passage shorter than this is not worth its header

MARKER_RE = re.compile(r"\[(?:\s*(?:passages?|p\.?)\s*)?(\d+(?:\s*[,;–-]\s*\d+)*)\s*\]", re.I)
# What an unfinished marker can look like while its tokens are still arriving.
PARTIAL_MARKER_RE = re.compile(
    r"\[\s*(?:p(?:a(?:s(?:s(?:a(?:g(?:es?)?)?)?)?)?)?\.?\s*)?[\d\s,;–-]*", re.I
)
PARTIAL_MAX = 40
DELIMITER_RE = re.compile(r"<(\s*/?\s*)(passages?|conversation)\b", re.I)
SECRET_RE = re.compile(r"\b(sk-|Bearer\s+)[\w\-*.]{4,}")


# --- context packing --------------------------------------------------------------------------


@dataclass
class Packed:
    """A passage as sent to the model: its number, its hit, and the text actually sent."""

    n: int
    hit: Hit
    text: str


def _neutral(text: str) -> str:
    """Defuse anything that looks like our delimiters, so a passage cannot close its tag."""
    return DELIMITER_RE.sub(lambda m: "‹" + m.group(1) + m.group(2), text)


def _attr(value: str) -> str:
    return _neutral(" ".join(value.split())).replace('"', "'")


def format_passage(n: int, hit: Hit, text: str) -> str:
    """One passage inside its delimiters, with episode, chapter, timestamp and speakers."""
    turns = _turns(hit)
    speakers = list(dict.fromkeys(s for start, s, *_ in turns if s and start < len(text)))
    if not speakers and hit.speaker:
        speakers = [hit.speaker]
    attrs = [("n", str(n)), ("episode", hit.episode), ("title", hit.episode_title)]
    if hit.kind != "transcript":
        attrs.append(("kind", hit.kind))
    if hit.chapter:
        attrs.append(("chapter", hit.chapter))
    if hit.timestamp and hit.kind == "transcript":
        attrs.append(("timestamp", hit.timestamp))
    if speakers:
        attrs.append(("speaker", ", ".join(speakers)))
    head = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs)
    return f"<passage {head}>\n{_neutral(_body(hit, text, turns))}\n</passage>"


def _turns(hit: Hit) -> list[list]:
    try:
        turns = json.loads(hit.turns or "[]")
    except ValueError:
        return []
    return turns if hit.kind == "transcript" else []


def _body(hit: Hit, text: str, turns: list[list]) -> str:
    """The passage text with a speaker label wherever the speaker changes (so the model can
    tell who said what inside a passage that holds several turns)."""
    if not turns:
        return text
    starts = [min(int(t[0]), len(text)) for t in turns]
    parts = [text[: starts[0]].strip()] if starts[0] > 0 else []
    previous = None
    for (_, speaker, seconds, exact), start, end in zip(
        turns, starts, [*starts[1:], len(text)], strict=True
    ):
        piece = text[start:end].strip()
        if not piece:
            continue
        if speaker and speaker != previous:
            when = (
                format_timestamp(seconds)
                if exact and seconds is not None and seconds >= 0
                else None
            )
            piece = f"{speaker}{f' ({when})' if when else ''}: {piece}"
        previous = speaker
        parts.append(piece)
    return "\n".join(p for p in parts if p)


def _sentence_ends(text: str) -> list[int]:
    """Character offsets in ``text`` where each of its sentences ends."""
    ends, pos = [], 0
    for sentence in split_sentences(text):
        found = text.find(sentence, pos)
        if found < 0:
            continue
        pos = found + len(sentence)
        ends.append(pos)
    return ends


def wrap_passages(blocks: list[str]) -> str:
    """The passages section of the prompt: every passage between the outer delimiters."""
    return "<passages>\n" + "\n\n".join(blocks) + "\n</passages>"


def pack_passages(hits: list[Hit], budget: int) -> tuple[list[Packed], str]:
    """Fill ``budget`` tokens (the whole passages section, delimiters included) with the best
    passages in rank order. A passage that does not fit whole is cut at a sentence boundary
    (never mid-sentence) when enough of it fits, and skipped otherwise."""
    packed: list[Packed] = []
    blocks: list[str] = []
    for hit in hits:
        if any(hit.text in p.text for p in packed):
            continue  # overlapping chunks: this one adds nothing the model has not got
        n = len(packed) + 1
        block = format_passage(n, hit, hit.text)
        if count_tokens(wrap_passages([*blocks, block])) <= budget:
            packed.append(Packed(n, hit, hit.text))
            blocks.append(block)
            continue
        # Longest prefix of whole sentences that fits (ends are few: a linear scan is cheap).
        for end in reversed(_sentence_ends(hit.text)[:-1]):
            text = hit.text[:end]
            if count_tokens(text) < MIN_TRIMMED_TOKENS:
                break
            block = format_passage(n, hit, text)
            if count_tokens(wrap_passages([*blocks, block])) <= budget:
                packed.append(Packed(n, hit, text))
                blocks.append(block)
                break
    return packed, wrap_passages(blocks)


# --- markers ----------------------------------------------------------------------------------


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group.strip()):
        bounds = re.split(r"\s*[–-]\s*", part)
        if len(bounds) == 2 and all(b.isdigit() for b in bounds):
            lo, hi = int(bounds[0]), int(bounds[1])
            out.extend(range(lo, hi + 1) if 0 <= hi - lo <= 10 else (lo, hi))
        elif part.isdigit():
            out.append(int(part))
    return out


class MarkerRewriter:
    """Rewrites ``[n]`` markers while the text streams: numbered by first appearance (as
    ``answer.renumber`` does), markers that point at no sent passage removed, ``[1, 3]`` and
    ``[Passage 2]`` normalised. The output does not depend on how the text was split into
    deltas, so the streamed text and the final answer agree."""

    def __init__(self, passages: int) -> None:
        self.passages = passages
        self.order: dict[int, int] = {}  # passage number -> number shown
        self._held = ""

    def feed(self, text: str) -> str:
        """Rewritten text that is safe to show now (an unfinished marker is held back)."""
        buf = self._held + text
        out: list[str] = []
        i = 0
        while True:
            j = buf.find("[", i)
            if j < 0:
                out.append(buf[i:])
                self._held = ""
                break
            out.append(buf[i:j])
            full = MARKER_RE.match(buf, j)
            if full:
                out.append(self._rewrite(full.group(1)))
                i = full.end()
                continue
            partial = PARTIAL_MARKER_RE.match(buf, j)
            if partial and partial.end() == len(buf) and len(buf) - j <= PARTIAL_MAX:
                self._held = buf[j:]
                break
            out.append("[")
            i = j + 1
        return "".join(out)

    def flush(self) -> str:
        """Whatever is held at the end of the text (an unfinished marker stays as written)."""
        held, self._held = self._held, ""
        return held

    def _rewrite(self, group: str) -> str:
        shown: list[int] = []
        for n in _numbers(group):
            if 1 <= n <= self.passages:
                k = self.order.setdefault(n, len(self.order) + 1)
                if k not in shown:
                    shown.append(k)
        return "".join(f"[{k}]" for k in shown)


class _ThinkFilter:
    """Drops a leading ``<think>…</think>`` block (reasoning models on local servers)."""

    def __init__(self) -> None:
        self._buf = ""
        self._state = "start"  # start -> (thinking ->) text

    def feed(self, text: str) -> str:
        if self._state == "text":
            return text
        self._buf += text
        if self._state == "start":
            head = self._buf.lstrip()
            if len(head) < len("<think>") and "<think>".startswith(head):
                return ""
            if not head.startswith("<think>"):
                self._state, out, self._buf = "text", self._buf, ""
                return out
            self._state = "thinking"
        end = self._buf.find("</think>")
        if end < 0:
            return ""
        self._state, out, self._buf = "text", self._buf[end + len("</think>") :].lstrip(), ""
        return out

    def flush(self) -> str:
        out, self._buf = ("" if self._state == "thinking" else self._buf), ""
        return out


def tidy(text: str) -> str:
    """The final answer text: no space left before punctuation where a marker was dropped,
    single spaces, no surrounding blank space."""
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
    text = re.sub(r"[ \t]+", " ", text)
    return re.sub(r" *\n *", "\n", text).strip()


def is_no_answer(text: str) -> bool:
    """Whether a reply says the passages don't answer the question: the sentinel anywhere
    ("NO_ANSWER [1] [2]" included), or a reply that is only a remark about the passages."""
    if NO_ANSWER in text.upper():
        return True
    bare = CLEAN_MARKER_RE.sub("", text).strip()
    return bool(META_RE.search(bare)) and not [s for s, _ in claim_sentences(bare) if is_claim(s)]


class LoopGuard:
    """Catches a model writing the same sentence over and over (small models loop until
    their context is full). A sentence that comes back is never shown (the text is cut where
    it first came back), and once one has come ``REPEATS`` times the stream is stopped."""

    def __init__(self, repeats: int = REPEATS) -> None:
        self.repeats = repeats
        self.tripped = False
        self._cut: int | None = None
        self._settled = 0  # where the last sentence, which may still be growing, starts

    def feed(self, text: str) -> None:
        """Look at the whole text so far."""
        if self.tripped:
            return
        seen: dict[str, list[int]] = {}
        pos = 0
        sentences = split_sentences(text)
        for i, sentence in enumerate(sentences):
            start = text.find(sentence, pos)
            pos = start + len(sentence)
            key = " ".join(CLEAN_MARKER_RE.sub("", sentence).lower().split())
            if i == len(sentences) - 1:
                # The last may still be growing: held back only while it may be a repeat.
                again = any(k.startswith(key) or key.startswith(k) for k in seen)
                self._settled = start if again else len(text)
                break
            if len(key) < 12:
                continue  # "Yes." twice is not a loop
            where = seen.setdefault(key, [])
            where.append(start)
            if len(where) == 2 and self._cut is None:
                self._cut = start
            if len(where) >= self.repeats:
                self.tripped = True
                return

    def shown(self, text: str) -> str:
        """What may be shown of ``text`` while it streams: no repeat, no half sentence that
        may turn out to be one."""
        end = self._settled if self._cut is None else min(self._settled, self._cut)
        return text[:end]

    def cut(self, text: str) -> str:
        """``text`` without the repeats."""
        return text if self._cut is None else text[: self._cut].rstrip()


# --- calls ------------------------------------------------------------------------------------


@dataclass
class _Reply:
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class _Run:
    """The bookkeeping of one synthesis: usage and timing."""

    started: float = field(default_factory=time.perf_counter)
    usage: Usage = field(default_factory=Usage)

    def add(self, messages: list[dict], reply: _Reply) -> None:
        # Servers that don't report usage get a tiktoken estimate (≈4 tokens per message).
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 2
        done = reply.completion_tokens
        if done is None:
            done = count_tokens(reply.text)
        self.usage.prompt_tokens += prompt
        self.usage.completion_tokens += done

    def first_token(self) -> None:
        if self.usage.time_to_first_token is None:
            self.usage.time_to_first_token = time.perf_counter() - self.started


class OpenAISynthesizer:
    """Writes answers with an OpenAI-compatible chat model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = f"openai:{self.settings.llm.model}"
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self._dropped: set[str] = set()  # optional parameters this server turned down
        self._model: str | None = None
        self._model_lock = threading.Lock()

    # --- the client ----------------------------------------------------------------------

    @property
    def client(self) -> openai.OpenAI:
        """The ``openai`` client (made once; it is thread-safe and pools connections)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(self.settings, max_retries=0)
            return self._client

    @property
    def model(self) -> str:
        """The model to ask for: the configured one, or, when only a base URL is set, the one
        model the server lists (a local server rarely calls its model "gpt-4.1-mini")."""
        with self._model_lock:  # not ``_lock``: picking the model makes the client
            if self._model is None:
                self._model = self._pick_model()
            return self._model

    def _pick_model(self) -> str:
        configured = self.settings.llm.model
        if "model" in self.settings.llm.model_fields_set or not self.settings.llm.base_url:
            return configured
        try:
            names = [m.id for m in self.client.models.list()]
        except Exception as exc:  # listing is a convenience: the configured name still works
            log.info("could not list the server's models (%s)", type(exc).__name__)
            return configured
        if len(names) == 1:
            log.info("using the server's only model, %s", names[0])
            return names[0]
        if names and configured not in names:
            log.warning(
                "the server has no model %s; set EPISODE_ASSISTANT_LLM_MODEL to one of: %s",
                configured,
                ", ".join(names[:20]),
            )
        return configured

    def redact(self, text: str) -> str:
        """``text`` with the API key (and anything shaped like a key) blanked out."""
        key = self.settings.llm.api_key
        if key and len(key.get_secret_value()) >= 4:
            text = text.replace(key.get_secret_value(), "***")
        return SECRET_RE.sub(lambda m: m.group(1) + "***", text)

    # --- the answer ----------------------------------------------------------------------

    # --- the answer ----------------------------------------------------------------------

    def synthesize(self, evidence: Evidence) -> Iterator[str | Draft]:
        """Answer text as it arrives from the server, then the ``Draft``.

        Text before the first valid ``[n]`` marker is held back: a reply that turns out to
        cite nothing (retried with a reminder) or to decline is never shown half-way. A
        failed call raises ``SynthesisError`` and the pipeline answers offline.
        """
        run = _Run()
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

    def _generate(self, evidence: Evidence, run: _Run) -> Generator[str, None, Draft | None]:
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
        self, messages: list[dict], rewriter: MarkerRewriter, run: _Run, guard: LoopGuard
    ) -> Generator[str, None, str]:
        """Yield rewritten text once a valid marker has been seen, never after the model said
        it has no answer, and never past a repeat the guard caught; return all of it."""
        think = _ThinkFilter()
        text = ""
        shown = 0  # characters of ``text`` already yielded

        def showable(final: bool = False) -> str:
            if not rewriter.order or NO_ANSWER in text.upper():
                return ""
            return (guard.cut(text) if final else guard.shown(text))[shown:]

        for delta in self._call(messages, run, stream=True, stop=lambda: guard.tripped):
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
        run = _Run()
        lines = []
        for turn in history:  # the pipeline keeps settings.answer.history_turns
            said = CLEAN_MARKER_RE.sub("", turn.answer)
            said = said if len(said) <= 600 else said[:600].rsplit(" ", 1)[0] + " …"
            lines += [f"User: {turn.question}", f"Assistant: {' '.join(said.split())}"]
        try:
            prompt = render_prompt(
                self.settings, "condense", history=_neutral("\n".join(lines)), question=question
            )
            text = "".join(
                self._call(
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

    # --- one model call, with retries ----------------------------------------------------

    def _call(
        self,
        messages: list[dict],
        run: _Run,
        *,
        stream: bool,
        limit: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[str]:
        """Yield the reply's text (deltas when streaming), at most ``limit`` tokens; ``stop``
        ends the stream early when it says so. Attempts that fail before any text arrived
        are retried with backoff (never one that timed out waiting for the model: it would
        only read the same prompt again); ``LLMFailure`` when it is no use trying again."""
        retries = self.settings.llm.max_retries
        attempt = 0
        while True:
            got_text = counted = False
            try:
                run.usage.calls += 1
                reply = _Reply()
                deltas = self._request(messages, reply, stream=stream, limit=limit)
                try:
                    for delta in deltas:
                        got_text = True
                        if stream:
                            run.first_token()
                            if time.perf_counter() - run.started > self.settings.llm.timeout:
                                raise LLMFailure(
                                    f"no complete reply within {self.settings.llm.timeout:g} s",
                                    retry=False,
                                )
                        yield delta
                        if stop is not None and stop():
                            reply.finish_reason = "stop"  # we ended it: the guard's reason
                            break
                finally:
                    deltas.close()
                counted = True
                run.add(messages, reply)
                if reply.finish_reason is None:
                    raise LLMFailure("stream ended before the reply was complete", retry=True)
                if reply.finish_reason not in ("stop", "length", "eos"):
                    raise LLMFailure(f"reply ended with {reply.finish_reason}", retry=False)
                if not stream and not reply.text.strip():
                    raise LLMFailure("unusable reply", retry=False)
                return
            except Exception as exc:
                if got_text and not counted:
                    run.add(messages, reply)  # the server did the work; count it
                failure = self._classify(exc)
                if failure.reason == "parameter dropped":
                    continue  # retried at once without the parameter the server refused
                last = attempt >= retries or got_text or not failure.retry
                log.warning(
                    "LLM call failed: %s (attempt %d of %d)%s",
                    failure.reason,
                    attempt + 1,
                    retries + 1,
                    "" if last else "; retrying",
                )
                if last:
                    raise failure from None
                delay = failure.wait
                if delay is None:
                    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt) * (
                        0.5 + random.random() / 2
                    )
                time.sleep(delay)
                attempt += 1

    def _request(
        self, messages: list[dict], reply: _Reply, *, stream: bool, limit: int | None = None
    ) -> Iterator[str]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.settings.llm.temperature,
            # Without a cap a looping model writes until its context is full (minutes on a CPU).
            "max_tokens": limit or self.settings.llm.max_tokens,
        }
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        for name in tuple(self._dropped):  # another thread may add to it
            params.pop(name, None)
        if not stream:
            completion = self.client.chat.completions.create(**params)
            if not completion.choices:
                raise ValueError("reply without choices")
            choice = completion.choices[0]
            reply.text = choice.message.content or ""
            reply.finish_reason = choice.finish_reason or "stop"
            if completion.usage:
                reply.prompt_tokens = completion.usage.prompt_tokens
                reply.completion_tokens = completion.usage.completion_tokens
            yield reply.text
            return
        chunks = self.client.chat.completions.create(**params)
        try:
            for chunk in chunks:
                if chunk.usage:
                    reply.prompt_tokens = chunk.usage.prompt_tokens
                    reply.completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.index != 0:
                        continue
                    text = choice.delta.content if choice.delta else None
                    if text:
                        reply.text += text
                        yield text
                    if choice.finish_reason:
                        reply.finish_reason = choice.finish_reason
        finally:
            chunks.close()

    def _classify(self, exc: Exception) -> LLMFailure:
        """What went wrong, in words safe to log, and whether trying again may help."""
        if isinstance(exc, LLMFailure):
            return exc
        if isinstance(exc, openai.BadRequestError):
            message = str(exc).lower()
            for name in OPTIONAL_PARAMS:
                if name in message and name not in self._dropped:
                    log.info("the server refused %s; sending requests without it", name)
                    self._dropped.add(name)
                    return LLMFailure("parameter dropped", retry=True, wait=0)
        if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
            cause = exc.__cause__ if isinstance(exc, openai.APITimeoutError) else exc
            if isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout):
                return LLMFailure("timed out connecting to the server", retry=True)
            # The server got the prompt and is still reading it (a 2,500-token prompt takes a
            # CPU model 25 s): sending it again only starts that over.
            return LLMFailure(
                f"timed out after {self.settings.llm.read_timeout:g} s waiting for the model",
                retry=False,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return LLMFailure(f"cannot reach the server ({type(cause).__name__})", retry=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = self.redact(_error_message(exc))[:200]
            if status == 429:
                wait = retry_after(exc.response)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    return LLMFailure(f"rate limited (429), asked to wait {wait:g} s", retry=False)
                return LLMFailure(f"rate limited (429): {detail}", retry=True, wait=wait)
            hint = {
                401: " (check the API key)",
                403: " (check the API key)",
                404: " (check the model name and base URL)",
            }
            return LLMFailure(
                f"HTTP {status}{hint.get(status, '')}: {detail}", retry=status in RETRY_STATUS
            )
        if isinstance(exc, openai.APIError):
            return LLMFailure(f"server error in stream: {self.redact(str(exc))[:200]}", retry=True)
        if isinstance(exc, httpx.TransportError):
            return LLMFailure(f"stream broke ({type(exc).__name__})", retry=True)
        if isinstance(exc, ValueError):  # json.JSONDecodeError and pydantic errors included
            return LLMFailure(f"malformed reply ({type(exc).__name__})", retry=True)
        if isinstance(exc, openai.OpenAIError):
            return LLMFailure(self.redact(f"{type(exc).__name__}: {exc}")[:200], retry=False)
        return LLMFailure(f"unexpected {type(exc).__name__}", retry=False)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return exc.message or ""


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a 429 asks us to wait: ``retry-after-ms``, or ``Retry-After`` in seconds or
    as an HTTP date."""
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None
