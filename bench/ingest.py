"""Ingestion benchmark: full-pipeline throughput against the raw embedder, and the cost of a no-op re-index.

    python bench/ingest.py                 # the demo corpus, copied 4 times
    python bench/ingest.py --copies 10     # more copies
    python bench/ingest.py DIR             # your own folder
    python bench/ingest.py --embed-backend torch   # indexing.embed_backend for the run (default: the settings')

Prints, from one run:
  pipeline chunks/s   parse + chunk + embed + write to Chroma + docstore, embedder already loaded
  raw embedder        the same embedder's own encode() of the very same texts (header + chunk), same batch size:
                      sentence-transformers on torch, or the ONNX Runtime session (embed_backend onnx/auto)
  ratio               pipeline / raw           (goal >= 0.85: embedding is the floor)
  no-op re-index      seconds / full index     (goal <= 0.05)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.components import DEMO_CORPUS, Components
from assistant.config import load_settings


def build_corpus(target: Path, copies: int) -> Path:
    for n in range(copies):
        shutil.copytree(DEMO_CORPUS, target / f"copy{n:02d}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="corpus folder (default: the demo corpus, copied)")
    parser.add_argument("--copies", type=int, default=4, help="copies of the demo corpus (default 4)")
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse (saves the first-use copy)")
    parser.add_argument("--embed-backend", choices=("auto", "torch", "onnx"),
                        help="indexing.embed_backend for this run (default: the settings', i.e. auto)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_path = Path(tmp)
        corpus = args.folder or build_corpus(tmp_path / "corpus", args.copies)
        home = tmp_path / "home"
        home.mkdir()
        if args.models:
            (home / "models").symlink_to(args.models.resolve(), target_is_directory=True)
        if args.embed_backend:
            (home / "config.toml").write_text(f'[indexing]\nembed_backend = "{args.embed_backend}"\n')
        svc = Components(load_settings(home))
        embed_model = svc.indexer.embed_model  # loaded before timing: we measure steady-state throughput

        full = svc.index([corpus])
        pipeline_rate = full.chunks / full.seconds

        # Exactly what the pipeline embedded: contextual header + chunk (kept as the keyword index's body).
        texts = [row[0] for row in svc.indexer.keyword.db.execute("SELECT body FROM chunks")]
        batch = svc.settings.indexing.embed_batch_size
        backend = getattr(embed_model, "backend", "torch")
        if backend == "onnx":  # the ONNX Runtime session the pipeline itself uses
            def encode(items: list[str]) -> object:
                return embed_model.encode(items, batch_size=batch)
        else:
            def encode(items: list[str]) -> object:
                return embed_model._model.encode(items, batch_size=batch, normalize_embeddings=True)
        # The baseline's warm-up is left out of its time (the pipeline's is inside its own), so the ratio
        # errs against the pipeline.
        encode(texts[:batch])
        started = time.perf_counter()
        encode(texts)
        raw_seconds = time.perf_counter() - started
        raw_rate = len(texts) / raw_seconds

        noop = Components(load_settings(home)).index([corpus])
        assert noop.chunks == 0 and noop.unchanged == full.added, "a no-op re-index must not re-embed"

        result = {
            "embed_backend": backend,
            "files": full.added,
            "failed": len(full.failed),
            "chunks": full.chunks,
            "pipeline_seconds": round(full.seconds, 2),
            "pipeline_chunks_per_s": round(pipeline_rate, 1),
            "raw_embedder_seconds": round(raw_seconds, 2),
            "raw_embedder_chunks_per_s": round(raw_rate, 1),
            "ratio_pipeline_to_raw": round(pipeline_rate / raw_rate, 3),
            "noop_reindex_seconds": round(noop.seconds, 3),
            "noop_fraction_of_full": round(noop.seconds / full.seconds, 4),
        }
    print(
        f"embedder on {result['embed_backend']}  files {result['files']}  chunks {result['chunks']}\n"
        f"pipeline      {result['pipeline_chunks_per_s']:8.1f} chunks/s  ({result['pipeline_seconds']} s)\n"
        f"raw embedder  {result['raw_embedder_chunks_per_s']:8.1f} chunks/s  ({result['raw_embedder_seconds']} s)\n"
        f"ratio pipeline/raw      {result['ratio_pipeline_to_raw']:.3f}  (goal >= 0.85)\n"
        f"no-op re-index / full   {result['noop_fraction_of_full']:.4f}  (goal <= 0.05)",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
