"""Engines on vLLM: each engine version served as one runtime LoRA adapter of the server at llm.api_base.

vLLM applies one adapter per request, so an engine's whole chain (company -> bids) is exported as ONE PEFT
adapter by the project's one exporter (finetune.adapters.export_combined: ranks concatenated, exact) into
llm.lora_dir/<served name>/, then registered through vLLM's runtime LoRA API (a server started with
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora):

  GET  {api_base}/models               the base model and each adapter (an adapter's "parent" is the base)
  POST {api_base}/load_lora_adapter    {"lora_name", "lora_path"}; 400 when refused (rank, already loaded)
  POST {api_base}/unload_lora_adapter  {"lora_name"}; 404 when the server does not have it

The served name of "company@2" is "company-v2" (`served_name`, the one place). A restarted server has
forgotten its adapters: the engine's backend re-registers once on "model does not exist" and retries.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from assistant.config import LLMSettings
from assistant.engines import ADAPTER_CONFIG, ADAPTER_WEIGHTS, EngineError, EngineRecord
from assistant.llm.base import GenerationOptions, LLMUnavailable, Message
from assistant.llm.openai_backend import OpenAIBackend

log = logging.getLogger(__name__)
STAMP_FILE = "served.json"  # which version (ref, created, chain) an export folder holds


def served_name(ref: str) -> str:
    """The model name an engine version has on the server: "company@2" -> "company-v2". Engine names never
    hold '@', and only the last "-vN" is the version, so two versions never share a served name."""
    name, _, version = ref.partition("@")
    return f"{name}-v{version}"


def _message(response: httpx.Response) -> str:
    """The server's own words: vLLM's {"message"} (older) or {"error": {"message"}} (newer), else the text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        inner = body.get("error")
        body = (inner.get("message") if isinstance(inner, dict) else inner) or body.get("message") or body
    text = " ".join(str(body).split())
    return text if len(text) <= 300 else text[:297] + "..."


class VLLMClient:
    """vLLM's documented model list and runtime LoRA endpoints, nothing more."""

    def __init__(self, api_base: str, api_key: str | None = None, timeout_s: float = 120.0) -> None:
        self.url = api_base.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body)
        except httpx.TimeoutException as err:
            raise LLMUnavailable(f"the vLLM server at {self.url} did not answer {method} {path} in time; check "
                                 "that it is running and not overloaded, or raise llm.timeout_s") from err
        except httpx.HTTPError as err:
            raise LLMUnavailable(f"the vLLM server at {self.url} cannot be reached ({err}); start it or fix "
                                 "llm.api_base") from err

    def models(self) -> list[dict[str, Any]]:
        response = self._call("GET", "/models")
        if response.status_code != 200:
            raise LLMUnavailable(f"the vLLM server at {self.url} answered {response.status_code} to GET /models: "
                                 f"{_message(response)}")
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError) as err:
            raise LLMUnavailable(f"the vLLM server at {self.url} gave an unusable model list") from err
        return [m for m in data or [] if isinstance(m, dict)]

    def served_names(self) -> set[str]:
        return {str(m.get("id")) for m in self.models()}

    def load(self, name: str, path: str) -> str | None:
        """Register an adapter; None when done (or already there), else the server's refusal."""
        response = self._call("POST", "/load_lora_adapter", {"lora_name": name, "lora_path": path})
        if response.status_code == 200:
            return None
        message = _message(response)
        if response.status_code == 400 and "already been loaded" in message:  # another process was first
            return None
        if response.status_code == 405 or (response.status_code == 404 and "No adapter found" not in message):
            # no such route: the server runs without runtime LoRA updating
            message += " (start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora)"
        return f"{response.status_code}: {message}"

    def unload(self, name: str) -> bool:
        """Unregister an adapter; False when the server did not have it."""
        response = self._call("POST", "/unload_lora_adapter", {"lora_name": name})
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise LLMUnavailable(f"the vLLM server at {self.url} refused to unload {name} "
                                 f"({response.status_code}: {_message(response)})")
        return True


def _complete(folder: Path, stamp: dict[str, Any]) -> bool:
    """An export of exactly this version, every file in place (a retrained version is a different model)."""
    try:
        written = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    has_weights = any((folder / w).is_file() for w in ADAPTER_WEIGHTS)
    return written == stamp and (folder / ADAPTER_CONFIG).is_file() and has_weights


def chain_rank(chain: list[EngineRecord]) -> int:
    """The exported adapter's rank: the sum of the chain's ranks (ranks are concatenated)."""
    total = 0
    for record in chain:
        try:
            total += int(json.loads((Path(record.folder or ".") / ADAPTER_CONFIG).read_text()).get("r", 0))
        except (OSError, ValueError, TypeError):
            continue
    return total


class LoraServing:
    """Exports engine versions and registers them with one vLLM server; remembers, per process, what it
    registered, so a request does not ask the server each time."""

    def __init__(self, settings: LLMSettings, models_dir: Path, lora_dir: Path, lora_dir_on_server: str,
                 notify: Callable[[str], None] | None = None) -> None:
        if not settings.api_base:
            raise LLMUnavailable('llm.serving = "vllm" needs llm.api_base, the vLLM server\'s URL')
        self.settings = settings
        self.models_dir = models_dir
        self.lora_dir = lora_dir
        self.lora_dir_on_server = lora_dir_on_server
        self.notify = notify
        self.client = VLLMClient(settings.api_base, settings.api_key, settings.timeout_s)
        self._served: set[tuple[str, str]] = set()  # (ref, created) registered by this process
        self._lock = threading.Lock()  # one export or registration at a time: they share folders and names

    def export(self, chain: list[EngineRecord]) -> tuple[Path, bool]:
        """lora_dir/<served name>/ holding this chain as one adapter; (folder, whether it was written now).
        Written beside, then renamed, so the server never reads half an export."""
        from finetune.adapters import export_combined

        record = chain[-1]
        target = self.lora_dir / served_name(record.ref)
        stamp = {"ref": record.ref, "created": record.created, "chain": [r.ref for r in chain]}
        if _complete(target, stamp):
            return target, False
        if self.notify:
            self.notify(f"Exporting {record.ref} for the vLLM server into {target}")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.export")
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            export_combined(self._base_folder(chain), [Path(r.folder or ".") for r in chain], tmp)
            (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
            if target.exists():  # a stale export (another version under this name): set aside, then replaced
                os.replace(target, old)
            os.replace(tmp, target)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise EngineError(f"cannot write the adapter of {record.ref} into {target} ({err}); check llm.lora_dir"
                              ) from err
        shutil.rmtree(old, ignore_errors=True)
        return target, True

    def _base_folder(self, chain: list[EngineRecord]) -> Path:
        """The local base model, needed only to combine a chain (one adapter is copied as it is)."""
        if len(chain) == 1:
            return Path(chain[0].base)
        from assistant.llm.embedded import resolve_llm_folder

        return resolve_llm_folder(chain[-1].base, self.models_dir, self.notify)

    def ensure_served(self, chain: list[EngineRecord], again: bool = False) -> str:
        """Export the chain and register it with the server unless done already; its served name.
        `again`: the server may have restarted, so ask it rather than trust this process's memory."""
        record = chain[-1]
        name = served_name(record.ref)
        key = (record.ref, record.created)
        with self._lock:
            if key in self._served and not again:
                return name
            folder, fresh = self.export(chain)
            listed = name in self.client.served_names()
            if listed and fresh:  # the server holds an older version under this name
                self.client.unload(name)
            if fresh or not listed:
                self._load(chain, name, f"{self.lora_dir_on_server}/{folder.name}")
            self._served = {k for k in self._served if k[0] != record.ref} | {key}
        return name

    def _load(self, chain: list[EngineRecord], name: str, path: str) -> None:
        refused = self.client.load(name, path)
        if refused is None:
            return
        refs, rank = " -> ".join(r.ref for r in chain), chain_rank(chain)
        raise EngineError(
            f"the vLLM server at {self.client.url} refused engine {chain[-1].ref} ({refused}); its adapter {name} "
            f"has rank {rank}, the sum of the ranks of its chain {refs}: start vLLM with --max-lora-rank {rank} or "
            f"more, and check that the server can read {path} (llm.lora_dir_on_server)", "invalid",
        )

    def withdraw(self, ref: str, forget_export: bool = False) -> bool:
        """Unload a version from the server (False when it did not have it). A server that does not answer is
        warned about, never an obstacle: removing or demoting an engine must not depend on it."""
        name = served_name(ref)
        with self._lock:
            self._served = {k for k in self._served if k[0] != ref}
            if forget_export:  # a version retrained under the same number must be exported afresh
                shutil.rmtree(self.lora_dir / name, ignore_errors=True)
            try:
                return self.client.unload(name)
            except LLMUnavailable as err:
                warning = f"warning: {name} was not unloaded from the vLLM server: {err}"
                log.warning(warning)
                if self.notify:
                    self.notify(warning)
                return False

    def offered(self, refs: list[str], base: str) -> list[str]:
        """Of these engine refs, `base` and those the server really has (by served name)."""
        names = self.client.served_names()
        return [ref for ref in refs if ref == base or served_name(ref) in names]

    def backend(self, chain: list[EngineRecord]) -> ServedEngine:
        name = self.ensure_served(chain)
        return ServedEngine(self.settings, name, chain[-1].ref, lambda: self.ensure_served(chain, again=True))


def _model_gone(err: LLMUnavailable) -> bool:
    """The server answered 404 for the model: it restarted (or someone unloaded it) since we registered it."""
    import openai

    return isinstance(err.__cause__, openai.NotFoundError)


class ServedEngine(OpenAIBackend):
    """An engine version on the vLLM server: its served name as the model, its ref as the name. A 404 on a
    request means the server forgot the adapter: register it again, once, and retry."""

    def __init__(self, settings: LLMSettings, served: str, ref: str, register_again: Callable[[], Any]) -> None:
        super().__init__(settings, model=served, name=ref)
        self._register_again = register_again

    @property
    def context_window(self) -> int:
        """The base model's: vLLM lists max_model_len on the base, not on its adapters."""
        if self._context_window is None:
            self._context_window = OpenAIBackend(self.settings).context_window
        return self._context_window

    def generate(self, messages: list[Message], max_new_tokens: int | None = None,
                 options: GenerationOptions | None = None) -> str:
        try:
            return super().generate(messages, max_new_tokens, options)
        except LLMUnavailable as err:
            if not _model_gone(err):
                raise
        self._register_again()
        return super().generate(messages, max_new_tokens, options)

    def stream(self, messages: list[Message], max_new_tokens: int | None = None,
               options: GenerationOptions | None = None) -> Iterator[str]:
        started = False
        try:
            for piece in super().stream(messages, max_new_tokens, options):
                started = True
                yield piece
            return
        except LLMUnavailable as err:
            if started or not _model_gone(err):  # a 404 comes before any text; after it, never retry
                raise
        self._register_again()
        yield from super().stream(messages, max_new_tokens, options)
