"""Import RAGAS so that it stays offline (ARCHITECTURE.md, "Offline").

- RAGAS_DO_NOT_TRACK: no usage analytics sent home.
- tiktoken's o200k_base (RAGAS counts tokens with it) is normally downloaded; llama-index-core ships the
  file, so TIKTOKEN_CACHE_DIR points at that copy unless the user set one.
- RAGAS's deprecation warnings (evaluate(), the legacy metric classes) are its own business, not the user's.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from types import ModuleType


def prepare_environment() -> None:
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("llama_index.core")
        if spec and spec.origin:
            cache = Path(spec.origin).parent / "_static" / "tiktoken_cache"
            if cache.is_dir():
                os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


def import_ragas() -> ModuleType:
    prepare_environment()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ragas

    for category in (DeprecationWarning, FutureWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"ragas(\..*)?")
    return ragas
