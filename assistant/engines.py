"""Engines: the base model plus a chain of LoRA adapters, versioned in HOME/engines/NAME/vN/.

Each version folder is a PEFT adapter (adapter_config.json + adapter_model.safetensors) and an
engine.json record. An engine trained on top of another names it as `parent` ("NAME@N"); serving
it activates the whole chain, root first, each adapter's delta added to the base weights.

EngineManager keeps ONE base model in memory and loads every adapter into it once, by name; each
request is a row of a shared batch (assistant/llm/batching.py) with its own PEFT adapter name (a chain
pre-combined into one adapter, "__base__" for the base), so one request can never see another's adapters.
With llm.api_base set, engines are the endpoint's models instead: with llm.serving = "openai" an engine name is
the endpoint's model name as it is; with "vllm" each version is exported and registered with the vLLM server
as one LoRA adapter on first use or at promotion (assistant/vllm_serving.py), and served by its served name.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.config import LLMSettings, Settings
from assistant.files import atomic_write_text
from assistant.llm.base import GenerationBackend, GenerationOptions, LLMUnavailable, Message

ENGINE_FILE = "engine.json"
BASE = "base"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")


class EngineError(LLMUnavailable):
    """An engine that cannot be served: unknown, damaged, or inconsistent. The message says which and what to do."""


def check_engine_name(name: str) -> str:
    if not _NAME.match(name) or name == BASE:
        raise EngineError(
            f"invalid engine name {name!r}: use letters, digits, '-' and '_' (at most 64, not 'base')"
        )
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """"NAME" -> (NAME, None) (the latest version); "NAME@2" -> (NAME, 2)."""
    name, sep, version = ref.strip().partition("@")
    if sep and not version.isdigit():
        raise EngineError(f"invalid engine reference {ref!r}: expected NAME or NAME@VERSION, e.g. company@2")
    return name, int(version) if sep else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class EngineRecord:
    """engine.json. `folder` is where it was read from (not stored)."""

    name: str
    version: int
    parent: str | None = None
    base: str = "embedded"
    data_sha256: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    folder: Path | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "parent": self.parent, "base": self.base,
            "data_sha256": self.data_sha256, "hyperparameters": self.hyperparameters, "metrics": self.metrics,
            "created": self.created,
        }

    @classmethod
    def read(cls, folder: Path) -> EngineRecord:
        path = folder / ENGINE_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise EngineError(f"{path} is missing; retrain this engine version or delete {folder}") from err
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise EngineError(f"{path} is unreadable ({err}); retrain this engine version or delete {folder}") from err
        problems = []
        if not isinstance(data, dict):
            data, problems = {}, ["not a JSON object"]
        for key, kind in (("name", str), ("version", int), ("base", str)):
            if not isinstance(data.get(key), kind):
                problems.append(f'"{key}" must be a {kind.__name__}')
        for key, kinds in (("parent", (str, type(None))), ("data_sha256", (str, type(None))),
                           ("hyperparameters", dict), ("metrics", dict), ("created", str)):
            if key in data and not isinstance(data[key], kinds):
                problems.append(f'"{key}" has the wrong type')
        if problems:
            raise EngineError(f"{path} is corrupt: {'; '.join(problems)}; retrain it or delete {folder}")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "folder"}
        return cls(**known, folder=folder)


def write_engine_record(folder: Path, record: EngineRecord) -> Path:
    """Write folder/engine.json atomically (beside, then rename): a killed process leaves the old one or none."""
    check_engine_name(record.name)
    if record.parent is not None:
        parse_ref(record.parent)
    folder.mkdir(parents=True, exist_ok=True)
    target = atomic_write_text(folder / ENGINE_FILE, json.dumps(record.to_json(), indent=2, ensure_ascii=False) + "\n")
    record.folder = folder
    return target


def publish_engine(engines_dir: Path, staged: Path, record: EngineRecord) -> Path:
    """Make a trained adapter folder a registered version: record written into it, then the whole folder
    renamed to engines/NAME/vN in one step. Stage it under engines_dir (same file system), e.g.
    engines/NAME/.staging-xyz; the version must be free (EngineRegistry.next_version)."""
    target = engines_dir / check_engine_name(record.name) / f"v{record.version}"
    if target.exists():
        raise EngineError(f"{target} already exists; engine {record.ref} is taken, use the next version")
    write_engine_record(staged, record)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    record.folder = target
    return target


@dataclass
class ResolvedEngine:
    record: EngineRecord
    chain: list[EngineRecord]  # root ancestor first, this engine last

    @property
    def adapters(self) -> list[Path]:
        return [r.folder for r in self.chain if r.folder is not None]


class EngineRegistry:
    def __init__(self, engines_dir: Path) -> None:
        self.dir = engines_dir

    def _version_dirs(self, name: str) -> dict[int, Path]:
        folder = self.dir / name
        if not folder.is_dir():
            return {}
        found = {}
        for child in folder.iterdir():
            match = _VERSION_DIR.match(child.name)
            if match and child.is_dir():
                found[int(match.group(1))] = child
        return dict(sorted(found.items()))

    def names(self) -> list[str]:
        """Registered engine names (those with at least one version folder)."""
        if not self.dir.is_dir():
            return []
        return sorted(p.name for p in self.dir.iterdir() if _NAME.match(p.name) and self._version_dirs(p.name))

    def list(self, all_versions: bool = False) -> list[EngineRecord]:
        """The latest readable version of each engine (every version with all_versions), by name then version.
        Damaged versions are left out here; resolving them says what is wrong."""
        records = []
        for name in self.names():
            readable = []
            for folder in self._version_dirs(name).values():
                try:
                    readable.append(EngineRecord.read(folder))
                except EngineError:
                    continue
            records.extend(readable if all_versions else readable[-1:])
        return records

    def next_version(self, name: str) -> int:
        return max(self._version_dirs(check_engine_name(name)), default=0) + 1

    def record(self, ref: str) -> EngineRecord:
        """One version's record, its adapter files checked (no parents followed)."""
        name, version = parse_ref(ref)
        versions = self._version_dirs(name) if _NAME.match(name) else {}
        if not versions:
            known = ", ".join([BASE, *self.names()])
            raise EngineError(f"unknown engine {name!r}; known engines: {known} (see `assistant engines list`)",
                              "not_found")
        if version is None:
            version = max(versions)
        if version not in versions:
            listed = ", ".join(str(v) for v in versions)
            raise EngineError(f"engine {name} has no version {version}; its versions: {listed}", "not_found")
        folder = versions[version]
        record = EngineRecord.read(folder)
        if (record.name, record.version) != (name, version):
            raise EngineError(
                f"{folder / ENGINE_FILE} says {record.ref} but lies in {name}/v{version}; fix the file or the folder"
            )
        missing = [f for f in (ADAPTER_CONFIG,) if not (folder / f).is_file()]
        if not any((folder / w).is_file() for w in ADAPTER_WEIGHTS):
            missing.append(ADAPTER_WEIGHTS[0])
        if missing:
            raise EngineError(
                f"engine {record.ref}: the adapter folder {folder} lacks {', '.join(missing)}; "
                f"retrain it or remove it (`assistant engines remove {name}`)"
            )
        return record

    def resolve(self, ref: str) -> ResolvedEngine:
        """The engine (latest version unless NAME@N) and its adapter chain, root ancestor first."""
        record = self.record(ref)
        chain = [record]
        seen = [record.ref]
        while chain[0].parent is not None:
            child = chain[0]
            parent_ref = child.parent
            _, version = parse_ref(parent_ref)
            if version is None:
                raise EngineError(
                    f"engine {child.ref}: parent {parent_ref!r} names no version; write it as NAME@N in "
                    f"{child.folder / ENGINE_FILE if child.folder else ENGINE_FILE}"
                )
            if parent_ref in seen:
                loop = " -> ".join([*seen, parent_ref])  # child, its parent, ... back to the repeat
                raise EngineError(
                    f"engine {record.ref}: its parents form a cycle ({loop}); fix \"parent\" in engine.json"
                )
            try:
                parent = self.record(parent_ref)
            except EngineError as err:
                raise EngineError(f"engine {child.ref} is built on {parent_ref}, which cannot be used: {err}") from err
            if parent.base != child.base:
                raise EngineError(
                    f"engine {child.ref} is on base {child.base!r} but its parent {parent.ref} on {parent.base!r}; "
                    "a chain must share one base model: retrain it"
                )
            seen.append(parent.ref)
            chain.insert(0, parent)
        return ResolvedEngine(record, chain)


def _same_base(record_base: str, model: str) -> bool:
    if record_base == model:
        return True
    if "embedded" in (record_base, model):
        return False
    return Path(record_base).expanduser().resolve() == Path(model).expanduser().resolve()


class EngineBackend:
    """One engine on the manager's shared base model: activates its adapter chain, then generates."""

    def __init__(self, manager: EngineManager, name: str, chain: list[EngineRecord]) -> None:
        self.manager = manager
        self.name = name
        self.chain = chain

    @property
    def context_window(self) -> int:
        return self.manager.base_llm().context_window

    def count_tokens(self, text: str) -> int:
        return self.manager.base_llm().count_tokens(text)

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None) -> str:
        llm = self.manager.base_llm()
        return llm.generate(messages, max_new_tokens, options, adapter=self.manager.row_adapter(self.chain))

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None) -> Iterator[str]:
        llm = self.manager.base_llm()
        yield from llm.stream(messages, max_new_tokens, options, adapter=self.manager.row_adapter(self.chain))


class EngineManager:
    def __init__(
        self, settings: LLMSettings, models_dir: Path, engines_dir: Path,
        notify: Callable[[str], None] | None = None, lora_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.models_dir = models_dir
        self.registry = EngineRegistry(engines_dir)
        self.notify = notify
        # Where versions are exported for a vLLM server (llm.lora_dir); the home's served-adapters by default.
        self.lora_dir = lora_dir or settings.lora_folder(engines_dir.parent)
        self._serving: Any = None  # the LoraServing, built on first use in vllm mode
        self.base_loads = 0  # how many times the base model was loaded: once per manager
        self._llm: Any = None
        self._peft: Any = None  # the PeftModel around the base, once an adapter is loaded
        self._adapters: dict[str, str] = {}  # engine ref -> PEFT adapter name
        self._active: tuple[str, ...] | None = ()  # adapter names now active; () = none (the plain base)
        self._load_lock = threading.Lock()

    @property
    def remote(self) -> bool:
        return bool(self.settings.api_base)

    def names(self) -> list[str]:
        return [BASE, *self.registry.names()]

    def get(self, name: str = BASE) -> GenerationBackend:
        """A backend for "base", "NAME" (its latest version) or "NAME@N". Raises EngineError (an
        LLMUnavailable) for an engine that cannot be served."""
        name = (name or BASE).strip()
        if self.remote:
            return self._remote(name)
        if name == BASE:
            return EngineBackend(self, BASE, [])
        resolved = self.registry.resolve(name)
        if not _same_base(resolved.record.base, self.settings.model):
            raise EngineError(
                f"engine {resolved.record.ref} was trained on base {resolved.record.base!r} but llm.model is "
                f"{self.settings.model!r}; set llm.model to its base or retrain it"
            )
        return EngineBackend(self, resolved.record.ref, resolved.chain)

    # -- a remote server ------------------------------------------------------------------------------
    @property
    def serving(self) -> Any:
        """The LoraServing of a vLLM server (llm.serving = "vllm"), else None: engines are then the
        endpoint's own model names and nothing is registered."""
        if self._serving is None and self.remote and self.settings.serving == "vllm":
            from assistant.vllm_serving import LoraServing

            with self._load_lock:  # one per manager: it remembers what this process registered
                if self._serving is None:
                    # Not resolved on this machine: it names the folder as the server sees it (a shared mount).
                    on_server = self.settings.lora_dir_on_server or str(self.lora_dir)
                    self._serving = LoraServing(self.settings, self.models_dir, self.lora_dir,
                                                on_server.rstrip("/"), self.notify)
        return self._serving

    def _remote(self, name: str) -> GenerationBackend:
        from assistant.llm.openai_backend import OpenAIBackend

        if name == BASE:
            return OpenAIBackend(self.settings, model=self.settings.model, name=BASE)
        if self.serving is None:
            return OpenAIBackend(self.settings, model=name, name=name)
        # Resolved here as locally (an unknown engine is not found), then served as one adapter.
        return self.serving.backend(self.registry.resolve(name).chain)

    def publish(self, record: EngineRecord) -> None:
        """Make this version servable before it is promoted: on a vLLM server, export and register it (a
        refusal raises, and the caller records nothing); elsewhere nothing to do."""
        if self.serving is not None:
            self.serving.ensure_served(self.registry.resolve(record.ref).chain, again=True)

    def withdraw(self, refs: list[str], forget_export: bool = False) -> None:
        """Unload these versions from a vLLM server (demoted or removed); a silent server is only warned about."""
        if self.serving is not None:
            for ref in refs:
                self.serving.withdraw(ref, forget_export)

    def offered(self, refs: list[str]) -> list[str]:
        """Of these engine refs, those a client can really chat with: on a vLLM server, base and the versions
        it lists by served name; elsewhere all of them."""
        return refs if self.serving is None else self.serving.offered(refs, BASE)

    def load(self) -> dict[str, int] | None:
        """The local model's batch now: rows generating and requests waiting (None: not loaded, or remote)."""
        if self.remote or self._llm is None:
            return None
        batcher = self._llm.batcher
        return {"generating": len(batcher.running), "waiting": len(batcher.waiting),
                "max_batch": batcher.max_batch, "max_queue": batcher.max_queue}

    # -- the shared model ----------------------------------------------------------------------------
    def base_llm(self) -> Any:
        """The one LocalLLM, loaded on first use."""
        if self._llm is None:
            with self._load_lock:
                if self._llm is None:
                    from assistant.llm.embedded import resolve_llm_folder
                    from assistant.llm.local import LocalLLM

                    folder = resolve_llm_folder(self.settings.model, self.models_dir, self.notify)
                    if self.notify:
                        self.notify(f"Loading {folder.name}")
                    llm = LocalLLM(folder, self.settings)
                    self.base_loads += 1
                    self._llm = llm
        return self._llm

    def row_adapter(self, chain: list[EngineRecord]) -> str | None:
        """The one PEFT adapter a batch row runs this chain with (None: the base): its adapters loaded once,
        a chain of several combined once into one in-memory adapter (ranks concatenated: exact)."""
        if not chain:
            return None
        from finetune.adapters import combine_loaded

        llm = self.base_llm()
        with llm.lock:  # never in the middle of a batch
            names = [self._load_adapter(record) for record in chain]
            combined = combine_loaded(self._peft, names, "chain__" + "__".join(names))
            self._peft.eval()
        return combined

    def activate(self, chain: list[EngineRecord]) -> None:
        """Make exactly this chain's adapters active (none for the base), for a caller that runs the model
        itself. Call with the model's lock held. (The batched generate passes per-row adapters instead.)"""
        names = tuple(self._load_adapter(record) for record in chain)
        if not names:
            if self._peft is not None:
                self._peft.base_model.disable_adapter_layers()
        else:
            self._peft.base_model.enable_adapter_layers()
            self._peft.base_model.set_adapter(list(names), inference_mode=True)
        self._active = names

    def _load_adapter(self, record: EngineRecord) -> str:
        """Load one version's adapter into the shared model once; its PEFT name."""
        if record.ref in self._adapters:
            return self._adapters[record.ref]
        from peft import PeftModel

        adapter_name = f"{record.name}__v{record.version}"  # PEFT names become module keys: no '.' or '@'
        folder = str(record.folder)
        try:
            with warnings.catch_warnings():
                # PEFT still reads a deprecated transformers attribute; that FutureWarning is not the user's concern.
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                if self._peft is None:
                    self._peft = PeftModel.from_pretrained(self.base_llm().model, folder, adapter_name=adapter_name)
                    self.base_llm().peft = self._peft  # every later request runs on it, "__base__" rows too
                    self._active = None  # from_pretrained activates the new adapter
                else:
                    self._peft.load_adapter(folder, adapter_name=adapter_name)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
            raise EngineError(
                f"engine {record.ref}: the adapter in {folder} does not load onto {self.base_llm().name} "
                f"({' '.join(str(err).split())[:300]}); retrain it or remove it"
            ) from err
        self._peft.eval()
        self._adapters[record.ref] = adapter_name
        return adapter_name


def build_engine_manager(settings: Settings, notify: Callable[[str], None] | None = None) -> EngineManager:
    """The services layer's one entry point: an EngineManager for this home's settings."""
    paths = settings.paths
    return EngineManager(settings.llm, paths.models, paths.engines, notify, settings.llm.lora_folder(paths.home))


# -- registry maintenance (the `engines` command) ----------------------------------------------------------
def dependents(registry: EngineRegistry, refs: set[str]) -> list[str]:
    """Versions (not among `refs`) whose parent is one of `refs`: they cannot be served without it."""
    found = []
    for record in registry.list(all_versions=True):
        if record.ref not in refs and record.parent in refs:
            found.append(record.ref)
    return found


def remove_engine(registry: EngineRegistry, ref: str) -> list[str]:
    """Remove one version (NAME@N) or every version (NAME); refuses while another engine is built on it.

    Each version folder is first renamed out of the registry (one atomic step), then deleted."""
    import shutil

    name, version = parse_ref(ref)
    versions = registry._version_dirs(name) if _NAME.match(name) else {}
    if not versions:
        known = ", ".join(registry.names()) or "none"
        raise EngineError(f"unknown engine {name!r}; known engines: {known}", "not_found")
    if version is not None and version not in versions:
        listed = ", ".join(map(str, versions))
        raise EngineError(f"engine {name} has no version {version}; its versions: {listed}", "not_found")
    doomed = {f"{name}@{v}": folder for v, folder in versions.items() if version is None or v == version}
    blocking = dependents(registry, set(doomed))
    if blocking:
        raise EngineError(f"{', '.join(blocking)} {'is' if len(blocking) == 1 else 'are'} built on {ref}; "
                          "remove those first")
    for folder in doomed.values():
        trash = folder.with_name(f".removed-{folder.name}-{os.getpid()}")
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
    if version is None:
        shutil.rmtree(registry.dir / name, ignore_errors=True)  # its run folders too
    return sorted(doomed)
