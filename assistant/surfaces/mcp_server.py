"""The MCP server: tools ``search_episodes`` and ``ask_episodes`` and the resource
``episodes://list``, over stdio or streamable HTTP, with the official ``mcp`` SDK.

Tools return the typed objects (``Hit``, ``Answer``) as structured content, so an MCP
client's model sees the episode, chapter, timestamp and speaker of every passage it cites.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from assistant.api import Assistant
from assistant.errors import AssistantError
from assistant.schema import Answer, Hit
from assistant.surfaces.common import BearerAuth, check_exposure, package_version

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Search and ask podcast episodes. Every passage and citation names its episode, chapter, "
    "timestamp and speaker: cite them when you use what they say. Read episodes://list for "
    "the episode labels that the `episode` filter accepts."
)


def _user_error(exc: AssistantError) -> ToolError:
    # QuestionError and FilterError say what to change, IndexUnavailable what to run: for
    # the calling model to read.
    return ToolError(str(exc))


def build_server(bot: Assistant) -> MCPServer:
    """An MCP server whose tools and resource go through ``bot``."""
    server = MCPServer(
        "episode-assistant",
        instructions=INSTRUCTIONS,
        version=package_version(),
        log_level="WARNING",
    )

    @server.tool()
    def search_episodes(
        query: str,
        k: int = 5,
        episode: str | None = None,
        speaker: str | None = None,
    ) -> list[Hit]:
        """Find the passages of the podcast episodes most relevant to `query` (any
        language). Each has episode, episode_title, chapter, timestamp, speaker, text and a
        url when the episode has one. `episode` (e.g. "EP 81") and `speaker` narrow it."""
        try:
            return bot.search(query, max(1, min(k, 50)), episode=episode, speaker=speaker)
        except AssistantError as exc:
            raise _user_error(exc) from None

    @server.tool()
    def ask_episodes(
        question: str,
        episode: str | None = None,
        speaker: str | None = None,
    ) -> Answer:
        """Answer a question from the podcast episodes: `text` has [n] markers, and
        `citations[n-1]` gives each one's episode, chapter, timestamp, speaker and the quoted
        words. `abstained` is true when the episodes don't cover the question."""
        try:
            answer = bot.ask(question, episode=episode, speaker=speaker)
        except AssistantError as exc:
            raise _user_error(exc) from None
        # The passages repeat what the citations quote, and history is for our own
        # follow-ups (an MCP client keeps its own conversation): leave both out.
        return answer.model_copy(update={"passages": [], "history": []})

    @server.resource(
        "episodes://list",
        name="episodes",
        description="The indexed episodes: label, title, kind, source file, speakers, chapters.",
        mime_type="application/json",
    )
    def episode_list() -> str:
        return json.dumps(
            [e.model_dump(mode="json") for e in bot.episodes()], ensure_ascii=False, indent=1
        )

    return server


def run_mcp(bot: Assistant, transport: Literal["stdio", "http"]) -> None:
    """Serve MCP until the client goes (stdio) or until interrupted (HTTP on mcp_port)."""
    bot.retriever()  # open the index before the client's first call, not during it
    server = build_server(bot)
    if transport == "stdio":
        server.run("stdio")
        return
    import uvicorn

    settings = bot.settings
    key = settings.server.api_key.get_secret_value() if settings.server.api_key else None
    check_exposure(settings.server.host, key, "MCP server")
    app = server.streamable_http_app(host=settings.server.host)
    asgi = BearerAuth(app, key) if key else app
    logger.warning(
        "MCP server (streamable HTTP) on http://%s:%d/mcp",
        settings.server.host,
        settings.server.mcp_port,
    )
    uvicorn.run(asgi, host=settings.server.host, port=settings.server.mcp_port, log_level="warning")
