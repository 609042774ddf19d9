"""The MCP server as MCP clients use it: the official SDK's own ``Client`` starts
`episode-assistant mcp` over stdio (and connects over streamable HTTP) and calls its tools."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from conftest import cli_env, free_port
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from assistant import Assistant

VENV_BIN = Path(sys.executable).parent
KEY = "test-key-for-mcp-over-http"
QUESTION = "What did Seonghyun say about MoE's compute multiplier?"


async def _session(server: object, bot: Assistant) -> None:
    async with Client(server) as client:  # type: ignore[arg-type]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"search_episodes", "ask_episodes"} <= set(tools)
        assert "episode" in tools["search_episodes"].input_schema["properties"]

        found = await client.call_tool(
            "search_episodes", {"query": "compute multiplier", "k": 3, "episode": "EP 81"}
        )
        assert not found.is_error
        hits = found.structured_content["result"]
        assert len(hits) == 3 and {h["episode"] for h in hits} == {"EP 81"}
        assert hits[0]["timestamp"] and hits[0]["speaker"]

        asked = await client.call_tool("ask_episodes", {"question": QUESTION})
        answer = asked.structured_content
        expected = bot.ask(QUESTION)
        assert answer["text"] == expected.text and "[1]" in answer["text"]
        assert answer["citations"][0]["timestamp"] == "04:34"
        assert answer["citations"][0]["speaker"] == "Seonghyun Kim"

        # A bad filter is a tool error with the message a model can act on, not a crash.
        wrong = await client.call_tool("ask_episodes", {"question": "MoE?", "episode": "EP 999"})
        assert wrong.is_error and "EP 81" in wrong.content[0].text

        listed = await client.read_resource("episodes://list")
        episodes = json.loads(listed.contents[0].text)
        assert {e["label"] for e in episodes} >= {"EP 81", "EP 88"}


def test_stdio_client_searches_asks_and_reads_the_episode_list(
    index_dir: Path, bot: Assistant
) -> None:
    params = StdioServerParameters(
        command=str(VENV_BIN / "episode-assistant"), args=["mcp"], env=cli_env(index_dir)
    )
    asyncio.run(_session(params, bot))


@pytest.mark.server
def test_streamable_http_transport_with_the_api_key(index_dir: Path, bot: Assistant) -> None:
    port = free_port()
    env = cli_env(index_dir, EPISODE_ASSISTANT_MCP_PORT=str(port), EPISODE_ASSISTANT_API_KEY=KEY)
    proc = subprocess.Popen(
        [str(VENV_BIN / "episode-assistant"), "mcp", "--transport", "http"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mcp --transport http did not start") from None
                time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(url, json={}).status_code == 401  # no key, no MCP
        keyed = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
        asyncio.run(_session(streamable_http_client(url, http_client=keyed), bot))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
