"""The embedder on ONNX Runtime (CPU): the same sentence-transformers model, exported once, faster than torch.

The transformer of a sentence-transformers folder is exported once into the models cache
(`<cache>/<folder name>-onnx/`: `model.onnx`, its weights beside it, `export.json` naming what it was
made from), written beside and renamed into place. Every load checks the export against the torch
model on a probe batch of varied lengths; a cache that is unreadable or disagrees is exported again.
Tokenizer, truncation (`max_seq_length`), prompts and pooling are the sentence-transformers model's own.

Two precisions (`indexing.embed_precision`):
- "fp32": the torch vectors (max abs difference `TOLERANCE`).
- "int8": the MatMul weights quantised per output channel (ONNX Runtime's dynamic quantisation, into
  `model.int8.onnx` beside the export), activations quantised at run time. The embedder is
  compute-bound on a CPU, and int8 halves its cost; the vectors move a little (each probe vector's
  cosine to torch's at least `INT8_MIN_COSINE`). Per-tensor quantisation moved them much more
  (cosine down to 0.88) and is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

EXPORT_VERSION = 1
OPSET = 18
TOLERANCE = 1e-3  # max abs difference of normalised embeddings, ONNX against torch, on the probe
INT8_MIN_COSINE = 0.97  # the least cosine of an int8 probe vector to torch's (per-channel int8: about 0.985)
PRECISIONS = ("fp32", "int8")
INT8_NAME = "model.int8.onnx"
SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}
SUPPORTED_POOLING = {"mean", "cls", "max"}
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")

_LONG = (
    "The company reported revenue of 4.2 billion dollars for the fiscal year, an increase of eleven percent "
    "over the prior year, driven by growth in subscriptions and services across every region. "
)
PROBE = [
    "revenue",
    "What was the operating margin in fiscal 2022?",
    "   leading and trailing whitespace, kept as the tokenizer sees it   ",
    "Patients randomised to the intervention arm showed lower mortality at 30 days (p < 0.01).",
    _LONG * 2,
    _LONG * 12,  # well past a 256-token window: truncation must match
    "Ünïcödé, symbols % & $ and numbers 1,234.56 — dashes; tables | col | col |",
    "",
]


class OnnxUnavailable(RuntimeError):
    """The ONNX backend cannot serve this embedder here; the message says why."""


def missing_packages() -> list[str]:
    """The packages the ONNX backend needs that do not import here."""
    import importlib.util

    return [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]


def export_dir(folder: Path, cache_dir: Path) -> Path:
    """`<cache>/<name>-onnx` for a folder inside the cache (the embedded embedder), else with its path's hash."""
    folder, cache_dir = Path(folder).resolve(), Path(cache_dir).resolve()
    if folder.parent == cache_dir:
        return cache_dir / f"{folder.name}-onnx"
    return cache_dir / f"{folder.name}-{hashlib.sha256(str(folder).encode()).hexdigest()[:8]}-onnx"


def _fingerprint(folder: Path) -> dict[str, Any]:
    """What the export was made from: the folder, its config and weights files (size, mtime), the exporter."""
    import torch

    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and (path.suffix in {".json", ".safetensors", ".bin", ".txt"}):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    return {"version": EXPORT_VERSION, "opset": OPSET, "source": str(Path(folder).resolve()),
            "files": digest.hexdigest(), "torch": torch.__version__.split("+")[0]}


def _describe(st: Any) -> tuple[Any, str]:
    """(the transformer module, the pooling mode) of a sentence-transformers model we can export, else why not."""
    kinds = [type(m).__name__ for m in st]
    unsupported = [k for k in kinds if k not in SUPPORTED_MODULES]
    if unsupported or not kinds or kinds[0] != "Transformer":
        raise OnnxUnavailable(f"modules {kinds} (only Transformer, Pooling, Normalize are exported)")
    pooling = next((m for m in st if type(m).__name__ == "Pooling"), None)
    if pooling is None:
        raise OnnxUnavailable("no Pooling module")
    mode = pooling.pooling_mode
    mode = mode if isinstance(mode, str) else (mode[0] if len(mode) == 1 else "+".join(mode))
    if mode not in SUPPORTED_POOLING:
        raise OnnxUnavailable(f"pooling {mode!r} (only {sorted(SUPPORTED_POOLING)})")
    if not getattr(pooling, "include_prompt", True):
        raise OnnxUnavailable("pooling excludes the prompt")
    return st[0], mode


def _input_names(tokenizer: Any) -> list[str]:
    names = [n for n in INPUT_NAMES if n in tokenizer.model_input_names]
    if names[:2] != ["input_ids", "attention_mask"]:
        raise OnnxUnavailable(f"tokenizer inputs {tokenizer.model_input_names} (needs input_ids and attention_mask)")
    return names


def export(st: Any, folder: Path, cache_dir: Path) -> Path:
    """Export the transformer of `st` (loaded from `folder`) to `<cache>/<name>-onnx/model.onnx`, atomically."""
    import torch

    transformer, _ = _describe(st)
    model = transformer.auto_model
    tokenizer = st.tokenizer
    names = _input_names(tokenizer)
    target = export_dir(folder, cache_dir)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    class Wrapper(torch.nn.Module):  # keyword arguments: a positional BERT call binds token_type_ids wrongly
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    sample = tokenizer(["a short one", "a somewhat longer sentence, to have padding"], padding=True,
                       return_tensors="pt")
    previous = getattr(model.config, "_attn_implementation", None)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    started = time.perf_counter()
    try:
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")  # plain ops: what the exporter and ORT handle best
        batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
        quiet.setLevel(logging.ERROR)  # "torchvision is not installed" and other notes of no use here
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Wrapper(model.eval()).eval(), tuple(sample[n] for n in names), str(tmp / "model.onnx"),
                input_names=names, output_names=["last_hidden_state"],
                dynamic_shapes=tuple({0: batch, 1: sequence} for _ in names),
                opset_version=OPSET, dynamo=True, verbose=False,
            )
        (tmp / "export.json").write_text(json.dumps(
            {**_fingerprint(folder), "inputs": names, "seconds": round(time.perf_counter() - started, 1)}))
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxUnavailable(f"exporting {folder} to ONNX failed: {reason}") from err
    finally:
        quiet.setLevel(level)
        if previous and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(previous)
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:  # another process put its export in place first: use that one
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return target / "model.onnx"


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle pool threads sleep instead of spinning: the parse workers and the store writes share the cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEmbedding(BaseEmbedding):
    """A llama-index embedding running the sentence-transformers model's transformer on ONNX Runtime.

    `_model` is the sentence-transformers model itself (its tokenizer is `_model.tokenizer`, as with
    HuggingFaceEmbedding); only the transformer's forward pass runs on ONNX Runtime.
    """

    max_length: int = 256
    normalize: bool = True
    backend: str = "onnx"
    # Texts per ONNX Runtime run. Unlike torch, ORT on the CPU slows down with wide batches (the attention
    # tensors outgrow the caches): 384 passages of ~230 tokens on 2 cores took 3.1 s in runs of 8, 3.7 s
    # of 16, 4.5 s of 32 and 6.0 s of 64 (torch: 7.3 s in batches of 64). embed_batch_size stays the number
    # of texts llama-index hands over per call.
    run_rows: int = 8

    _model: Any = PrivateAttr()
    _session: Any = PrivateAttr()
    _names: list[str] = PrivateAttr()
    _pooling: str = PrivateAttr()
    _prompts: dict[str, str] = PrivateAttr()
    _pad_id: int = PrivateAttr()

    def __init__(self, st: Any, session: Any, model_name: str, embed_batch_size: int) -> None:
        _, pooling = _describe(st)
        super().__init__(model_name=model_name, embed_batch_size=embed_batch_size,
                         max_length=st.max_seq_length or st.tokenizer.model_max_length)
        self._model = st
        self._session = session
        self._names = _input_names(st.tokenizer)
        self._pooling = pooling
        self._prompts = dict(getattr(st, "prompts", None) or {})
        self._pad_id = st.tokenizer.pad_token_id or 0

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    @property
    def tokenizer(self) -> Any:
        return self._model.tokenizer

    def encode(self, texts: list[str], prompt: str = "", batch_size: int | None = None) -> np.ndarray:
        """Normalised embeddings, one row a text, run in batches of similar token length.

        A batch holds `batch_size` (default embed_batch_size) texts, at most `run_rows`.
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        tokenizer = self._model.tokenizer
        inputs = [prompt + t for t in texts] if prompt else list(texts)
        encoded = tokenizer(inputs, truncation="longest_first", max_length=self.max_length, padding=False)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
        size = max(1, min(batch_size or self.embed_batch_size, self.run_rows))
        out: np.ndarray | None = None
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            width = lengths[rows[0]]
            feed = {}
            for name in self._names:
                pad = self._pad_id if name == "input_ids" else 0
                array = np.full((len(rows), width), pad, dtype=np.int64)
                for r, i in enumerate(rows):
                    values = encoded[name][i]
                    array[r, :len(values)] = values
                feed[name] = array
            if "attention_mask" not in feed:
                feed_mask = np.zeros((len(rows), width), dtype=np.int64)
                for r, i in enumerate(rows):
                    feed_mask[r, :lengths[i]] = 1
            else:
                feed_mask = feed["attention_mask"]
            hidden = self._session.run(["last_hidden_state"], feed)[0]
            pooled = self._pool(hidden, feed_mask)
            if out is None:
                out = np.empty((len(inputs), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled
        assert out is not None
        return out

    def _pool(self, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        m = mask[..., None].astype(np.float32)
        if self._pooling == "mean":
            vectors = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        elif self._pooling == "cls":
            vectors = hidden[:, 0]
        else:  # max
            vectors = np.where(m > 0, hidden, -1e9).max(axis=1)
        if self.normalize:
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors.astype(np.float32)

    def _embed(self, texts: list[str], kind: str) -> list[list[float]]:
        return self.encode(texts, self._prompts.get(kind, "") or "").tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query], "query")[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text], "text")[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embedding(text)

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts, "text")


def _probe(embedding: OnnxEmbedding) -> tuple[np.ndarray, np.ndarray]:
    """(torch's, ONNX's) normalised embeddings of the probe; ONNX in small batches, so several paddings."""
    reference = embedding._model.encode(PROBE, batch_size=len(PROBE), normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(reference, dtype=np.float32), embedding.encode(PROBE, batch_size=3)


def check(embedding: OnnxEmbedding) -> float:
    """Max abs difference of the probe's normalised embeddings, ONNX against the torch model."""
    reference, got = _probe(embedding)
    return float(np.abs(reference - got).max())


def least_cosine(embedding: OnnxEmbedding) -> float:
    """The least cosine of a probe vector, ONNX against the torch model."""
    reference, got = _probe(embedding)
    return float((reference * got).sum(axis=1).min())


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Silence the quantiser's advice, which it logs on the root logger ("consider pre-processing").

    `logging.warning` on a root logger without handlers would also install a stderr handler for the
    rest of the process; a NullHandler for the duration stops that.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder:
        root.addHandler(placeholder)
    disabled = logging.root.manager.disable
    logging.disable(max(disabled, logging.WARNING))
    try:
        yield
    finally:
        logging.disable(disabled)
        if placeholder:
            root.removeHandler(placeholder)


def quantize_int8(model_path: Path) -> Path:
    """`model.int8.onnx` beside `model_path`, made when absent: MatMul weights int8 per output channel.

    `reduce_range` (7-bit weights) keeps the int8 products from saturating on CPUs without VNNI.
    Written beside and renamed into place, so a killed run leaves no half-written model.
    """
    target = model_path.with_name(INT8_NAME)
    if target.is_file():
        return target
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    work = model_path.parent / f".int8-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        # The export keeps its weights in a side file, which the quantiser does not follow: inline them.
        onnx.save(onnx.load(str(model_path)), str(work / "inlined.onnx"))
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(work / "inlined.onnx"), str(work / INT8_NAME), weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=True)
        os.replace(work / INT8_NAME, target)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxUnavailable(f"quantising {model_path} to int8 failed: {reason}") from err
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def load_onnx(st: Any, folder: Path, cache_dir: Path, batch_size: int, precision: str = "fp32") -> OnnxEmbedding:
    """The ONNX embedding of `st` (loaded from `folder`), exporting it into the cache when absent or stale.

    `precision` "int8" runs the int8 model made from the export (once). A cached model that fails to
    load or disagrees with torch (fp32: beyond `TOLERANCE`; int8: a cosine under `INT8_MIN_COSINE`)
    is made again once; raises OnnxUnavailable naming the folder and the reason when that fails too.
    """
    if precision not in PRECISIONS:
        raise OnnxUnavailable(f"precision {precision!r} (one of {', '.join(PRECISIONS)})")
    import torch

    missing = missing_packages()
    if missing:
        raise OnnxUnavailable(f"packages {', '.join(missing)} are not installed")
    _describe(st)
    target = export_dir(folder, cache_dir)
    path = target / "model.onnx"
    threads = max(1, torch.get_num_threads())
    problem = ""
    for attempt in range(2):
        if attempt or not _fresh(target, folder):
            path = export(st, folder, cache_dir)  # a new export folder: any int8 model is made again too
        try:
            run = quantize_int8(path) if precision == "int8" else path
            embedding = OnnxEmbedding(st, _session(run, threads), str(folder), batch_size)
        except Exception as err:
            problem = f"the export in {target} does not load ({str(err).splitlines()[0][:200]})"
            continue
        if precision == "int8":
            cosine = least_cosine(embedding)
            if cosine >= INT8_MIN_COSINE:
                return embedding
            problem = (f"the int8 model in {target} moved the vectors too far from torch's (cosine {cosine:.3f}, "
                       f"least allowed {INT8_MIN_COSINE:g})")
            continue
        diff = check(embedding)
        if diff < TOLERANCE:
            return embedding
        problem = f"the export in {target} differs from torch by {diff:.2g} (tolerance {TOLERANCE:g})"
    raise OnnxUnavailable(f"ONNX embedder for {folder}: {problem}")


def _fresh(target: Path, folder: Path) -> bool:
    try:
        recorded = json.loads((target / "export.json").read_text())
    except (OSError, ValueError):
        return False
    current = _fingerprint(folder)
    return (target / "model.onnx").is_file() and all(recorded.get(k) == v for k, v in current.items())
