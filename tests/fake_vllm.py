"""A loopback stand-in for a vLLM server, for tests: vLLM's wheels are CUDA builds and cannot run on these
CPU machines, so the code that talks to vLLM is tested against this process instead.

It implements only vLLM's documented OpenAI-server endpoints, with vLLM's shapes:
  GET  /v1/models               the base model (with max_model_len) and each loaded adapter ("parent" = base)
  POST /v1/load_lora_adapter    {"lora_name", "lora_path"}: reads the folder's adapter_config.json; 400 in
                                vLLM's error shape when its rank exceeds --max-lora-rank or the name is taken
  POST /v1/unload_lora_adapter  {"lora_name"}; 404 when it is not loaded
  POST /v1/chat/completions     really generates (greedy, transformers + PEFT) on the base with the named
                                adapter; an unknown model is vLLM's 404 "The model `X` does not exist."
State lives in the process, as in vLLM: a restarted server has forgotten its adapters.

Run: python -m tests.fake_vllm --base DIR --served-model-name NAME --port P --max-lora-rank R
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

ROOT = Path(__file__).resolve().parent.parent
MAX_TOKENS = 16  # answers stay short: this is a test double, not a benchmark


def _error(message: str, status: int, kind: str) -> JSONResponse:
    """vLLM's ErrorResponse: {"error": {"message", "type", "param", "code"}}."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}}, status)


class FakeVLLM:
    """The model and its adapters behind the app; one generation at a time."""

    def __init__(self, base: Path, served: str, max_lora_rank: int, max_model_len: int = 2048) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.base, self.served, self.max_lora_rank, self.max_model_len = base, served, max_lora_rank, max_model_len
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
        self.loras: dict[str, tuple[str, str]] = {}  # served name -> (its path, PEFT adapter name)
        self.loaded = 0
        self.lock = threading.Lock()

    def load(self, name: str, path: str) -> JSONResponse | PlainTextResponse:
        if not name or not path:
            return _error("Both 'lora_name' and 'lora_path' must be provided.", 400, "InvalidUserInput")
        if name in self.loras:
            return _error(f"The lora adapter '{name}' has already been loaded.", 400, "InvalidUserInput")
        try:
            config = json.loads((Path(path) / "adapter_config.json").read_text())
        except (OSError, ValueError):
            return _error(f"No adapter found for {path}", 404, "NotFoundError")
        rank = max([int(config.get("r", 0)), *map(int, (config.get("rank_pattern") or {}).values())])
        if rank > self.max_lora_rank:
            return _error(f"LoRA rank {rank} is greater than max_lora_rank {self.max_lora_rank}.", 400,
                          "BadRequestError")
        with self.lock:
            self._peft_load(path, f"lora{self.loaded}")
            self.loras[name] = (path, f"lora{self.loaded}")
            self.loaded += 1
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    def _peft_load(self, path: str, adapter: str) -> None:
        from peft import PeftModel

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=adapter)
            else:
                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=adapter)
        self.model.eval()

    def unload(self, name: str) -> JSONResponse | PlainTextResponse:
        if name not in self.loras:
            return _error(f"The lora adapter '{name}' cannot be found.", 404, "NotFoundError")
        del self.loras[name]  # its weights may stay in memory; it is no longer served
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    def models(self) -> dict[str, Any]:
        cards = [{"id": self.served, "object": "model", "created": 0, "owned_by": "vllm", "root": str(self.base),
                  "parent": None, "max_model_len": self.max_model_len}]
        cards += [{"id": n, "object": "model", "created": 0, "owned_by": "vllm", "root": path, "parent": self.served,
                   "max_model_len": None} for n, (path, _) in self.loras.items()]
        return {"object": "list", "data": cards}

    def generate(self, model: str, messages: list[dict[str, Any]], max_tokens: int) -> str:
        import torch

        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        with self.lock, torch.no_grad():
            if model == self.served:
                if hasattr(self.model, "disable_adapter"):
                    with self.model.disable_adapter():
                        out = self._greedy(ids, max_tokens)
                else:
                    out = self._greedy(ids, max_tokens)
            else:
                self.model.set_adapter(self.loras[model][1])
                out = self._greedy(ids, max_tokens)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)

    def _greedy(self, ids: Any, max_tokens: int) -> Any:
        return self.model.generate(**ids, max_new_tokens=min(max_tokens, MAX_TOKENS), do_sample=False,
                                   pad_token_id=self.tokenizer.eos_token_id)


def build_app(fake: FakeVLLM) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return fake.models()

    @app.post("/v1/load_lora_adapter", response_model=None)
    async def load(request: Request) -> Any:
        body = await request.json()
        return fake.load(str(body.get("lora_name") or ""), str(body.get("lora_path") or ""))

    @app.post("/v1/unload_lora_adapter", response_model=None)
    async def unload(request: Request) -> Any:
        return fake.unload(str((await request.json()).get("lora_name") or ""))

    @app.post("/v1/chat/completions", response_model=None)
    def chat(body: dict[str, Any]) -> Any:
        model = body.get("model")
        if model != fake.served and model not in fake.loras:
            return _error(f"The model `{model}` does not exist.", 404, "NotFoundError")
        text = fake.generate(model, body["messages"], int(body.get("max_tokens") or MAX_TOKENS))
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        if not body.get("stream"):
            return {"id": ident, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}]}

        def chunk(delta: dict[str, str], finish: str | None = None) -> str:
            doc = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(doc)}\n\n"

        events = [chunk({"role": "assistant", "content": ""}), chunk({"content": text}), chunk({}, "stop"),
                  "data: [DONE]\n\n"]
        return StreamingResponse(iter(events), media_type="text/event-stream")

    return app


class FakeVLLMProcess:
    """The fake as a real subprocess on a loopback port (start, stop, restart on the same port)."""

    def __init__(self, base: Path, served: str, port: int, max_lora_rank: int, log: Path) -> None:
        self.base, self.served, self.port, self.max_lora_rank, self.log = base, served, port, max_lora_rank, log
        self.url = f"http://127.0.0.1:{port}/v1"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120) -> FakeVLLMProcess:
        import httpx

        cmd = [sys.executable, "-m", "tests.fake_vllm", "--base", str(self.base), "--served-model-name",
               self.served, "--port", str(self.port), "--max-lora-rank", str(self.max_lora_rank)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the fake vLLM server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the fake vLLM server did not start in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def served_names(self) -> list[str]:
        import httpx

        return [m["id"] for m in httpx.get(f"{self.url}/models", timeout=10).json()["data"]]


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-lora-rank", type=int, default=16)
    args = parser.parse_args()
    fake = FakeVLLM(args.base, args.served_model_name, args.max_lora_rank)
    uvicorn.run(build_app(fake), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
