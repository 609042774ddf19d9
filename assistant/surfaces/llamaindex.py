"""LlamaIndex-native pieces over the assistant: a retriever, query and chat engines, a reader
and a node parser, so a LlamaIndex user composes this project with anything else of theirs.

- ``EpisodeRetriever``: our hybrid search as a ``BaseRetriever``; every ``NodeWithScore``
  carries the citation metadata (episode, title, chapter, timestamp, seconds, speaker,
  source_file, url) and scores with the passage's cosine similarity, so score-based node
  postprocessors mean something (the fused rank score is kept as ``rank_score``).
- ``as_query_engine``/``as_chat_engine``: with a LlamaIndex LLM, LlamaIndex's own engines
  synthesize over that retriever; with none, the offline answerer answers (``Assistant.ask``),
  streaming either way.
- ``EpisodeReader`` and ``SpeakerTurnParser``: a corpus folder as one ``Document`` per
  episode, and the index's own speaker-turn chunks from them (``chunking.py``, not a copy).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import Response, StreamingResponse
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.node_parser import NodeParser
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import (
    BaseNode,
    Document,
    MetadataMode,
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    TextNode,
)
from pydantic import ConfigDict, Field

from assistant.config import Settings
from assistant.index.store import encode_metadata
from assistant.ingestion.chunking import chunk_episode
from assistant.ingestion.corpus import list_files, load_metadata
from assistant.ingestion.reading import decode
from assistant.ingestion.transcripts import Metadata, parse_text
from assistant.schema import Answer, Hit, Turn
from assistant.surfaces.common import turns_from_messages

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from assistant.api import Assistant

Filter = str | list[str] | None

# What a synthesizing LLM sees of a passage besides its text: enough to cite it.
LLM_METADATA = ("episode", "title", "chapter", "timestamp", "speaker")


def hit_node(hit: Hit) -> NodeWithScore:
    """A search hit as a LlamaIndex node, scored by cosine similarity."""
    metadata: dict[str, Any] = {
        "episode": hit.episode,
        "title": hit.episode_title,
        "chapter": hit.chapter,
        "timestamp": hit.timestamp,
        "seconds": hit.seconds,
        "speaker": hit.speaker,
        "source_file": hit.source_file,
        "url": hit.url,
        "kind": hit.kind,
        "language": hit.language,
        "rank_score": hit.score,
    }
    node = TextNode(
        id_=hit.id,
        text=hit.text,
        metadata=metadata,
        excluded_embed_metadata_keys=list(metadata),
        excluded_llm_metadata_keys=[
            k for k, v in metadata.items() if k not in LLM_METADATA or v is None
        ],
    )
    return NodeWithScore(node=node, score=hit.relevance)


def _answer_nodes(answer: Answer) -> list[NodeWithScore]:
    return [hit_node(h) for h in answer.passages]


def _answer_metadata(answer: Answer) -> dict[str, Any]:
    return {
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "abstained": answer.abstained,
        "notice": answer.notice,
        "answer": answer,
    }


class EpisodeRetriever(BaseRetriever):
    """The assistant's search (BM25 + dense, fused, filtered) as a LlamaIndex retriever."""

    def __init__(
        self,
        assistant: Assistant,
        k: int | None = None,
        *,
        episode: Filter = None,
        speaker: Filter = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.assistant = assistant
        self.k = k
        self.episode = episode
        self.speaker = speaker

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.assistant.search(
            query_bundle.query_str, self.k, episode=self.episode, speaker=self.speaker
        )
        return [hit_node(h) for h in hits]


class OfflineQueryEngine(CustomQueryEngine):
    """A query engine whose answers come from ``Assistant.ask``: quotes with citations
    offline, or the configured OpenAI-compatible model. ``response.metadata["citations"]``
    holds the citations, ``source_nodes`` the passages behind them."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    assistant: Any = Field(description="the Assistant that answers")
    episode: Filter = None
    speaker: Filter = None
    streaming: bool = False

    def custom_query(self, query_str: str) -> Response | StreamingResponse:
        pieces = self.assistant.stream(query_str, episode=self.episode, speaker=self.speaker)
        if not self.streaming:
            answer = _last_answer(pieces)
            return Response(
                response=answer.text,
                source_nodes=_answer_nodes(answer),
                metadata=_answer_metadata(answer),
            )
        # Run the checks (an empty question, an unknown filter) now, not mid-stream.
        first = next(pieces)
        response = StreamingResponse(response_gen=iter(()), source_nodes=[], metadata={})
        response.response_gen = _text_then_fill(first, pieces, response)
        return response


def _last_answer(pieces: Iterable[str | Answer]) -> Answer:
    final = None
    for piece in pieces:
        if isinstance(piece, Answer):
            final = piece
    assert final is not None, "Assistant.stream ended without an Answer"
    return final


def _text_then_fill(
    first: str | Answer, pieces: Iterator[str | Answer], response: StreamingResponse
) -> Iterator[str]:
    """The answer's text pieces; at the end, the response's sources and citations."""
    answer = None
    for piece in itertools.chain([first], pieces):
        if isinstance(piece, Answer):
            answer = piece
        else:
            yield piece
    assert answer is not None, "Assistant.stream ended without an Answer"
    response.source_nodes.extend(_answer_nodes(answer))
    assert response.metadata is not None
    response.metadata.update(_answer_metadata(answer))


class OfflineChatEngine(BaseChatEngine):
    """A chat engine over ``Assistant.stream``: follow-ups are resolved with the answers'
    own history (the speaker and episode a conversation is about), as in the chat page."""

    def __init__(
        self, assistant: Assistant, *, episode: Filter = None, speaker: Filter = None
    ) -> None:
        self.assistant = assistant
        self.episode = episode
        self.speaker = speaker
        self._turns: list[Turn] = []
        self._messages: list[ChatMessage] = []

    @property
    def chat_history(self) -> list[ChatMessage]:
        """The conversation so far, as LlamaIndex messages."""
        return list(self._messages)

    def reset(self) -> None:
        """Forget the conversation."""
        self._turns, self._messages = [], []

    def _history(self, chat_history: Sequence[ChatMessage] | None, message: str) -> list[Turn]:
        if chat_history is None:
            return self._turns
        # A history passed in replaces ours, as in LlamaIndex's own engines.
        roles = [(m.role.value, m.content or "") for m in chat_history]
        self._messages = list(chat_history)
        return turns_from_messages([*roles, ("user", message)])[1]

    def _remember(self, message: str, answer: Answer) -> None:
        self._turns = answer.history
        self._messages += [
            ChatMessage(role=MessageRole.USER, content=message),
            ChatMessage(role=MessageRole.ASSISTANT, content=answer.text),
        ]

    def _pieces(
        self, message: str, chat_history: Sequence[ChatMessage] | None
    ) -> Iterator[str | Answer]:
        return self.assistant.stream(
            message,
            history=self._history(chat_history, message),
            episode=self.episode,
            speaker=self.speaker,
        )

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """One answer; ``metadata["citations"]`` holds its citations."""
        answer = _last_answer(self._pieces(message, chat_history))
        self._remember(message, answer)
        return AgentChatResponse(
            response=answer.text,
            source_nodes=_answer_nodes(answer),
            metadata=_answer_metadata(answer),
        )

    def _chat_stream(
        self, message: str, pieces: Iterator[str | Answer], response: StreamingAgentChatResponse
    ) -> Iterator[ChatResponse]:
        text = ""
        for piece in pieces:
            if isinstance(piece, Answer):
                self._remember(message, piece)
                response.source_nodes.extend(_answer_nodes(piece))
                response.metadata = _answer_metadata(piece)
                continue
            text += piece
            yield ChatResponse(
                message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece
            )

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """The answer as it is written (``response_gen``); sources once it is done."""
        pieces = self._pieces(message, chat_history)
        # Our history is the answers' own, so LlamaIndex's memory-writing thread is not used.
        response = StreamingAgentChatResponse(is_writing_to_memory=False)
        response.chat_stream = self._chat_stream(message, pieces, response)
        return response

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """``chat`` in a worker thread."""
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """``stream_chat`` for ``async_response_gen``; each piece is made in a worker thread."""
        response = self.stream_chat(message, chat_history)
        assert response.chat_stream is not None
        response.achat_stream = _in_threads(response.chat_stream)
        return response


async def _in_threads(stream: Iterator[ChatResponse]) -> AsyncIterator[ChatResponse]:
    done = object()
    while (item := await asyncio.to_thread(next, stream, done)) is not done:
        yield item  # type: ignore[misc]


def as_query_engine(
    assistant: Assistant,
    llm: LLM | None = None,
    *,
    k: int | None = None,
    episode: Filter = None,
    speaker: Filter = None,
    streaming: bool = False,
    **kwargs: Any,
) -> BaseQueryEngine:
    """With ``llm``: LlamaIndex's ``RetrieverQueryEngine`` over ``EpisodeRetriever`` (extra
    arguments such as ``node_postprocessors`` or ``response_mode`` go to ``from_args``).
    Without: ``OfflineQueryEngine``."""
    if llm is None:
        if kwargs:
            raise TypeError(
                f"{sorted(kwargs)} configure LlamaIndex's synthesis, which needs llm=…; "
                "without one the assistant's own answerer answers"
            )
        return OfflineQueryEngine(
            assistant=assistant, episode=episode, speaker=speaker, streaming=streaming
        )
    from llama_index.core.query_engine import RetrieverQueryEngine

    retriever = EpisodeRetriever(assistant, k, episode=episode, speaker=speaker)
    return RetrieverQueryEngine.from_args(retriever, llm=llm, streaming=streaming, **kwargs)


def as_chat_engine(
    assistant: Assistant,
    llm: LLM | None = None,
    *,
    k: int | None = None,
    episode: Filter = None,
    speaker: Filter = None,
    **kwargs: Any,
) -> BaseChatEngine:
    """With ``llm``: LlamaIndex's ``CondensePlusContextChatEngine`` over ``EpisodeRetriever``
    (extra arguments go to ``from_defaults``). Without: ``OfflineChatEngine``."""
    if llm is None:
        if kwargs:
            raise TypeError(
                f"{sorted(kwargs)} configure LlamaIndex's chat engine, which needs llm=…"
            )
        return OfflineChatEngine(assistant, episode=episode, speaker=speaker)
    from llama_index.core.chat_engine import CondensePlusContextChatEngine

    retriever = EpisodeRetriever(assistant, k, episode=episode, speaker=speaker)
    return CondensePlusContextChatEngine.from_defaults(retriever, llm=llm, **kwargs)


# --- ingestion -----------------------------------------------------------------------------

# Document metadata that the parser hands back to ours as episodes.yaml would: a document
# read by EpisodeReader then chunks exactly as the index does.
_EPISODE_FIELDS = {
    "number": "number",
    "label": "episode",
    "title": "title",
    "url": "url",
    "date": "date",
}


class EpisodeReader(BaseReader):
    """A corpus folder (any format the index reads, with its ``episodes.yaml``) as one
    ``Document`` per episode: the file's text, and the episode's label, title, url, kind,
    language and speakers as metadata."""

    def lazy_load_data(self, folder: str | Path) -> Iterator[Document]:  # type: ignore[override]
        """Documents of ``folder``, in corpus order; unreadable files are skipped."""
        folder = Path(folder)
        metadata, _ = load_metadata(folder)
        for f in list_files(folder):
            text, _issues = decode(f.path.read_bytes(), f.name)
            if text is None:
                continue
            episode = parse_text(text, f.name, metadata.get(f.name) or Metadata()).episode
            if episode is None:
                continue
            meta = {
                "source_file": f.name,
                "episode": episode.label,
                "number": episode.number,
                "title": episode.title,
                "url": episode.url,
                "date": episode.date,
                "kind": episode.kind,
                "language": episode.language,
                "speakers": ", ".join(episode.speakers),
            }
            meta = {k: v for k, v in meta.items() if v is not None}
            yield Document(
                id_=f.name,
                text=text,
                metadata=meta,
                excluded_embed_metadata_keys=list(meta),
                excluded_llm_metadata_keys=[k for k in meta if k not in LLM_METADATA],
            )


def _settings_default(name: str) -> int:
    return int(getattr(Settings().index, name))


def flat_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """A chunk's metadata as LlamaIndex vector stores take it (flat: str, int, float, None):
    the store's own encoding, with the speakers list joined, since most stores refuse lists."""
    out = encode_metadata(meta)
    speakers = out.pop("speakers", None)
    if speakers:
        out["speakers"] = ", ".join(speakers)
    return out


class SpeakerTurnParser(NodeParser):
    """The index's chunks: never across a chapter, whole sentences, at most ``chunk_tokens``
    ``cl100k_base`` tokens with ``chunk_overlap``, each with the citation metadata of its
    speaker turns (the same ``TextNode``s ``episode-assistant index`` stores)."""

    chunk_tokens: int = Field(default_factory=lambda: _settings_default("chunk_tokens"))
    chunk_overlap: int = Field(default_factory=lambda: _settings_default("chunk_overlap"))

    @classmethod
    def class_name(cls) -> str:
        return "SpeakerTurnParser"

    def _parse_nodes(
        self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any
    ) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc in nodes:
            meta = doc.metadata
            name = str(meta.get("source_file") or meta.get("file_name") or doc.node_id)
            overrides = Metadata(
                **{field: str(meta[key]) for field, key in _EPISODE_FIELDS.items() if meta.get(key)}
            )
            text = doc.get_content(metadata_mode=MetadataMode.NONE)
            episode = parse_text(text, name, overrides).episode
            if episode is None:
                continue
            for chunk in chunk_episode(episode, self.chunk_tokens, self.chunk_overlap):
                chunk.metadata = flat_metadata(chunk.metadata)
                chunk.relationships[NodeRelationship.SOURCE] = doc.as_related_node_info()
                out.append(chunk)
        return out
