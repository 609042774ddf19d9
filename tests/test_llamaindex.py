"""The LlamaIndex pieces through LlamaIndex's own API: retrieve, postprocess, query and chat
(with LlamaIndex's MockLLM, and with no LLM: the offline answerer), and ingest with an
IngestionPipeline that makes the index's own chunks."""

from __future__ import annotations

import asyncio

import pytest
from conftest import EPISODES
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.core.vector_stores.utils import node_to_metadata_dict

from assistant import Assistant
from assistant.surfaces.llamaindex import EpisodeReader, SpeakerTurnParser

QUESTION = "What did Seonghyun say about MoE's compute multiplier?"
FIRST, FOLLOW_UP = "When do they talk about environment scaling?", "and what did Chester answer?"
CITATION_KEYS = {
    "episode",
    "title",
    "chapter",
    "timestamp",
    "seconds",
    "speaker",
    "source_file",
    "url",
}


def test_retriever_nodes_carry_citation_metadata_and_respect_filters(bot: Assistant) -> None:
    nodes = bot.as_retriever(k=4, episode="81").retrieve("compute multiplier")
    hits = bot.search("compute multiplier", k=4, episode="81")
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    first = nodes[0].node
    assert set(first.metadata) >= CITATION_KEYS
    assert {n.node.metadata["episode"] for n in nodes} == {"EP 81"}
    assert first.metadata["timestamp"] == "04:34" and first.metadata["seconds"] == 274
    # An LLM sees what it needs to cite (episode, time, speaker), not file names.
    seen = first.get_content(metadata_mode=MetadataMode.LLM)
    assert "timestamp: 04:34" in seen and "speaker: Seonghyun Kim" in seen
    assert first.metadata["source_file"] not in seen
    assert all(0 < (n.score or 0) <= 1 for n in nodes)  # cosine similarity
    by_speaker = bot.as_retriever(k=3, speaker="Chester Roh").retrieve("MoE")
    chester = bot.search("MoE", k=3, speaker="Chester Roh")
    assert [n.node.node_id for n in by_speaker] == [h.id for h in chester]
    assert [h.id for h in chester] != [h.id for h in bot.search("MoE", k=3)]


def test_a_node_postprocessor_filters_what_the_llm_gets(bot: Assistant) -> None:
    scores = sorted(n.score or 0 for n in bot.as_retriever(k=5).retrieve("compute multiplier"))
    cutoff = scores[2]
    engine = bot.as_query_engine(
        llm=MockLLM(), k=5, node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=cutoff)]
    )
    response = engine.query("compute multiplier")
    assert 0 < len(response.source_nodes) < 5
    assert all((n.score or 0) >= cutoff for n in response.source_nodes)


def test_query_engine_with_an_llm_synthesizes_over_the_passages_streaming_too(
    bot: Assistant,
) -> None:
    response = bot.as_query_engine(llm=MockLLM(), k=3).query(QUESTION)
    # MockLLM echoes its prompt: LlamaIndex put our passages, labelled for citing, in it.
    prompt = str(response)
    assert "episode: EP 81" in prompt and "timestamp: 04:34" in prompt
    assert response.source_nodes[0].node.get_content() in prompt
    streamed = bot.as_query_engine(llm=MockLLM(), k=3, streaming=True).query(QUESTION)
    pieces = list(streamed.response_gen)
    assert len(pieces) > 1 and "".join(pieces) == prompt


def test_query_engine_without_an_llm_answers_offline_with_citations(bot: Assistant) -> None:
    expected = bot.ask(QUESTION)
    response = bot.as_query_engine().query(QUESTION)
    assert response.response == expected.text
    assert response.metadata["citations"][0]["timestamp"] == "04:34"
    assert response.source_nodes and set(response.source_nodes[0].node.metadata) >= CITATION_KEYS
    streamed = bot.as_query_engine(streaming=True).query(QUESTION)
    assert "".join(streamed.response_gen).strip() == expected.text
    assert streamed.metadata["citations"] == response.metadata["citations"]
    with pytest.raises(TypeError, match="llm"):
        bot.as_query_engine(node_postprocessors=[])


def test_chat_engine_without_an_llm_follows_up_like_the_python_api(bot: Assistant) -> None:
    first = bot.ask(FIRST)
    expected = bot.ask(FOLLOW_UP, history=first.history)
    engine = bot.as_chat_engine()
    assert str(engine.chat(FIRST)) == first.text
    follow = engine.chat(FOLLOW_UP)
    assert str(follow) == expected.text and follow.metadata["citations"]
    assert [m.role.value for m in engine.chat_history] == ["user", "assistant"] * 2
    engine.reset()
    engine.chat(FIRST)
    streamed = engine.stream_chat(FOLLOW_UP)
    assert "".join(streamed.response_gen).strip() == expected.text
    assert streamed.source_nodes

    async def in_async() -> str:
        engine.reset()
        await engine.achat(FIRST)
        response = await engine.astream_chat(FOLLOW_UP)
        return "".join([piece async for piece in response.async_response_gen()])

    assert asyncio.run(in_async()).strip() == expected.text


def test_chat_engine_with_an_llm_is_llamaindex_condense_plus_context(bot: Assistant) -> None:
    engine = bot.as_chat_engine(llm=MockLLM(max_tokens=5), k=3)
    reply = engine.chat("What is MoE?")
    assert str(reply) and len(reply.source_nodes) == 3
    assert set(reply.source_nodes[0].node.metadata) >= CITATION_KEYS
    streamed = engine.stream_chat("and what did Chester say?")
    assert "".join(streamed.response_gen).strip() and streamed.source_nodes
    assert len(engine.chat_history) == 4


def test_reader_and_parser_make_the_index_chunks_in_an_ingestion_pipeline(
    bot: Assistant,
) -> None:
    documents = EpisodeReader().load_data(EPISODES)
    assert len(documents) == 5
    assert {d.metadata["episode"] for d in documents} >= {"EP 81", "EP 88"}
    nodes = IngestionPipeline(transformations=[SpeakerTurnParser()]).run(documents=documents)
    assert len(nodes) == bot.retriever().manifest.chunks
    by_id = {n.node_id: n for n in nodes}
    for hit in bot.search("compute multiplier", k=5):
        # The same chunk id as the index's (which tags it "@build" in the store) ...
        node = by_id[hit.id.rsplit("@", 1)[0]]
        assert node.get_content() == hit.text  # ... with the same text and citation fields
        assert node.metadata["chapter"] == (hit.chapter or "")
        assert node.metadata["speaker"] == (hit.speaker or "")
        assert node.ref_doc_id == hit.source_file
    # Any LlamaIndex vector store can take them: flat metadata, JSON all through.
    for node in nodes:
        node_to_metadata_dict(node, flat_metadata=True)
        assert TextNode.from_json(node.to_json()).metadata == node.metadata
