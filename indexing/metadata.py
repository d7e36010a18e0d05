"""Document metadata: `_meta.yaml` folders and `FILE.meta.yaml` sidecars, flattened for Chroma.

Precedence, lowest first: values given on the command line, each `_meta.yaml` from the indexed root
down to the file's folder, then the file's own sidecar.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

FOLDER_META = "_meta.yaml"
SIDECAR_SUFFIX = ".meta.yaml"
GROUP_FLAG_PREFIX = "grp_"
PUBLIC_FLAG = "public"
# Keys the indexer sets itself; user metadata may not overwrite them.
RESERVED_KEYS = frozenset({"source", "file_name", "file_type", "page", "heading", "chunk", PUBLIC_FLAG})


class MetadataError(ValueError):
    """A metadata file is unreadable or malformed; the message names the file."""


def is_metadata_file(path: Path) -> bool:
    return path.name == FOLDER_META or path.name.endswith(SIDECAR_SUFFIX)


@lru_cache(maxsize=4096)
def _read_yaml(path: Path, mtime_ns: int) -> dict[str, Any]:  # mtime in the key: a changed file is reread
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise MetadataError(f"{path}: cannot read metadata: {str(err).splitlines()[0]}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: metadata must be a mapping of key: value, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def read_meta_file(path: Path) -> dict[str, Any]:
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return {}
    return dict(_read_yaml(path, mtime))


def resolve_metadata(file: Path, root: Path, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge base values, every `_meta.yaml` from `root` down to the file's folder, and the sidecar."""
    meta: dict[str, Any] = dict(base or {})
    root = root if root.is_dir() else root.parent
    folders = [file.parent]
    while folders[-1] != root and root in folders[-1].parents:
        folders.append(folders[-1].parent)
    for folder in reversed(folders):
        meta.update(read_meta_file(folder / FOLDER_META))
    meta.update(read_meta_file(file.with_name(file.name + SIDECAR_SUFFIX)))
    return meta


def normalise_groups(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, (list, tuple, set)) else str(value).split(",")
    return sorted({str(g).strip().lower() for g in items if str(g).strip()})


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return json.dumps(value, default=str, sort_keys=True)


def flatten_for_store(meta: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Chroma accepts only scalar values: lists become comma-joined strings, dates ISO strings.

    `groups` additionally becomes one boolean flag per group plus `public`, because a Chroma
    `where` filter cannot test membership in a string but can test a flag.
    """
    flat: dict[str, str | int | float | bool] = {}
    for key, value in meta.items():
        if value is None or key in RESERVED_KEYS or key.startswith(GROUP_FLAG_PREFIX):
            continue
        if key == "groups":
            continue
        flat[key] = _scalar(value)
    groups = normalise_groups(meta.get("groups"))
    if groups:
        flat["groups"] = ",".join(groups)
    for g in groups:
        flat[GROUP_FLAG_PREFIX + g] = True
    flat[PUBLIC_FLAG] = not groups
    return flat


def metadata_hash(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()


_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_key_values(pairs: list[str] | None, option: str = "--meta") -> dict[str, Any]:
    """Parse `K=V` strings from the command line; `groups=a,b` becomes a list."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            raise MetadataError(f"{option} {pair!r}: expected KEY=VALUE, e.g. {option} doc_type=bid")
        out[key] = normalise_groups(value) if key == "groups" else value.strip()
    return out


def visibility_filter(groups: list[str] | None) -> dict[str, Any] | None:
    """A Chroma `where` clause that admits public chunks and those of the viewer's groups.

    `None` means unrestricted (an operator on the command line with no `--user`).
    """
    if groups is None:
        return None
    clauses: list[dict[str, Any]] = [{PUBLIC_FLAG: True}]
    clauses += [{GROUP_FLAG_PREFIX + g: True} for g in normalise_groups(groups)]
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _equality(key: str, value: Any) -> dict[str, Any]:
    """`K=V` from a command line is a string; metadata from YAML may be a number or a boolean.

    Match either form, so `--where year=2024` finds `year: 2024` as well as `year: "2024"`.
    """
    if not isinstance(value, str):
        return {key: value}
    alternatives: list[Any] = [value]
    low = value.strip().lower()
    if low in ("true", "false"):
        alternatives.append(low == "true")
    else:
        for cast in (int, float):
            try:
                alternatives.append(cast(value))
                break
            except ValueError:
                pass
    if len(alternatives) == 1:
        return {key: value}
    return {"$or": [{key: v} for v in alternatives]}


def where_clause(filters: dict[str, Any] | None, groups: list[str] | None = None) -> dict[str, Any] | None:
    """Combine `K=V` equality filters with the visibility filter into one Chroma `where`."""
    clauses: list[dict[str, Any]] = []
    for key, value in (filters or {}).items():
        if key == "groups":
            clauses += [{GROUP_FLAG_PREFIX + g: True} for g in normalise_groups(value)]
        else:
            clauses.append(_equality(key, value))
    vis = visibility_filter(groups)
    if vis is not None:
        clauses.append(vis)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
