"""One bad file never costs the rest of the corpus: the shipped episodes plus one file of
each kind that used to abort ``index`` (or vanish unseen) build into one index, every good
episode in it, every bad file named in a warning (with its line where it has one)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import EPISODES
from counts import COUNTS

from assistant import Assistant, Settings
from assistant.ingestion.corpus import load_metadata

SHIPPED = sorted(p.name for p in EPISODES.glob("*.txt"))
SAME = "EP 5: Same notes\n\nThe wombat ledger paragraph is the same in both folders.\n"
STAMPED_ABSURD = (
    "**Bob [99999999999999999999:00]**: A turn whose time is absurd.\n"
    "**Ann [00:02]**: Second turn about the pangolin archive.\n"
    "**Ann [00:03]**: Third turn.\n"
)
# Nine levels of ten aliases in about 300 bytes: expanded, a billion strings of metadata.
ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
)


def _bad_files(folder: Path) -> dict[str, int | None]:
    """Write one file of each bad kind into ``folder``; returns the name each warning must
    carry and its line (``None``: the file as a whole)."""
    expected: dict[str, int | None] = {}
    (folder / "huge_number.txt").write_text("EP " + "9" * 5000 + "\nTitle\nAnn Lee Hello.\n")
    expected["huge_number.txt"] = 1
    (folder / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"Latin-1 named notes.\n")
    expected["caf\ufffd.txt"] = None
    (folder / "broken.txt").symlink_to(folder / "nowhere.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "to_folder.txt").symlink_to(folder.parent)
    (folder / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.txt")
    expected.update(dict.fromkeys(["broken.txt", "loop.txt", "to_folder.txt", "zero.txt"]))
    expected["fifo.txt"] = None
    if Path("/proc/self/mem").exists():
        # A regular file whose read fails (EIO): what a PermissionError is, tests being root.
        (folder / "unreadable.txt").symlink_to("/proc/self/mem")
        expected["unreadable.txt"] = None
    (folder / "empty_turns.txt").write_text(
        "**Ann [00:01]**:\n**Bob [00:02]**:\n**Ann [00:03]**:\n"
    )
    expected["empty_turns.txt"] = None
    (folder / "absurd.txt").write_text(STAMPED_ABSURD)
    expected["absurd.txt"] = 1
    for sub in ("a", "b"):
        (folder / sub).mkdir()
        (folder / sub / "same.txt").write_text(SAME)
    (folder / "utf16.txt").write_bytes(
        "EP 7: Saved by Notepad\n\nThe okapi tariff paragraph.\n".encode("utf-16")
    )
    meta = folder / "episodes.yaml"
    text = meta.read_text(encoding="utf-8")
    base = text.rstrip("\n").count("\n") + 1  # lines already there
    meta.write_text(
        text.rstrip("\n") + "\n"
        "huge_number.txt:\n"  # base + 1
        "  date: 2024-13-45\n"  # base + 2
        "absurd.txt:\n"  # base + 3
        "  title: First title\n"
        "absurd.txt:\n"  # base + 5
        "  title: Second title\n",
        encoding="utf-8",
    )
    expected["episodes.yaml"] = base + 2  # the date; the duplicate key at base + 5
    expected["episodes.yaml#dup"] = base + 5
    return expected


def test_every_good_episode_is_indexed_and_each_bad_file_is_named(tmp_path, corpus_copy):
    expected = _bad_files(corpus_copy)
    bot = Assistant(Settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy))
    started = time.perf_counter()
    report = bot.index()
    assert time.perf_counter() - started < 120  # a device read would never end

    indexed = set(report.added)
    assert set(SHIPPED) <= indexed
    # Good files beside the bad: both copies of one file, UTF-16, the one absurd time.
    assert {"a/same.txt", "b/same.txt", "utf16.txt", "absurd.txt"} <= indexed
    assert bot.search("okapi tariff", k=1)[0].source_file == "utf16.txt"
    copies = {h.source_file for h in bot.search("wombat ledger", k=4)}
    assert {"a/same.txt", "b/same.txt"} <= copies
    absurd = [h for h in bot.search("absurd time turn", k=5) if h.source_file == "absurd.txt"]
    assert absurd and not absurd[0].exact_time  # the absurd time is not shown as exact

    warned = {(i.file, i.line) for i in report.issues}
    dup = expected.pop("episodes.yaml#dup")
    assert any(
        i.file == "episodes.yaml" and i.line == dup and "duplicate key" in i.message
        for i in report.issues
    )
    missing = {
        name: line
        for name, line in expected.items()
        if not any(f == name and (line is None or ln == line) for f, ln in warned)
    }
    assert not missing, [str(i) for i in report.issues]
    COUNTS["bad corpus files tried"] += len(expected) + 1
    COUNTS["bad corpus files warned by name"] += len(expected) + 1 - len(missing)
    COUNTS["shipped episodes indexed around them"] += len(set(SHIPPED) & indexed)


def test_a_yaml_alias_bomb_is_refused_not_expanded(tmp_path):
    assert len(ALIAS_BOMB) < 350
    (tmp_path / "episodes.yaml").write_text(ALIAS_BOMB)
    started = time.perf_counter()
    metadata, issues = load_metadata(tmp_path)
    assert time.perf_counter() - started < 1
    assert metadata == {}
    assert [(i.file, i.level) for i in issues] == [("episodes.yaml", "error")]
    assert "1,234,567,909 values" in issues[0].message


def test_ordinary_yaml_aliases_still_work_and_a_list_is_no_title(tmp_path):
    (tmp_path / "episodes.yaml").write_text(
        "a.txt: &show\n  label: My show\nb.txt:\n  <<: *show\n  title: B\nc.txt:\n"
        "  title: [*show, *show]\n"
    )
    metadata, issues = load_metadata(tmp_path)
    assert (metadata["b.txt"].label, metadata["b.txt"].title) == ("My show", "B")
    assert metadata["c.txt"].title is None
    assert [(i.file, i.line) for i in issues] == [("episodes.yaml", 7)]
    assert "title must be text" in issues[0].message


@pytest.mark.parametrize(
    ("yaml_text", "line", "words"),
    [
        ("x.txt:\n  title: T\n  date: 2024-13-45\n", 3, "'2024-13-45' is not a date"),
        ("x.txt:\n  title: T\n  title: U\n", 3, "duplicate key 'title'"),
    ],
)
def test_a_bad_metadata_field_is_named_and_the_rest_kept(tmp_path, yaml_text, line, words):
    (tmp_path / "episodes.yaml").write_text(yaml_text)
    metadata, issues = load_metadata(tmp_path)
    assert metadata["x.txt"].title in {"T", "U"}
    assert metadata["x.txt"].date is None
    assert [(i.file, i.line) for i in issues] == [("episodes.yaml", line)]
    assert words in issues[0].message


def test_a_file_over_the_size_cap_is_skipped_with_a_message_saying_which_setting(
    tmp_path, corpus_copy
):
    (corpus_copy / "huge.txt").write_text("EP 9: Huge\n\n" + "The capybara ledger. " * 60_000)
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=corpus_copy, max_file_mb=1)
    report = Assistant(settings).index()
    assert set(SHIPPED) <= set(report.added) and "huge.txt" not in report.added
    [issue] = [i for i in report.issues if i.file == "huge.txt"]
    assert "1.3 MB is over the 1 MB cap (EPISODE_ASSISTANT_MAX_FILE_MB)" in issue.message
