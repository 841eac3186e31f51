"""RAG side by side: the same job done by this platform and by a LangChain pipeline, in one run.

Shared by both sides: the documents (CPython's documentation topics, the sample dataset the built-in golden set
`cpython-docs-v1` is written against), the embedding model (the bundled all-MiniLM-L6-v2), the vector store (Qdrant
local mode, a path each), the chunk size (200 model tokens, 32 overlap), the generator (the stack's Triton, the
TensorRT-LLM ensemble interface), the questions (the golden set, cycled to `--questions`), the prompt (the
platform's `rag-grounded` v1: its system message and template, sources as `[n] (title) text`, in ChatML), the
sources per answer (4) and the generation parameters (200 tokens, greedy, ChatML stop words).

- Platform: the embedded stack (`llmops.cli.stack.Stack`: nats-server, Triton and every service in its own
  process). Documents go through `Ingestion.Ingest`, 4 in flight, and are searchable when `documents.v1.indexed`
  has announced every chunk. Questions go to `Assistant.Ask` with guardrails off (`LLMOPS_GATEWAY_GUARDRAILS=false`,
  so no scanner time), dense-only retrieval like LangChain's (`LLMOPS_GATEWAY_HYBRID_SEARCH=false`) and
  `bypass_cache` (no semantic-cache lookup or store: LangChain has no cache). Services log at WARNING.
- LangChain: `RecursiveCharacterTextSplitter.from_huggingface_tokenizer` + `HuggingFaceEmbeddings` (fp32) +
  `QdrantVectorStore.from_documents`, searchable when it returns; then the LCEL chain
  `{sources: retriever | format, question: passthrough} | ChatPromptTemplate | chat model | StrOutputParser`, the
  chat model a `BaseChatModel` that renders ChatML and calls `ensemble_unary` with `tritonclient.grpc`.

Ask latency: each question once per side, sequential, the side that goes first alternating. Model time is the
Triton call: the gateway's `generate_ms` (timed by the inference service around its Triton stream) and the chat
model's own `infer` call. Retrieval is query embedding + vector search: the gateway's `retrieve_ms` and the
retriever's own search. Overhead = total − model, per request. The platform's total is reported twice: the
gateway's `total_ms` (the issue's measure) and the caller's wall time of `Ask` (LangChain's total is the caller's
wall time of `invoke`, so that row is the like-for-like one).

Retrieval quality: the first 5 distinct documents of a 15-chunk search (platform `Retrieval.Search`, dense and
hybrid; LangChain `similarity_search`) against each answerable question's expected sources: hit@5 and MRR@5.

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python -m bench.rag_side_by_side [--questions 100] [--documents N] [--model extractive|llama]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import nats
import tritonclient.grpc as triton
from langchain_core.callbacks import CallbackManagerForLLMRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import VectorStoreRetriever
from langchain_qdrant import QdrantVectorStore
from nats.aio.msg import Msg
from pydantic import Field, PrivateAttr

from llmops.api.common.v1 import common_pb2
from llmops.api.gateway.v1 import gateway_pb2, gateway_pb2_grpc
from llmops.api.ingestion.v1 import ingestion_pb2, ingestion_pb2_grpc
from llmops.api.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from llmops.cli.sample import sample_documents
from llmops.cli.stack import Endpoints, Stack, StackPorts
from llmops.cli.uploads import DocumentSource, upload_all
from llmops.events import DocumentIndexed
from llmops.prompts.builtin import RAG_SYSTEM, RAG_TEMPLATE
from llmops.triton_local.server import UNARY_MODEL
from services.embedding.adapters.sentence_model import bundled_model_path, cpu_has_native_bf16, resolve_precision
from services.feedback import golden
from services.feedback.golden import GoldenItem, load_golden_set
from services.gateway.core import MAX_SOURCE_CHARS
from services.inference.adapters.triton import ensemble_inputs
from services.inference.core import CHATML_STOP, Message, Parameters, render_chatml

GOLDEN = Path(golden.__file__).parent / "data" / "golden" / "cpython-docs-v1.jsonl"
RESULTS = Path(__file__).parent / "results" / "rag_side_by_side.json"
DATASET = "bench"
CHUNK_TOKENS, OVERLAP_TOKENS = 200, 32
TOP_K = 4  # sources per answer: the gateway's default
MAX_TOKENS = 200  # answer budget: the gateway's default
K, CANDIDATES = 5, 15  # quality: first K distinct documents among CANDIDATES chunks
WARMUP = 3
PAUSE_S = 0.5
"""Idle time before each call, so one side's leftover work (torch threads spinning, events being consumed) does
not land in the other side's measurement on a small machine."""
GOALS_MS = {50: 2.0, 99: 5.0}
ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass(frozen=True)
class Doc:
    uri: str
    title: str
    text: str


def corpus(count: int, first: Sequence[str]) -> list[Doc]:
    """`count` documents: the topics in `first` (the questions' expected sources), then the other topics in order;
    past the last topic, numbered editions of them (`?edition=n`, counted as their topic for quality)."""
    topics = {d.source_uri: d for d in sample_documents()}
    order = list(dict.fromkeys([u for u in first if u in topics] + sorted(topics)))
    docs: list[Doc] = []
    edition = 1
    while len(docs) < count:
        for uri in order[: count - len(docs)]:
            t = topics[uri]
            if edition == 1:
                docs.append(Doc(uri, t.title, t.text))
            else:
                text = f"Edition {edition} of the Python reference.\n\n{t.text}"
                docs.append(Doc(f"{uri}?edition={edition}", f"{t.title} (edition {edition})", text))
        edition += 1
    return docs


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --- LangChain -----------------------------------------------------------------------------------------------


class TimedRetriever(VectorStoreRetriever):
    """The vector store's retriever, timing its own search (query embedding + Qdrant) apart from LangChain's."""

    search_ms: list[float] = Field(default_factory=list)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        started = time.perf_counter()
        found = super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)
        self.search_ms.append(since(started))
        return found


class TritonChat(BaseChatModel):
    """A chat model on Triton's TensorRT-LLM ensemble (unary), written as a LangChain integration would be."""

    url: str
    max_tokens: int = MAX_TOKENS
    repetition_penalty: float = 1.0
    triton_ms: list[float] = Field(default_factory=list)
    _client: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "triton-trtllm-ensemble"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = render_chatml([Message(ROLES[m.type], str(m.content)) for m in messages])
        params = Parameters(
            max_tokens=self.max_tokens,
            repetition_penalty=self.repetition_penalty,
            stop_words=(*(stop or ()), *CHATML_STOP),
        )
        if self._client is None:
            self._client = triton.InferenceServerClient(self.url)
        started = time.perf_counter()  # tensors built inside, as the platform's generate_ms includes them
        result = self._client.infer(UNARY_MODEL, ensemble_inputs(prompt, params, stream=False))
        self.triton_ms.append(since(started))
        output = result.as_numpy("text_output")
        text = output.reshape(-1)[0].decode("utf-8", errors="replace") if output is not None and output.size else ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text.strip()))])


def format_sources(docs: list[Document]) -> str:
    """Numbered sources exactly as the platform's prompt variables write them."""
    return "\n".join(
        f"[{n}] ({d.metadata['title']}) {' '.join(d.page_content.split())[:MAX_SOURCE_CHARS]}"
        for n, d in enumerate(docs, start=1)
    )


def langchain_ingest(docs: list[Doc], directory: Path) -> tuple[QdrantVectorStore, dict[str, Any]]:
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    model_path = bundled_model_path()
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(model_path), chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS
    )
    embeddings = HuggingFaceEmbeddings(
        model_name=model_path, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    embeddings.embed_documents(["warm up"])  # model loading is outside the measure, as the platform's is
    started = time.perf_counter()
    split = splitter.create_documents(
        [d.text for d in docs], metadatas=[{"source": d.uri, "title": d.title} for d in docs]
    )
    store = QdrantVectorStore.from_documents(
        split, embeddings, path=str(directory / "langchain-qdrant"), collection_name="bench"
    )
    seconds = time.perf_counter() - started
    return store, {"documents": len(docs), "chunks": len(split), "seconds": seconds}


def langchain_chain(store: QdrantVectorStore, llm: TritonChat) -> tuple[Runnable[str, str], TimedRetriever]:
    retriever = TimedRetriever(vectorstore=store, search_kwargs={"k": TOP_K})
    template = RAG_TEMPLATE.replace("{{", "{").replace("}}", "}")  # mustache → f-string placeholders
    prompt = ChatPromptTemplate.from_messages([("system", RAG_SYSTEM), ("human", template)])
    chain = (
        {"sources": retriever | RunnableLambda(format_sources), "question": RunnablePassthrough()}
        | prompt
        | llm
        | StrOutputParser()
    )
    return chain, retriever


# --- Platform ------------------------------------------------------------------------------------------------


@dataclass
class Indexed:
    """Chunks announced by `documents.v1.indexed`, and when the latest announcement arrived."""

    chunks: int = 0
    last: float = 0.0


async def _until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout_s} s")
        await asyncio.sleep(0.002)


async def platform_ingest(docs: list[Doc], endpoints: Endpoints) -> dict[str, Any]:
    indexed = Indexed()

    async def collect(msg: Msg) -> None:
        indexed.chunks += DocumentIndexed.model_validate_json(msg.data).chunk_count
        indexed.last = time.perf_counter()

    connection = await nats.connect(endpoints.nats)
    await connection.subscribe(DocumentIndexed.subject, cb=collect)
    sources = [DocumentSource(d.uri, content=d.text.encode(), title=d.title, mime_type="text/plain") for d in docs]

    def header(source: DocumentSource) -> ingestion_pb2.DocumentHeader:
        return ingestion_pb2.DocumentHeader(
            source_uri=source.source_uri, title=source.title, mime_type=source.mime_type, dataset=DATASET
        )

    try:
        with grpc.insecure_channel(endpoints.grpc["ingestion"]) as channel:
            stub = ingestion_pb2_grpc.IngestionStub(channel)
            started = time.perf_counter()
            results = await asyncio.to_thread(upload_all, stub, sources, header, parallel=4, on_done=lambda _: None)
            if errors := [r for r in results if "error" in r]:
                raise RuntimeError(f"{len(errors)} uploads failed, e.g. {errors[0]}")
            expected = sum(int(r.get("chunk_count", 0)) for r in results)
            await _until(lambda: indexed.chunks >= expected, 3600)
    finally:
        await connection.close()
    return {"documents": len(docs), "chunks": expected, "seconds": indexed.last - started}


# --- Measures ------------------------------------------------------------------------------------------------


def ask_both(
    questions: list[GoldenItem], gateway: gateway_pb2_grpc.AssistantStub, chain: Runnable[str, str],
    retriever: TimedRetriever, llm: TritonChat,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Each question on both sides in turn (the first side alternating); the first WARMUP are not recorded."""
    samples: dict[str, list[dict[str, Any]]] = {"platform": [], "langchain": []}

    def platform(query: str) -> dict[str, Any]:
        request = gateway_pb2.AskRequest(
            query=query, dataset=DATASET, top_k=TOP_K, bypass_cache=True,
            parameters=common_pb2.GenerationParameters(max_tokens=MAX_TOKENS),
        )  # fmt: skip
        started = time.perf_counter()
        response = gateway.Ask(request, timeout=600)
        wall = since(started)
        t = response.timings
        return {"wall_ms": wall, "total_ms": t.total_ms, "model_ms": t.generate_ms, "retrieve_ms": t.retrieve_ms,
                "answer": response.answer}  # fmt: skip

    def langchain(query: str) -> dict[str, Any]:
        llm.triton_ms.clear()
        retriever.search_ms.clear()
        started = time.perf_counter()
        answer = chain.invoke(query)
        wall = since(started)
        return {"wall_ms": wall, "total_ms": wall, "model_ms": sum(llm.triton_ms),
                "retrieve_ms": sum(retriever.search_ms), "answer": answer}  # fmt: skip

    sides: dict[str, Callable[[str], dict[str, Any]]] = {"platform": platform, "langchain": langchain}
    for n, item in enumerate([*questions[:WARMUP], *questions]):
        order = list(sides) if n % 2 == 0 else list(reversed(sides))
        for side in order:
            time.sleep(PAUSE_S)
            sample = sides[side](item.question)
            if n >= WARMUP:
                samples[side].append({"id": item.id, **sample})
    return samples


def rank(uris: Sequence[str], expected: set[str]) -> int | None:
    """1-based rank of the first expected document among the first K distinct documents (editions → topic)."""
    distinct = list(dict.fromkeys(u.split("?", 1)[0] for u in uris))[:K]
    return next((i for i, uri in enumerate(distinct, start=1) if uri in expected), None)


def quality(items: list[GoldenItem], search: Callable[[str], list[str]]) -> dict[str, float]:
    ranks = [rank(search(i.question), set(i.expected_sources)) for i in items]
    return {
        f"hit@{K}": sum(r is not None for r in ranks) / len(items),
        f"mrr@{K}": sum(1 / r for r in ranks if r is not None) / len(items),
    }


# --- Report --------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "unknown")
    return {"cores": os.cpu_count(), "cpu": cpu, "date": datetime.now(UTC).date().isoformat()}


def latency_rows(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Percentiles of each measure per row; overheads are per-request differences, then percentiles."""
    views = {
        "llmops (gateway total_ms)": (samples["platform"], "total_ms"),
        "llmops (caller's wall time)": (samples["platform"], "wall_ms"),
        "LangChain (caller's wall time)": (samples["langchain"], "wall_ms"),
    }
    rows: dict[str, dict[str, float]] = {}
    for name, (runs, total) in views.items():
        measures = {
            "model": [r["model_ms"] for r in runs],
            "retrieval": [r["retrieve_ms"] for r in runs],
            "total": [r[total] for r in runs],
            "overhead": [r[total] - r["model_ms"] for r in runs],
            "rest": [r[total] - r["model_ms"] - r["retrieve_ms"] for r in runs],
        }
        rows[name] = {f"{m}_p{q}": percentile(v, q) for m, v in measures.items() for q in (50, 99)}
    return rows


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\n## RAG side by side ({report['model']} model)\n")
    print(f"Machine: {m['cores']} cores ({m['cpu']}), {m['date']}. Command: `{report['command']}`")
    print(f"Platform embedding precision: {report['platform_precision']}; LangChain: fp32.\n")
    print("### Ingest → searchable\n")
    print("| pipeline | documents | chunks | seconds | documents/s | chunks/s |\n|---|---|---|---|---|---|")
    for name, r in report["ingest"].items():
        print(f"| {name} | {r['documents']} | {r['chunks']} | {r['seconds']:.1f} | {r['documents_per_s']:.2f} "
              f"| {r['chunks_per_s']:.1f} |")  # fmt: skip
    ratio = report["ingest_ratio"]
    print(f"\nllmops / LangChain: {ratio['documents_per_s']:.2f}× documents/s, {ratio['chunks_per_s']:.2f}× chunks/s. "
          f"Goal ≥ 2×: {verdict(ratio['documents_per_s'] >= 2)} in documents/s (same documents), "
          f"{verdict(ratio['chunks_per_s'] >= 2)} in chunks/s.\n")  # fmt: skip
    print(f"### Ask latency ({report['questions']} questions per side, sequential, {PAUSE_S} s idle before each call, "
          "guardrails off, dense retrieval, semantic cache bypassed)\n")  # fmt: skip
    print("| measured as | model p50 | model p99 | retrieval p50 | retrieval p99 | total p50 | total p99 "
          "| **overhead p50** | **overhead p99** | overhead − retrieval p50 | p99 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in report["latency"].items():
        cells = " | ".join(f"{r[f'{m}_p{q}']:.2f}" for m in ("model", "retrieval", "total", "overhead", "rest")
                           for q in (50, 99))  # fmt: skip
        print(f"| {name} | {cells} |")
    print(
        "\n(ms; overhead = total − model time, per request; the last two columns also leave out retrieval. The"
        " gateway's total_ms stops before it publishes `interactions.v1.completed` to JetStream and returns:"
        " the caller's row includes that and the client→gateway hop. Platform model time is the inference"
        " service's Triton stream (decoupled `ensemble`, deltas relayed to the gateway as they come);"
        " LangChain's is one unary `ensemble_unary` call.)\n"
    )
    for q in (50, 99):
        print(f"Overhead p{q}, llmops / LangChain: {report['overhead_ratio'][f'p{q}']:.2f}× (caller's wall time both "
              f"sides), {report['overhead_ratio'][f'gateway_p{q}']:.2f}× (gateway total_ms).")  # fmt: skip
    goal = report["goal"]
    print(f"Goal: platform overhead (gateway total_ms − generate_ms, no scanners) ≤ 2 ms p50 "
          f"{verdict(goal['p50'])}, ≤ 5 ms p99 {verdict(goal['p99'])}; leaving out retrieval too: "
          f"{verdict(goal['rest_p50'])} / {verdict(goal['rest_p99'])}.")  # fmt: skip
    print(f"Same answer text on both sides: {report['same_answers']} of {report['questions']}.\n")
    print(f"### Retrieval quality ({report['quality_questions']} answerable questions, first {K} distinct "
          f"documents of {CANDIDATES} chunks)\n")  # fmt: skip
    print(f"| pipeline | hit@{K} | MRR@{K} |\n|---|---|---|")
    for name, r in report["quality"].items():
        print(f"| {name} | {r[f'hit@{K}']:.3f} | {r[f'mrr@{K}']:.3f} |")
    print(f"\nRaw results: {report['out']}")


def summarise(report: dict[str, Any], samples: dict[str, list[dict[str, Any]]]) -> None:
    for r in report["ingest"].values():
        r["documents_per_s"] = r["documents"] / r["seconds"]
        r["chunks_per_s"] = r["chunks"] / r["seconds"]
    lc, platform = report["ingest"]["LangChain"], report["ingest"]["llmops"]
    report["ingest_ratio"] = {k: platform[k] / lc[k] for k in ("documents_per_s", "chunks_per_s")}
    rows = report["latency"] = latency_rows(samples)
    gateway, wall, peer = rows.values()
    report["overhead_ratio"] = {
        **{f"p{q}": wall[f"overhead_p{q}"] / peer[f"overhead_p{q}"] for q in (50, 99)},
        **{f"gateway_p{q}": gateway[f"overhead_p{q}"] / peer[f"overhead_p{q}"] for q in (50, 99)},
    }
    report["goal"] = {
        **{f"p{q}": gateway[f"overhead_p{q}"] <= limit for q, limit in GOALS_MS.items()},
        **{f"rest_p{q}": gateway[f"rest_p{q}"] <= limit for q, limit in GOALS_MS.items()},
    }
    pairs = zip(samples["platform"], samples["langchain"], strict=True)
    report["same_answers"] = sum(p["answer"].strip() == lc_["answer"].strip() for p, lc_ in pairs)


def platform_searcher(channel: grpc.Channel, *, hybrid: bool) -> Callable[[str], list[str]]:
    search = retrieval_pb2_grpc.RetrievalStub(channel).Search

    def run(query: str) -> list[str]:
        request = retrieval_pb2.SearchRequest(query=query, dataset=DATASET, top_k=CANDIDATES, hybrid=hybrid)
        return [h.chunk.source_uri for h in search(request, timeout=60).hits]

    return run


def run_sides(
    docs: list[Doc], questions: list[GoldenItem], answerable: list[GoldenItem], args: argparse.Namespace,
    report: dict[str, Any],
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Ingests on both sides, then asks, then measures retrieval quality; fills `report`, returns the Ask samples."""
    penalty = 1.15 if args.model == "llama" else 1.0  # what `llmops dev` runs SmolLM2 with
    env = {
        "LLMOPS_GATEWAY_GUARDRAILS": "false", "LLMOPS_GATEWAY_HYBRID_SEARCH": "false", "LLMOPS_LOG_LEVEL": "WARNING",
        "LLMOPS_EMBEDDING_PRECISION": args.precision, "LLMOPS_INGESTION_CHUNK_TOKENS": str(CHUNK_TOKENS),
        "LLMOPS_INGESTION_CHUNK_OVERLAP_TOKENS": str(OVERLAP_TOKENS),
        "LLMOPS_INFERENCE_REPETITION_PENALTY": str(penalty),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store, report["ingest"]["LangChain"] = langchain_ingest(docs, root)  # before the stack: an idle machine
        print(f"LangChain ingested {report['ingest']['LangChain']['chunks']} chunks")
        with Stack(root / "platform", model=args.model, ports=StackPorts.free(), extra_env=env) as stack:
            endpoints = stack.endpoints
            report["ingest"]["llmops"] = asyncio.run(platform_ingest(docs, endpoints))
            print(f"llmops ingested {report['ingest']['llmops']['chunks']} chunks")
            llm = TritonChat(url=endpoints.triton, repetition_penalty=penalty)
            chain, retriever = langchain_chain(store, llm)
            with (
                grpc.insecure_channel(endpoints.grpc["gateway"]) as gateway,
                grpc.insecure_channel(endpoints.grpc["retrieval"]) as retrieval,
            ):
                samples = ask_both(questions, gateway_pb2_grpc.AssistantStub(gateway), chain, retriever, llm)
                report["quality"] = {
                    "LangChain (dense)": quality(
                        answerable, lambda q: [d.metadata["source"] for d in store.similarity_search(q, k=CANDIDATES)]
                    ),
                    "llmops (dense)": quality(answerable, platform_searcher(retrieval, hybrid=False)),
                    "llmops (hybrid, the platform's default)": quality(
                        answerable, platform_searcher(retrieval, hybrid=True)
                    ),
                }
        store.client.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=100, help="Asks per side (the golden set, cycled)")
    parser.add_argument("--documents", type=int, default=0, help="documents to ingest (default: every topic)")
    parser.add_argument("--model", choices=("extractive", "llama"), default="extractive")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="platform embedding")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    items = list(load_golden_set(GOLDEN).items)
    questions = [items[n % len(items)] for n in range(args.questions)]
    asked = list({i.id: i for i in questions}.values())
    docs = corpus(args.documents or len(list(sample_documents())), [s for i in asked for s in i.expected_sources])
    uris = {d.uri for d in docs}
    answerable = [i for i in asked if set(i.expected_sources) & uris]
    print(f"{len(docs)} documents, {len(questions)} questions ({len(asked)} distinct), model {args.model}")
    report: dict[str, Any] = {
        "machine": machine(), "command": "python -m bench.rag_side_by_side " + " ".join(sys.argv[1:]),
        "model": args.model, "questions": len(questions), "quality_questions": len(answerable),
        "platform_precision": resolve_precision(args.precision, cpu_has_native_bf16()), "ingest": {},
        "out": str(args.out), "pause_s": PAUSE_S, "warmup": WARMUP,
    }  # fmt: skip
    samples = run_sides(docs, questions, answerable, args, report)
    summarise(report, samples)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "samples": samples}, indent=2))
    print_report(report)


if __name__ == "__main__":
    main()
