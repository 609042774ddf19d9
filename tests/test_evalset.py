"""The shipped QA set validates, and broken copies of it are caught with useful messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest

from evals.dataset import (
    DEFAULT_CORPUS,
    DEFAULT_PATH,
    QAPair,
    QuestionType,
    load_pairs,
    main,
    validate_pairs,
)


@pytest.fixture(scope="module")
def shipped() -> list[QAPair]:
    """Load the shipped set once per module."""
    return load_pairs()


def _write(path: Path, pairs: list[QAPair]) -> Path:
    path.write_text(
        "".join(json.dumps(p.model_dump(), ensure_ascii=False) + "\n" for p in pairs),
        encoding="utf-8",
    )
    return path


def _first_covered(pairs: list[QAPair]) -> int:
    return next(i for i, p in enumerate(pairs) if p.sources)


def test_shipped_set_validates_without_problems(shipped: list[QAPair]) -> None:
    assert validate_pairs(shipped, DEFAULT_CORPUS) == []


def test_shipped_set_covers_every_file_type_and_language(shipped: list[QAPair]) -> None:
    files = {s.file for p in shipped for s in p.sources}
    corpus_files = {f.name for f in DEFAULT_CORPUS.glob("*.txt")}
    assert files == corpus_files
    for split in ("dev", "test"):
        half = [p for p in shipped if p.split == split]
        assert {p.type for p in half} == set(get_args(QuestionType))
        assert {p.language for p in half} == {"en", "ko"}


def test_split_filter(shipped: list[QAPair]) -> None:
    dev = load_pairs(split="dev")
    test = load_pairs(split="test")
    assert dev
    assert test
    assert {p.split for p in dev} == {"dev"}
    assert len(dev) + len(test) == len(shipped)
    with pytest.raises(ValueError, match="unknown split"):
        load_pairs(split="train")


def test_quote_altered_by_one_word_is_reported(shipped: list[QAPair], tmp_path: Path) -> None:
    pairs = [p.model_copy(deep=True) for p in shipped]
    broken = pairs[_first_covered(pairs)]
    words = broken.sources[0].quote.split(" ")
    words[len(words) // 2] = "banana"
    broken.sources[0].quote = " ".join(words)
    reloaded = load_pairs(_write(tmp_path / "qa.jsonl", pairs))

    problems = validate_pairs(reloaded, DEFAULT_CORPUS)

    mine = [p for p in problems if p.startswith(f"{broken.id}:")]
    assert any("not verbatim" in p for p in mine), problems
    assert any("not inside any parsed segment" in p for p in mine), problems
    assert all(p.startswith(f"{broken.id}:") for p in problems), problems


def test_wrong_timestamp_is_reported(shipped: list[QAPair], tmp_path: Path) -> None:
    pairs = [p.model_copy(deep=True) for p in shipped]
    broken = next(p for p in pairs if p.sources and p.sources[0].timestamp is not None)
    right = broken.sources[0].timestamp
    broken.sources[0].timestamp = "59:59"
    reloaded = load_pairs(_write(tmp_path / "qa.jsonl", pairs))

    problems = validate_pairs(reloaded, DEFAULT_CORPUS)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{broken.id}: source 1")
    assert "timestamp is '59:59'" in problems[0]
    assert f"parser gives '{right}'" in problems[0]


def test_wrong_speaker_and_chapter_are_reported(shipped: list[QAPair], tmp_path: Path) -> None:
    pairs = [p.model_copy(deep=True) for p in shipped]
    broken = next(p for p in pairs if p.sources and p.sources[0].speaker and p.sources[0].chapter)
    broken.sources[0].speaker = "Somebody Else"
    broken.sources[0].chapter = "A Chapter That Does Not Exist"

    problems = validate_pairs(pairs, DEFAULT_CORPUS)

    assert any(f"{broken.id}: source 1" in p and "speaker" in p for p in problems), problems
    assert any(f"{broken.id}: source 1" in p and "chapter" in p for p in problems), problems


def test_structural_rules_are_enforced(shipped: list[QAPair]) -> None:
    pairs = [p.model_copy(deep=True) for p in shipped]
    covered = pairs[_first_covered(pairs)]
    not_covered = next(p for p in pairs if p.type == "not-covered")
    not_covered.sources = [covered.sources[0].model_copy()]
    covered.key_facts = ["a fact that appears nowhere in the corpus"]
    pairs.append(pairs[1].model_copy(deep=True))  # duplicate id

    problems = validate_pairs(pairs, DEFAULT_CORPUS)

    assert any(p.startswith(f"{pairs[1].id}: id used 2 times") for p in problems), problems
    assert any(p.startswith(f"{not_covered.id}: not-covered") for p in problems), problems
    assert any(p.startswith(f"{covered.id}: key fact") for p in problems), problems


def test_too_small_a_set_is_reported(shipped: list[QAPair]) -> None:
    problems = validate_pairs([p for p in shipped if p.split == "dev"][:10], DEFAULT_CORPUS)
    assert any("pairs, expected at least" in p for p in problems)
    assert any("'test' split" in p for p in problems)


def test_malformed_json_line_names_the_line(tmp_path: Path) -> None:
    lines = DEFAULT_PATH.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-1]  # drop the closing brace of line 3
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"qa\.jsonl:3: invalid JSON"):
        load_pairs(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.pop("question"), "question"),
        (lambda d: d.update(type="trivia"), "type"),
        (lambda d: d["sources"][0].pop("quote"), "sources.0.quote"),
        (lambda d: d["sources"][0].update(timestap="04:34"), "sources.0.timestap"),
    ],
)
def test_invalid_record_names_the_line_and_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], Any], field: str
) -> None:
    lines = DEFAULT_PATH.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[4])
    change(record)
    lines[4] = json.dumps(record, ensure_ascii=False)
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ValueError, match=rf"qa\.jsonl:5: field '{field}'"):
        load_pairs(path)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "OK" in capsys.readouterr().out

    path = tmp_path / "qa.jsonl"
    path.write_text("not json\n", encoding="utf-8")
    assert main(["--path", str(path)]) == 1
    assert "qa.jsonl:1" in capsys.readouterr().err
