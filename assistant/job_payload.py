"""A queued job's request as JSON, so that another process (a worker) can rebuild it and do the work.

Requests are dataclasses (TrainRequest, DatagenRequest with its SFT/DPO options, EvalOptions with its
Viewer) holding paths, lists and dicts. `encode` writes a dataclass as its fields plus `__type__`
("module:Class") and a Path as `{"__path__": ...}`; `decode` rebuilds them, importing only the project's
own packages, so a row in the database cannot make a worker import anything else.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

_PACKAGES = ("assistant.", "finetune.", "eval.", "indexing.")


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__type__": f"{type(value).__module__}:{type(value).__qualname__}", **fields}
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"a job request cannot hold a {type(value).__name__} ({value!r:.80})")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__path__" in value:
        return Path(value["__path__"])
    if "__type__" in value:
        cls = _dataclass(value["__type__"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - known - {"__type__"})
        if unknown:  # written by another version of the code: guessing what they meant could do the wrong work
            raise ValueError(f"its {cls.__name__} has field(s) this version does not know: {', '.join(unknown)}")
        # Fields added since the job was queued take their defaults; a missing required one fails below.
        return cls(**{k: decode(v) for k, v in value.items() if k != "__type__"})
    return {k: decode(v) for k, v in value.items()}


def _dataclass(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_PACKAGES):
        raise ValueError(f"a job request names {name!r}, outside the project's packages")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"a job request names {name!r}, which is not a request type")
    return cls
