"""The generative synthesizer: OpenAI or any OpenAI-compatible server (vLLM, Ollama,
llama.cpp, LM Studio) writes the answer from the evidence passages.

We call the official ``openai`` client directly. llama-index's ``OpenAI`` LLM class refuses
model names it does not know (it looks up a context window per name), which breaks every
local server whose models are called "llama3.1:8b" or "Qwen/Qwen2.5-7B-Instruct".

- ``packing``: which passages are sent, and how, within the token budget;
- ``reply``: what is done to the reply as it streams (markers, loops, declines);
- ``calls``: one model call, its retries and its failures;
- ``synthesizer``: the answer and the condensed follow-up, built from those.
"""

from assistant.answering.synthesizers.openai.synthesizer import OpenAISynthesizer

__all__ = ["OpenAISynthesizer"]
