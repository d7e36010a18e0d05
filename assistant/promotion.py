"""Which engine versions staff may use: promotion, recorded beside the versions in HOME/engines/NAME/.

An engine version reaches the chat's engine selector and `/v1/models` only once promoted. A version
with an evaluation gate result (`gate.json` in its folder, written by `assistant eval --gate`) is
promoted only if it passed; a version without one needs `force` (an admin's explicit decision), whose
`reason` is recorded in promoted.json beside who forced it.
A `register` step (a vLLM server loading the version's adapter) runs after the gate and before promoted.json
is written, so a refusal leaves the promotion as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.engines import EngineError, EngineRecord, EngineRegistry
from assistant.files import atomic_write_text
from eval.gate import read_gate_file

PROMOTED_FILE = "promoted.json"


def _promoted_file(registry: EngineRegistry, name: str) -> Path:
    return registry.dir / name / PROMOTED_FILE


def gate_result(record: EngineRecord) -> dict[str, Any] | None:
    """The version's last evaluation gate verdict (eval writes and reads gate.json; this is its one reader here)."""
    return read_gate_file(Path(record.folder)) if record.folder else None


def _gate_passed(gate: dict[str, Any]) -> bool:
    return bool(gate.get("passed", gate.get("pass", False)))


def promote(registry: EngineRegistry, ref: str, force: bool = False, actor: str | None = None,
            register: Callable[[EngineRecord], None] | None = None, reason: str | None = None) -> EngineRecord:
    """Promote NAME (its latest version) or NAME@N. Raises EngineError when the gate says no, or what
    `register` raises (then nothing is recorded). `reason` (why it was forced) is recorded as given."""
    record = registry.record(ref)
    gate = gate_result(record)
    if not force:
        if gate is None:
            raise EngineError(
                f"{record.ref} has no evaluation gate result: run `assistant eval --gate {record.ref} --against base "
                "--questions F` first, or promote with force"
            )
        if not _gate_passed(gate):
            raise EngineError(f"{record.ref} did not pass its evaluation gate ({gate.get('reason', 'worse')}); "
                              "retrain it, or promote with force")
    if register is not None:
        register(record)
    # `created` pins the promotion to this very version: a version removed and trained again under the
    # same number is a different model, and must be evaluated and promoted on its own.
    doc = {"version": record.version, "ref": record.ref, "forced": force and not (gate and _gate_passed(gate)),
           "by": actor, "created": record.created}
    if reason:
        doc["reason"] = reason
    atomic_write_text(_promoted_file(registry, record.name), json.dumps(doc, indent=2))
    return record


def promotion(registry: EngineRegistry, name: str) -> dict[str, Any] | None:
    """NAME's promoted.json ({"version","ref","forced","by","created","reason"?}), or None; whether it still
    names an existing version is `promoted_refs`'s to say."""
    try:
        doc = json.loads(_promoted_file(registry, name).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def demote(registry: EngineRegistry, name: str) -> None:
    _promoted_file(registry, name).unlink(missing_ok=True)


def promoted_refs(registry: EngineRegistry) -> dict[str, str]:
    """engine name -> its promoted version's ref, for versions that still exist."""
    out: dict[str, str] = {}
    for name in registry.names():
        doc = promotion(registry, name)
        if doc is None:
            continue
        try:
            record = registry.record(f"{name}@{int(doc['version'])}")
        except (TypeError, ValueError, KeyError, EngineError):
            continue
        if doc.get("created", record.created) == record.created:
            out[name] = record.ref
    return out
