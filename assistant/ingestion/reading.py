"""Reading a corpus file safely: regular files only (never a FIFO or a device), and bytes
decoded as UTF-8 or UTF-16 with a BOM, with a warning for anything odd."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from assistant.schema import ParseIssue


def read_regular(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file (after following a symlink).

    Opened non-blocking and checked on the open descriptor, so a FIFO or device swapped in
    after the listing is never read (a FIFO would block, ``/dev/zero`` never ends).
    Raises ``OSError`` otherwise.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"not a regular file: {path}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def decode(raw: bytes, name: str) -> tuple[str | None, list[ParseIssue]]:
    """Decode file bytes as UTF-8 (or UTF-16 with a BOM), reporting anything odd."""
    issues: list[ParseIssue] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Windows tools save "Unicode" text as UTF-16: its NUL bytes are not binary.
        try:
            text16 = raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            return None, [ParseIssue(file=name, message=f"broken UTF-16 text, skipped: {exc}")]
        raw = text16.encode("utf-8")
    if not raw.strip():
        return None, [ParseIssue(file=name, message="empty file: nothing to index")]
    if b"\x00" in raw[:8192]:
        return None, [ParseIssue(file=name, message="binary file (NUL bytes): skipped")]
    # A UTF-8 BOM and CR/CRLF line ends are what Windows editors write: read silently,
    # as the README says, so real problems are not lost among such warnings.
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        issues.append(
            ParseIssue(
                file=name,
                line=line,
                message=f"invalid UTF-8 at byte {exc.start}: undecodable bytes replaced with U+FFFD",
            )
        )
        text = raw.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n"), issues
