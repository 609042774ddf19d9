"""Keeps configured secrets (the OpenAI key, Slack tokens, the chat page's password) out of
everything a user is shown (answer text, every streamed piece, the final ``Answer`` and error
messages), and caps an answer's length. ``Assistant.stream`` runs every answer through here,
so every surface (CLI, chat page, Slack, Python API, evals) gets it without doing anything.

A model that was sent the key (a prompt injection in a passage asking it to repeat its
configuration, or a careless proxy) could otherwise write it into the answer verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator

from assistant.config import Settings
from assistant.schema import Answer

REDACTED = "[redacted]"
CUT_NOTICE = "answer cut at its length limit"
# Shorter values are not worth hiding and would blank out ordinary words ("test").
MIN_SECRET = 8


class Redactor:
    """Replaces each configured secret with ``[redacted]``."""

    def __init__(self, settings: Settings) -> None:
        values = (
            settings.llm.api_key,
            settings.slack.bot_token,
            settings.slack.signing_secret,
            settings.slack.app_token,
            settings.ui.password,
        )
        found = {v.get_secret_value() for v in values if v is not None}
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def answer(self, answer: Answer) -> Answer:
        """The answer with every secret replaced in every field (text, quotes, history …)."""
        if not self.secrets:
            return answer
        dumped = answer.model_dump_json()
        cleaned = self.text(dumped)
        return answer if cleaned == dumped else Answer.model_validate_json(cleaned)

    def error(self, exc: BaseException) -> BaseException:
        """``exc`` with secrets removed from its message (changed in place, then returned)."""
        if self.secrets:
            exc.args = tuple(self.text(a) if isinstance(a, str) else a for a in exc.args)
        return exc

    def stream(self, pieces: Iterator[str | Answer]) -> Iterator[str | Answer]:
        """The pieces with secrets replaced, even a secret split across pieces: the end of the
        text that could begin a secret is held back until the next piece shows whether it
        does."""
        if not self.secrets:
            yield from pieces
            return
        pending = ""
        try:
            for piece in pieces:
                if isinstance(piece, Answer):
                    if pending:
                        yield self.text(pending)
                        pending = ""
                    yield self.answer(piece)
                    continue
                pending = self.text(pending + piece)
                hold = self._held(pending)
                out, pending = pending[: len(pending) - hold], pending[len(pending) - hold :]
                if out:
                    yield out
            if pending:
                yield self.text(pending)
        except Exception as exc:
            raise self.error(exc) from None

    def _held(self, text: str) -> int:
        """Length of the longest end of ``text`` that is the start of a secret."""
        for n in range(min(len(text), max(len(s) for s in self.secrets) - 1), 0, -1):
            tail = text[-n:]
            if any(s.startswith(tail) for s in self.secrets):
                return n
        return 0


def capped(pieces: Iterator[str | Answer], max_chars: int) -> Iterator[str | Answer]:
    """The pieces, the text cut at ``max_chars`` (the final ``Answer``'s too, with a note).

    A model that does not stop (a loop, or a prompt injection asking for the whole passage
    list back) would otherwise stream without end into a chat or a Slack thread.
    """
    sent = 0
    for piece in pieces:
        if isinstance(piece, Answer):
            if len(piece.text) > max_chars:
                piece = piece.model_copy(update={"text": piece.text[:max_chars].rstrip() + " …"})
                piece.notice = " · ".join(filter(None, [piece.notice, CUT_NOTICE]))
            yield piece
            continue
        room = max_chars - sent
        if room <= 0:
            continue
        piece = piece[:room]
        sent += len(piece)
        yield piece
