"""Surfaces that let other programs use the assistant: an HTTP API, an MCP server, LlamaIndex
adapters. Each module imports its framework itself, so a plain ``ask`` loads none of them."""
