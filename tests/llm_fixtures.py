"""Test helpers for language models: a tiny real Llama to train, random LoRA adapters on the real base, and a
real loopback OpenAI-compatible server over a real LocalLLM (what vLLM or llama.cpp would be in production)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from assistant.engines import EngineRecord, write_engine_record
from assistant.llm.embedded import EMBEDDED_LLM_NAME, _gguf_path
from assistant.llm.local import LocalLLM


def make_random_adapter(
    base_folder: Path, out_dir: Path, seed: int, r: int = 8, *, name: str | None = None, version: int = 1,
    parent: str | None = None, base: str = "embedded", scale: float = 1.0,
) -> Path:
    """A LoRA adapter (PEFT format) on the real base with non-zero random weights, so it changes outputs,
    plus its engine.json. `name` defaults to out_dir's parent folder (engines/NAME/vN). `scale` multiplies
    lora_B: at 1 (PEFT's plain random init) the embedded model still writes sentences, above 2 noise."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    config = LoraConfig(r=r, lora_alpha=r, target_modules="all-linear", init_lora_weights=False, lora_dropout=0.0)
    with warnings.catch_warnings():  # PEFT reads a deprecated transformers attribute
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for param_name, param in peft_model.named_parameters():
            if "lora_B" in param_name:
                param.mul_(scale)
    peft_model.save_pretrained(out_dir)
    record = EngineRecord(
        name=name or out_dir.parent.name, version=version, parent=parent, base=base,
        data_sha256="0" * 64, hyperparameters={"lora_r": r, "seed": seed, "random": True},
    )
    write_engine_record(out_dir, record)
    return out_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenAIServer:
    """FastAPI + uvicorn on 127.0.0.1 in a thread: GET /v1/models and POST /v1/chat/completions, plain
    and streamed (server-sent events in OpenAI's chunk format). Set `hang_s` to make every completion
    wait that long first (to outlast a client's timeout)."""

    def __init__(self, llm: LocalLLM, model: str = "smollm2") -> None:
        self.llm = llm
        self.model = model
        self.hang_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _app(self) -> FastAPI:
        # fastapi is imported at module level: it resolves the (string) annotations of the handlers there.
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict[str, Any]:
            card = {"id": self.model, "object": "model", "created": 0, "owned_by": "tests",
                    "max_model_len": self.llm.context_window}
            return {"object": "list", "data": [card]}

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            self.requests.append(body)
            if body.get("model") != self.model:
                error = {"message": f"The model `{body.get('model')}` does not exist.", "type": "NotFoundError"}
                return JSONResponse({"error": error}, status_code=404)
            if self.hang_s:
                await asyncio.sleep(self.hang_s)
                if await request.is_disconnected():  # the client gave up: do not generate for nobody
                    return JSONResponse({"error": {"message": "client gone"}}, status_code=499)
            messages, max_tokens = body["messages"], body.get("max_tokens")
            ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
            if not body.get("stream"):
                text = await asyncio.to_thread(self.llm.generate, messages, max_tokens)
                return {
                    "id": ident, "object": "chat.completion", "created": created, "model": self.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": self.llm.count_tokens(text), "total_tokens": 0},
                }

            def chunk(delta: dict[str, str], finish: str | None = None) -> str:
                data = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                return f"data: {json.dumps(data)}\n\n"

            def events() -> Iterator[str]:  # a sync generator: Starlette runs it on a worker thread
                yield chunk({"role": "assistant", "content": ""})
                for piece in self.llm.stream(messages, max_tokens):
                    yield chunk({"content": piece})
                yield chunk({}, "stop")
                yield "data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        return app

    def start(self) -> OpenAIServer:
        import uvicorn

        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="openai-loopback", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the loopback OpenAI server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def make_tiny_base(models: Path, out: Path) -> Path:
    """A 2-layer, 64-wide Llama (3 M parameters, mostly the embedding): seconds per training step on a CPU."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if (out / "config.json").is_file():
        return out
    prepared = models / EMBEDDED_LLM_NAME
    if (prepared / "config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(prepared)
    else:  # the tokenizer alone: much quicker than converting the whole model
        gguf = _gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
