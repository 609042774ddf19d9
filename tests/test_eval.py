"""The eval harness: the offline eval of the held-out split meets the floors in the repo and
writes its reports; the offline judge flags changed numbers, swapped speakers and negations
and accepts verbatim quotes; the LLM judge reads the model's verdicts; compare() says what
got better and worse."""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from assistant import Assistant, Settings
from assistant.schema import Answer, Citation, Hit, TurnStart
from benchmarks.fake_openai import FakeOpenAI, Reply
from evals.claims import is_verbatim, numbers, split_claims
from evals.compare import compare
from evals.dataset import load_pairs
from evals.evidence import evidence_from
from evals.floors import FLOORS_PATH, broken_floors, floors_apply, load_floors
from evals.harness import evaluate, model_judges
from evals.judges import Judgement, LLMJudge, OfflineJudge
from evals.llamaindex import LlamaIndexFaithfulness, retriever_scores
from evals.models import EvalReport, QuestionResult, Scores
from evals.passages import index_passages
from evals.perturb import PERTURBATIONS, BaseAnswer, perturb
from evals.scoring import is_gold_passage, quotes_overlap, retrieval_scores, score_answer
from evals.summary import summarize

# --- the offline eval of the held-out split --------------------------------------------------


@pytest.fixture(scope="module")
def run(
    bot: Assistant, tmp_path_factory: pytest.TempPathFactory
) -> tuple[EvalReport, int, Path, str]:
    """One offline eval of the test split (shared by the module), reports in a temp folder."""
    out = tmp_path_factory.mktemp("reports")
    buffer = io.StringIO()
    console = Console(file=buffer, width=140)
    report, code = evaluate(bot, split="test", out_dir=out, console=console, progress=False)
    return report, code, out, buffer.getvalue()


def test_offline_eval_of_the_held_out_split_meets_every_floor(
    run: tuple[EvalReport, int, Path, str],
) -> None:
    report, code, _, _ = run
    floors = load_floors()
    assert (floors.split, floors.answerer) == ("test", "offline")
    assert report.answerer == "offline"
    assert report.questions == len(load_pairs(split="test"))
    below = {
        name: (report.summary.get(name), floor)
        for name, floor in floors.floors.items()
        if report.summary.get(name) is None or report.summary[name] < floor
    }
    assert not below, f"metrics below their floors (value, floor): {below}"
    assert report.broken_floors == [] and code == 0


def test_floors_cover_every_quality_metric() -> None:
    floors = load_floors(FLOORS_PATH)
    for name in (
        "hit@1",
        "hit@5",
        "mrr",
        "citation_gold",
        "citation_verbatim",
        "key_fact_recall",
        "abstention_precision",
        "abstention_recall",
        "faithfulness",
        "judge_caught",
        "judge_accepted",
    ):
        assert 0 < floors.floors[name] <= 1, name
        # A floor sits a small margin under what was measured, never above it.
        assert floors.floors[name] <= floors.measured[name], name


def test_eval_writes_markdown_json_and_a_chart(run: tuple[EvalReport, int, Path, str]) -> None:
    report, _, out, printed = run
    paths = {p.suffix: p for p in out.iterdir()}
    assert set(paths) == {".json", ".md", ".png"}
    assert paths[".json"].name == "test-offline.json"
    saved = EvalReport.model_validate_json(paths[".json"].read_text(encoding="utf-8"))
    assert [r.id for r in saved.results] == [r.id for r in report.results]
    markdown = paths[".md"].read_text(encoding="utf-8")
    for r in report.results:
        assert f"### {r.id} ·" in markdown
    assert "Offline judge check" in markdown and "By question type" in markdown
    assert paths[".png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("hit@5", "By question type", "Offline judge check", "The 5 worst questions"):
        assert heading in printed


def test_every_question_records_its_answer_citations_scores_and_time(
    run: tuple[EvalReport, int, Path, str],
) -> None:
    report, _, _, _ = run
    for r in report.results:
        assert r.error is None, r.id
        assert r.answer and r.seconds > 0 and r.answerer == "offline"
        assert r.judgements and r.judgements[0].judge == "offline"
        if r.type == "not-covered":
            assert r.scores.hit_at_5 is None and r.scores.abstention_ok is not None
            continue
        assert r.scores.hit_at_1 is not None and r.scores.reciprocal_rank is not None
        if not r.abstained:
            assert r.citations and all(c.quote and c.passage_id for c in r.citations)
            assert r.scores.faithfulness is not None
    assert set(report.by_type) == {q.type for q in report.results}
    assert len(report.worst(5)) == 5


def test_the_judge_check_reports_catches_and_false_flags(
    run: tuple[EvalReport, int, Path, str],
) -> None:
    check = run[0].perturbations
    assert check is not None
    assert set(check.by_kind) == {"faithful", *PERTURBATIONS}
    assert check.unfaithful >= 100 and check.faithful >= 50
    assert 0 <= check.wrongly_flagged <= check.faithful
    assert check.caught == sum(t.flagged for k, t in check.by_kind.items() if k != "faithful")


def test_floors_apply_to_a_full_offline_test_run_only(
    run: tuple[EvalReport, int, Path, str],
) -> None:
    report = run[0]
    floors = load_floors()
    assert floors_apply(report, floors)
    for change in ({"split": "dev"}, {"answerer": "openai:gpt-4.1-mini"}, {"limited": True}):
        assert not floors_apply(report.model_copy(update=change), floors)
    lowered = {**report.summary, "hit@5": 0.0, "mrr": None}
    broken = broken_floors(lowered, floors)
    assert any(line.startswith("hit@5 is 0.000") for line in broken)
    assert any(line.startswith("mrr is not measured") for line in broken)


# --- metric definitions ----------------------------------------------------------------------


def _hit(**fields: object) -> Hit:
    base: dict[str, object] = {
        "id": "000:00006:x",
        "episode": "EP 81",
        "episode_title": "Everything DeepSeek Changed",
        "chapter": "MoE, Higher Performance with Less Computation",
        "timestamp": "04:34",
        "seconds": 274,
        "end_seconds": 541,
        "speaker": "Seonghyun Kim",
        "text": PASSAGE,
        "source_file": "000_ffc5dd2c9992a3bc.txt",
        "turns": TURNS,
    }
    base.update(fields)
    return Hit.model_validate(base)


def test_a_gold_passage_holds_the_quote_or_the_timestamp() -> None:
    source = load_pairs(split="dev")[0].sources[0]  # q001: EP 81, 04:34
    assert is_gold_passage(_hit(), source)
    assert is_gold_passage(_hit(text="unrelated words"), source)  # 04:34 is in [274, 541]
    assert not is_gold_passage(_hit(text="unrelated", seconds=600, end_seconds=700), source)
    assert is_gold_passage(_hit(text="x", seconds=200, end_seconds=None), source)  # last one
    assert not is_gold_passage(_hit(source_file="001_9b9945b10c66cd29.txt"), source)
    assert quotes_overlap("the performance of an MoE model is more than 7 times", PASSAGE)
    assert not quotes_overlap("MoE models", "dense models are cheaper")


def test_the_bench_recall_at_5_is_the_eval_hit_at_5_on_the_same_passages(bot: Assistant) -> None:
    # One gold rule: the bench's recall@5 cannot drift from the eval's hit@5.
    from benchmarks.recall import recall_at_5

    pairs = [p for p in load_pairs(split="test") if p.sources]
    hits = [bot.search(p.question, k=5) for p in pairs]
    hit_at_5 = [retrieval_scores(h, p.sources)[1] for p, h in zip(pairs, hits, strict=True)]
    assert 0 < sum(hit_at_5) < len(pairs)  # the questions tell gold from not gold
    recall, strict = recall_at_5(pairs, hits, {})
    assert recall == strict == round(sum(hit_at_5) / len(pairs), 3)


# --- the offline judge -----------------------------------------------------------------------

PASSAGE = (
    "At this compute scale, the performance of an MoE model is more than 7 times better than "
    "a dense model. This is very impactful because as the training compute increases, this "
    "multiplier gets bigger.\n"
    "But why are there three different MoE models shown here? Why are they separated?"
)
TURNS = [
    TurnStart(offset=0, speaker="Seonghyun Kim", seconds=274),
    TurnStart(offset=PASSAGE.index("But why"), speaker="Seungjoon Choi", seconds=274),
]
QUOTE = "At this compute scale, the performance of an MoE model is more than 7 times better than a dense model."
SPEAKERS = ["Chester Roh", "Seonghyun Kim", "Seungjoon Choi"]


def _answer(text: str, *, abstained: bool = False) -> Answer:
    hit = _hit()
    citation = Citation(
        n=1,
        episode=hit.episode,
        episode_title=hit.episode_title,
        chapter=hit.chapter,
        timestamp=hit.timestamp,
        seconds=hit.seconds,
        speaker="Seonghyun Kim",
        quote=QUOTE,
        source_file=hit.source_file,
        passage_id=hit.id,
    )
    return Answer(
        question="How much better are MoE models?",
        text=text,
        citations=[citation],
        passages=[hit],
        abstained=abstained,
    )


@pytest.fixture(scope="module")
def judge() -> OfflineJudge:
    """The offline judge without an embedder (English claims need none)."""
    return OfflineJudge(speakers=SPEAKERS)


def _reasons(judge: OfflineJudge, text: str) -> list[str]:
    judgement = judge.judge(_answer(text))
    return [r for v in judgement.flagged for r in v.reasons]


def test_judge_accepts_a_verbatim_quote(judge: OfflineJudge) -> None:
    judgement = judge.judge(_answer(f"Seonghyun Kim (EP 81 at 04:34): “{QUOTE}” [1]"))
    assert judgement.faithfulness == 1.0
    assert "quotes the passage verbatim" in judgement.verdicts[0].reasons


def test_judge_accepts_a_faithful_paraphrase(judge: OfflineJudge) -> None:
    text = (
        "Seonghyun said that at this compute scale an MoE model performs more than seven "
        "times better than a dense model, and that the multiplier gets bigger as training "
        "compute increases [1]."
    )
    assert _reasons(judge, text) == []


def test_judge_flags_a_changed_number(judge: OfflineJudge) -> None:
    changed = QUOTE.replace("7 times", "9 times")
    reasons = _reasons(judge, f"Seonghyun Kim (EP 81 at 04:34): “{changed}” [1]")
    assert any("number 9" in r for r in reasons)
    reasons = _reasons(judge, "Seonghyun Kim (EP 81 at 05:34): the multiplier gets bigger [1].")
    assert any("5:34" in r for r in reasons)  # a wrong timestamp is a wrong number too


def test_judge_flags_a_swapped_speaker(judge: OfflineJudge) -> None:
    reasons = _reasons(judge, f"Chester Roh (EP 81 at 04:34): “{QUOTE}” [1]")
    assert any("attributes the words to Chester Roh" in r for r in reasons)
    # Seungjoon speaks in the passage, but not these words.
    reasons = _reasons(
        judge, "Seungjoon said an MoE model is more than 7 times better than a dense model [1]."
    )
    assert any("Seungjoon Choi" in r and "Seonghyun Kim" in r for r in reasons)
    # Seungjoon did ask this.
    assert _reasons(judge, "Seungjoon asked why three different MoE models are shown [1].") == []


def test_judge_flags_an_inserted_negation(judge: OfflineJudge) -> None:
    negated = QUOTE.replace("is more than", "is not more than")
    reasons = _reasons(judge, f"Seonghyun Kim (EP 81 at 04:34): “{negated}” [1]")
    assert any("negation" in r for r in reasons)
    reasons = _reasons(judge, "Seonghyun said the multiplier does not get bigger with compute [1].")
    assert any("negation" in r for r in reasons)


def test_judge_flags_a_sentence_from_elsewhere_and_an_uncited_claim(judge: OfflineJudge) -> None:
    elsewhere = "Noam Brown learned to play Blood on the Clocktower with his friends in London [1]."
    reasons = _reasons(judge, elsewhere)
    assert any("content words" in r for r in reasons)
    assert any("Clocktower" in r for r in reasons)  # names the passage never mentions
    reasons = _reasons(judge, "Dense models are obsolete for every lab in the world.")
    assert reasons == ["cites no passage"]


def test_judge_has_nothing_to_judge_in_an_abstention(judge: OfflineJudge) -> None:
    judgement = judge.judge(_answer("The episodes don't seem to cover that.", abstained=True))
    assert judgement.verdicts == [] and judgement.faithfulness is None


def test_claims_keep_quotes_whole_and_markers_with_their_sentence() -> None:
    text = (
        "Chester Roh (EP 79 at 34:50): “People say, “It can’t compose.” That was a year ago.” [1] "
        "He said so, i.e. twice. [2] Also [3][4] Then an uncited claim follows here."
    )
    claims = split_claims(text)
    assert [c.markers for c in claims] == [[1], [2], [3, 4], []]
    assert claims[0].text.endswith("That was a year ago.”")
    assert claims[1].text == "He said so, i.e. twice."
    assert text[claims[0].start : claims[0].end] == claims[0].text


def test_verbatim_and_numbers_normalise_what_does_not_matter() -> None:
    assert is_verbatim("the performance of an MoE model … multiplier gets bigger", PASSAGE)
    assert is_verbatim("AT THIS COMPUTE SCALE,", PASSAGE)
    assert not is_verbatim("the performance of a dense model", PASSAGE)
    assert numbers("from 1,000B to 2,000B at 04:34, seven times") == {"1000", "2000", "4:34", "7"}


def test_perturbations_break_one_claim_each_way_and_the_judge_catches_them(
    judge: OfflineJudge,
) -> None:
    answer = _answer(
        f"Seonghyun Kim (EP 81 at 04:34): “{QUOTE}” [1] "
        "Seonghyun Kim (EP 81 at 04:34): “This is very impactful because as the training "
        "compute increases, this multiplier gets bigger.” [1]"
    )
    base = BaseAnswer(
        id="t1",
        source="offline answer",
        answer=answer,
        evidence=evidence_from(answer),
        episode_speakers=SPEAKERS,
    )
    foreign = ["Noam Brown learned to play Blood on the Clocktower with his friends in London."]
    assert judge.judge(answer).faithfulness == 1.0
    for kind in PERTURBATIONS:
        made = perturb(base, kind, foreign, random.Random(0))
        assert made is not None, kind
        broken, claim, new = made
        assert new != claim.text and broken.text != answer.text
        assert judge.judge(broken, base.evidence).flagged, kind


# --- the LLM judge ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    """A scripted OpenAI-compatible server on loopback."""
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def test_llm_judge_sends_claims_and_passages_and_reads_the_verdicts(server: FakeOpenAI) -> None:
    server.reset()
    server.script(
        Reply(
            text='```json\n{"claims": [{"claim": 1, "supported": true, "reason": "stated"}, '
            '{"claim": 2, "supported": false, "reason": "not in passage 1"}]}\n```'
        )
    )
    settings = Settings(
        answerer="openai", openai_base_url=server.base_url, openai_api_key="sk-test-1234"
    )
    answer = _answer(f"Seonghyun Kim: “{QUOTE}” [1] Dense models are obsolete everywhere [1].")
    judgement = LLMJudge(settings).judge(answer)
    assert [v.supported for v in judgement.verdicts] == [True, False]
    assert judgement.faithfulness == 0.5 and judgement.error is None
    assert judgement.prompt_tokens > 0 and judgement.completion_tokens > 0
    prompt = server.requests[-1].content("user")
    assert "1. Seonghyun Kim" in prompt and "[cites: 1]" in prompt
    assert "multiplier gets bigger" in prompt and "{passages}" not in prompt

    server.script(Reply(text="I think it is all fine."))
    judgement = LLMJudge(settings).judge(answer)
    assert judgement.verdicts == [] and "unreadable" in (judgement.error or "")


def test_verdicts_the_llm_judge_could_not_get_are_counted_not_averaged_away() -> None:
    judged = _result("q1", 1.0, 1.0)
    judged.judgements = [Judgement(judge="llm:m", prompt_tokens=90, completion_tokens=10)]
    lost = _result("q2", 1.0, 1.0)
    lost.judgements = [Judgement(judge="llm:m", error="APITimeoutError: timed out")]
    offline = _result("q3", 1.0, 1.0)
    offline.judgements = [Judgement(judge="offline")]

    assert summarize([judged, lost, offline])["llm_judge_failed"] == 1.0
    assert summarize([offline])["llm_judge_failed"] is None  # no LLM judge ran


# --- LlamaIndex's evaluators next to ours --------------------------------------------------


def test_llamaindex_retriever_evaluator_scores_the_plain_search_by_our_gold_passages(
    bot: Assistant,
) -> None:
    pairs = [p for p in load_pairs(split="test") if p.sources]
    figures = retriever_scores(bot, pairs, index_passages(bot), k=5)
    # The same gold rule on the same search: LlamaIndex's hit rate and MRR are ours.
    ours = [retrieval_scores(bot.search(p.question, k=5), p.sources) for p in pairs]
    assert figures["llamaindex_hit_rate"] == round(sum(s[1] for s in ours) / len(ours), 4)
    assert figures["llamaindex_mrr"] == round(sum(s[2] for s in ours) / len(ours), 4)
    assert 0 < figures["llamaindex_mrr"] < figures["llamaindex_hit_rate"] < 1


def test_the_eval_reports_llamaindex_retrieval_next_to_ours(
    run: tuple[EvalReport, int, Path, str],
) -> None:
    report, _, out, printed = run
    assert report.summary["llamaindex_hit_rate"] is not None
    assert report.summary["llamaindex_mrr"] is not None
    assert report.summary["faithfulness_llamaindex"] is None  # no model configured
    assert "LlamaIndex RetrieverEvaluator" in printed
    assert "(`llamaindex_hit_rate`)" in (out / "test-offline.md").read_text(encoding="utf-8")


def test_llamaindex_faithfulness_asks_the_configured_server(server: FakeOpenAI) -> None:
    # As in a process that has run an event loop before (the MCP tests do): LlamaIndex then
    # ran each call on a new loop, and the second answer's judging failed to connect.
    asyncio.run(asyncio.sleep(0))
    server.reset()
    settings = Settings(
        answerer="openai",
        openai_base_url=server.base_url,
        openai_api_key="sk-test-1234",
        llm_max_retries=0,
    )
    judges = model_judges(settings, Console(file=io.StringIO()))
    assert [type(j) for j in judges] == [LLMJudge, LlamaIndexFaithfulness]
    faithfulness = judges[1]
    answer = _answer(f"Seonghyun Kim: “{QUOTE}” [1]")

    server.script(Reply(text="YES"))
    judged = faithfulness.judge(answer, evidence_from(answer))
    assert judged.faithfulness == 1.0 and judged.error is None
    assert judged.judge == f"llamaindex:{settings.llm.model}"
    prompt = "\n".join(m["content"] for m in server.requests[-1].messages)
    assert "Information: " + answer.text in prompt and PASSAGE.split("\n")[0] in prompt

    server.script(Reply(text="NO"))
    judged = faithfulness.judge(answer, evidence_from(answer))
    assert judged.faithfulness == 0.0 and judged.flagged

    server.script(Reply(status=500))
    judged = faithfulness.judge(answer, evidence_from(answer))
    assert judged.faithfulness is None and "500" in (judged.error or "")
    scores, *_ = score_answer(load_pairs(split="dev")[0], answer, {}, [judged])
    assert scores.faithfulness_llamaindex is None  # unjudged, not scored zero
    result = QuestionResult(
        id="q", type="factoid", language="en", question="q", reference_answer="r"
    )
    result.judgements = [judged]
    assert summarize([result])["llamaindex_judge_failed"] == 1.0


# --- compare ---------------------------------------------------------------------------------


def _report(summary: dict[str, float | None], results: list[QuestionResult]) -> EvalReport:
    return EvalReport(
        split="test",
        answerer="offline",
        created="2026-01-01T00:00:00+00:00",
        questions=len(results),
        summary=summary,
        results=results,
    )


def _result(qid: str, hit: float, facts: float) -> QuestionResult:
    scores = Scores(hit_at_1=hit, hit_at_5=hit, reciprocal_rank=hit, key_facts=facts)
    return QuestionResult(
        id=qid,
        type="factoid",
        language="en",
        question="?",
        reference_answer=".",
        scores=scores,
        overall=round(scores.overall(True), 4),
    )


def test_compare_says_what_got_better_and_worse(tmp_path: Path) -> None:
    old = _report(
        {"hit@5": 0.8, "key_fact_recall": 0.6, "mean_seconds": 1.0},
        [_result("q1", 1.0, 1.0), _result("q2", 0.0, 0.5), _result("q3", 1.0, 1.0)],
    )
    new = _report(
        {"hit@5": 0.9, "key_fact_recall": 0.5, "mean_seconds": 2.0},
        [_result("q1", 0.0, 1.0), _result("q2", 1.0, 0.5), _result("q4", 1.0, 1.0)],
    )
    (tmp_path / "old.json").write_text(old.model_dump_json(), encoding="utf-8")
    (tmp_path / "new.json").write_text(new.model_dump_json(), encoding="utf-8")
    buffer = io.StringIO()
    comparison = compare(
        tmp_path / "old.json", tmp_path / "new.json", console=Console(file=buffer, width=120)
    )
    assert "hit@5" in comparison.better
    assert {"key_fact_recall", "mean_seconds"} <= set(comparison.worse)
    moved = {q.id: q for q in comparison.questions}
    assert moved["q1"].verdict == "worse" and moved["q1"].changes["hit_at_5"] == (1.0, 0.0)
    assert moved["q2"].verdict == "better"
    assert comparison.added == ["q4"] and comparison.removed == ["q3"]
    printed = buffer.getvalue()
    assert "1 question(s) got worse" in printed and "q1" in printed
    assert "1 question(s) got better" in printed
