"""The model's reply as it streams: ``[n]`` markers renumbered and checked against the
passages sent, a leading ``<think>`` block dropped, a looping reply cut, a decline
recognised."""

from __future__ import annotations

import re

from assistant.answering.citations import CLEAN_MARKER_RE, META_RE, claim_sentences, is_claim
from assistant.text import split_sentences

NO_ANSWER = "NO_ANSWER"
# A sentence seen this many times in one reply means the model is looping: the stream stops.
REPEATS = 3
MARKER_RE = re.compile(r"\[(?:\s*(?:passages?|p\.?)\s*)?(\d+(?:\s*[,;–-]\s*\d+)*)\s*\]", re.I)
# What an unfinished marker can look like while its tokens are still arriving.
PARTIAL_MARKER_RE = re.compile(
    r"\[\s*(?:p(?:a(?:s(?:s(?:a(?:g(?:es?)?)?)?)?)?)?\.?\s*)?[\d\s,;–-]*", re.I
)
PARTIAL_MAX = 40


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
                shown = self._rewrite(full.group(1))
                if not shown:
                    # "until 2024 [7]." must not show "until 2024 .", nor "C [9][2]" "C[1]":
                    # what follows a dropped marker decides whether the space before it goes.
                    after = buf[full.end() : full.end() + 1]
                    if not after:
                        self._held = buf[j:]
                        break
                    if after in ".,;:!?" and out:
                        out[-1] = out[-1].rstrip(" \t")
                out.append(shown)
                i = full.end()
                continue
            partial = PARTIAL_MARKER_RE.match(buf, j)
            if partial and partial.end() == len(buf) and len(buf) - j <= PARTIAL_MAX:
                self._held = buf[j:]
                break
            out.append("[")
            i = j + 1
        # Trailing spaces wait for what follows: a dropped marker takes them with it.
        shown = "".join(out)
        kept = shown.rstrip(" \t")
        self._held = shown[len(kept) :] + self._held
        return kept

    def flush(self) -> str:
        """Whatever is held at the end of the text (an unfinished marker stays as written;
        a dropped one goes, with the space before it)."""
        held, self._held = self._held, ""
        core = held.lstrip(" \t")
        marker = MARKER_RE.fullmatch(core)
        if marker and not self._rewrite(marker.group(1)):
            return ""
        return held

    def _rewrite(self, group: str) -> str:
        shown: list[int] = []
        for n in _numbers(group):
            if 1 <= n <= self.passages:
                k = self.order.setdefault(n, len(self.order) + 1)
                if k not in shown:
                    shown.append(k)
        return "".join(f"[{k}]" for k in shown)


class ThinkFilter:
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
