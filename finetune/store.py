"""Dataset files: NAME.jsonl (train), NAME.val.jsonl (validation), NAME.summary.json, all written atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def val_path(train: Path) -> Path:
    """The validation file beside a training file: sft.jsonl -> sft.val.jsonl."""
    stem = train.name[: -len(".jsonl")] if train.name.endswith(".jsonl") else train.name
    return train.with_name(f"{stem}.val.jsonl")


def summary_path(train: Path) -> Path:
    stem = train.name[: -len(".jsonl")] if train.name.endswith(".jsonl") else train.name
    return train.with_name(f"{stem}.summary.json")


def resolve_out(out: str | None, datasets_dir: Path, kind: str) -> Path:
    """--out: a bare NAME is HOME/datasets/NAME.jsonl, a path is used as given, none is HOME/datasets/KIND.jsonl."""
    if not out:
        return datasets_dir / f"{kind}.jsonl"
    if "/" not in out and os.sep not in out:
        return datasets_dir / (out if out.endswith(".jsonl") else f"{out}.jsonl")
    return Path(out).expanduser().absolute()


def _atomic_write(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    _atomic_write(path, (json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_dataset(
    out: Path, train: list[dict[str, Any]], val: list[dict[str, Any]], summary: dict[str, Any]
) -> Path | None:
    """Write the set; returns the validation file (None, and any stale one removed, when there is none)."""
    val_file = val_path(out)
    if val:
        write_jsonl(val_file, val)
    else:
        val_file.unlink(missing_ok=True)
    write_jsonl(out, train)  # the training file last: it is what `train --data` names
    _atomic_write(summary_path(out), [json.dumps(summary, indent=2, ensure_ascii=False) + "\n"])
    return val_file if val else None
