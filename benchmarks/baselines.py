"""The plain LlamaIndex ``VectorStoreIndex`` baselines, timed side by side with our search."""

from __future__ import annotations

import time
from pathlib import Path

from assistant.api import Assistant
from benchmarks.harness import ms, rss_mb, settings_for
from benchmarks.recall import recall_at_5
from evals.dataset import load_pairs


def llamaindex_baseline(args: dict) -> dict:
    """A plain LlamaIndex ``VectorStoreIndex`` over the same chunks and vectors (not re-embedded):
    in memory (``SimpleVectorStore``, the default) or in a Chroma collection of its own."""
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.core.schema import TextNode

    from assistant.index.embeddings import get_embedder
    from assistant.index.store import COSINE, Store, pages
    from assistant.retrieval.search import hit_from
    from benchmarks.synthetic import load_origins

    settings = settings_for(args)
    store = Store(settings)
    collection = store.collection(store.manifest())
    nodes: list[TextNode] = []
    for page in pages(collection, ["documents", "metadatas", "embeddings"]):
        for pid, doc, meta, emb in zip(
            page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True
        ):
            # LlamaIndex's vector stores take flat metadata only: no speakers list.
            meta = {k: v for k, v in meta.items() if not isinstance(v, list)}
            keys = list(meta)
            nodes.append(
                TextNode(
                    id_=pid,
                    text=doc,
                    metadata=meta,
                    embedding=[float(x) for x in emb],
                    excluded_embed_metadata_keys=keys,
                    excluded_llm_metadata_keys=keys,
                )
            )
    del store, collection
    embedder = get_embedder(settings)

    class Refuse(MockEmbedding):
        """Building must not embed anything: every node already has its vector."""

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            if texts:
                raise AssertionError(f"the baseline tried to embed {len(texts)} chunks")
            return []

    refuse = Refuse(embed_dim=embedder.dimension)
    started = time.perf_counter()
    if args["store"] == "chroma":
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            from llama_index.vector_stores.chroma import ChromaVectorStore
        except ImportError:
            return {"skipped": "pip install llama-index-vector-stores-chroma (the test extra)"}
        path = Path(args["work"]) / "baseline-chroma"
        client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        target = client.create_collection("baseline", configuration=COSINE)
        context = StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=target)
        )
        index = VectorStoreIndex(nodes, storage_context=context, embed_model=refuse)
    else:
        index = VectorStoreIndex(nodes, embed_model=refuse)
    build_s = time.perf_counter() - started
    del nodes
    retriever = index.as_retriever(similarity_top_k=5, embed_model=embedder)
    pairs = load_pairs(split="test")
    retriever.retrieve(pairs[0].question)  # warm-up
    peak_rss = rss_mb()  # before our side opens in this process too
    # Ours in the same process, question by question in alternating order: on a shared
    # 2-core machine, timings taken minutes apart drift by more than the gap being measured.
    bot = Assistant(settings)
    bot.retriever().cache_queries = False
    bot.search(pairs[0].question, k=5)
    samples, ours, results = [], [], []
    for i, pair in enumerate(pairs):
        for side in (0, 1) if i % 2 else (1, 0):
            began = time.perf_counter()
            if side:
                got = retriever.retrieve(pair.question)
                samples.append((time.perf_counter() - began) * 1000)
            else:
                bot.search(pair.question, k=5)
                ours.append((time.perf_counter() - began) * 1000)
        results.append(
            [
                hit_from(n.node.node_id, n.node.get_content(), n.node.metadata, n.score or 0, None)
                for n in got
            ]
        )
    recall, strict = recall_at_5(pairs, results, load_origins(Path(args["corpus"])))
    return {
        "store": args["store"],
        "build_s": round(build_s, 1),
        "search_test_ms": ms(samples),
        "ours_search_test_ms": ms(ours),
        "recall_at_5": recall,
        "recall_at_5_strict": strict,
        "peak_rss_mb": peak_rss,
    }
