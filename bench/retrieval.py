"""Retrieval benchmark: quality of dense, keyword and hybrid side by side, and latency as the index grows.

    python bench/retrieval.py                          # the demo corpus and its questions
    python bench/retrieval.py --corpus DIR --questions F.jsonl
    python bench/retrieval.py --skip-latency           # quality only

Quality: hit@1, hit@5 and MRR@10 of the file named in each answerable question's `reference_sources`
(paths relative to the corpus folder, or absolute), for each mode, with contextual chunk headers
and without them (a second index built with `contextual_headers = false`).

Latency: p50/p95 of `retrieve` (hybrid) at 1 000 and at 50 000 chunks; the extra chunks are
synthesised from the corpus's own chunks (shuffled sentences, random vectors near real ones) and
written straight into Chroma and the keyword index. Goal: p95 at 50 000 chunks <= 2x p95 at 1 000.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.components import DEMO_CORPUS, DEMO_QUESTIONS, Components
from assistant.config import load_settings
from indexing.retrieval import MODES


def load_questions(path: Path, corpus: Path) -> list[tuple[str, set[str]]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("answerable", True) is False or not row.get("reference_sources"):
            continue
        wanted = {str(p if Path(p).is_absolute() else corpus / p) for p in row["reference_sources"]}
        out.append((row["question"], wanted))
    return out


def quality(svc: Components, questions: list[tuple[str, set[str]]], mode: str) -> dict[str, float]:
    results = svc.retrieve([q for q, _ in questions], top_k=10, mode=mode)
    hit1 = hit5 = rr = 0.0
    for (_, wanted), chunks in zip(questions, results, strict=True):
        ranks = [i for i, c in enumerate(chunks, 1) if c.source in wanted]
        first = ranks[0] if ranks else None
        hit1 += first == 1
        hit5 += first is not None and first <= 5
        rr += 1.0 / first if first else 0.0
    n = len(questions)
    return {"hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3), "mrr@10": round(rr / n, 3)}


def build(home: Path, corpus: Path, models: Path | None, headers: bool) -> Components:
    home.mkdir(parents=True)
    if models:
        (home / "models").symlink_to(models.resolve(), target_is_directory=True)
    (home / "config.toml").write_text(f"[indexing]\ncontextual_headers = {'true' if headers else 'false'}\n")
    svc = Components(load_settings(home))
    report = svc.index([corpus])
    print(f"indexed {report.added} files, {report.chunks} chunks (headers={headers})", file=sys.stderr)
    return svc


def grow(svc: Components, target: int, rng: random.Random) -> None:
    """Add synthetic chunks until the index holds `target` chunks."""
    col = svc.indexer.collection
    got = col.get(include=["documents", "metadatas", "embeddings"])
    docs, metas, embs = got["documents"], got["metadatas"], np.asarray(got["embeddings"])
    have = col.count()
    batch = 2000
    while have < target:
        n = min(batch, target - have)
        picks = [rng.randrange(len(docs)) for _ in range(n)]
        ids, texts, metadatas, vectors, rows = [], [], [], [], []
        for j, p in enumerate(picks):
            words = docs[p].split()
            rng.shuffle(words)
            text = " ".join(words)
            meta = dict(metas[p])
            meta.pop("_node_content", None)
            meta["source"] = f"/synthetic/{(have + j) // 10}.txt"
            vec = embs[p] + np.random.default_rng(have + j).normal(0, 0.05, embs.shape[1])
            vectors.append((vec / np.linalg.norm(vec)).tolist())
            cid = f"synthetic-{have + j}"
            ids.append(cid)
            texts.append(text)
            metadatas.append(meta)
            rows.append((cid, meta["source"], text, text, meta))
        col.add(ids=ids, documents=texts, metadatas=metadatas, embeddings=vectors)
        with svc.indexer.docstore.transaction():
            svc.indexer.keyword.add(rows)
        have += n


def latency(svc: Components, queries: list[str], repeats: int = 3) -> dict[str, float]:
    svc.retrieve(queries[:3])  # warm-up
    times = []
    for _ in range(repeats):
        for q in queries:
            started = time.perf_counter()
            svc.retrieve([q], top_k=5)
            times.append(time.perf_counter() - started)
    times.sort()
    p95 = times[int(0.95 * len(times)) - 1]
    return {"p50_ms": round(1000 * statistics.median(times), 1), "p95_ms": round(1000 * p95, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEMO_CORPUS)
    parser.add_argument("--questions", type=Path, default=DEMO_QUESTIONS)
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--large", type=int, default=50_000, help="chunks for the large latency run")
    args = parser.parse_args()
    corpus = args.corpus.resolve()
    questions = load_questions(args.questions, corpus)
    result: dict = {"questions": len(questions), "quality": {}}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        for headers in (True, False):
            svc = build(Path(tmp) / f"home-{headers}", corpus, args.models, headers)
            label = "with_headers" if headers else "without_headers"
            result["quality"][label] = {mode: quality(svc, questions, mode) for mode in MODES}
            if headers:
                kept = svc
        if not args.skip_latency:
            rng = random.Random(0)
            qs = [q for q, _ in questions]
            result["latency"] = {}
            for size in (1000, args.large):
                grow(kept, size, rng)
                result["latency"][str(size)] = {"chunks": kept.indexer.collection.count(), **latency(kept, qs)}
            small, large = result["latency"]["1000"], result["latency"][str(args.large)]
            result["latency"]["p95_ratio"] = round(large["p95_ms"] / small["p95_ms"], 2)

    for label, modes in result["quality"].items():
        print(label, file=sys.stderr)
        for mode, m in modes.items():
            line = f"  {mode:8s} hit@1 {m['hit@1']:.3f}  hit@5 {m['hit@5']:.3f}  MRR@10 {m['mrr@10']:.3f}"
            print(line, file=sys.stderr)
    if "latency" in result:
        for size in ("1000", str(args.large)):
            lat = result["latency"][size]
            print(f"{lat['chunks']:>7} chunks: p50 {lat['p50_ms']} ms  p95 {lat['p95_ms']} ms", file=sys.stderr)
        print(f"p95 ratio large/small: {result['latency']['p95_ratio']} (goal <= 2)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
