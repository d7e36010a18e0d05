"""Typed settings of the indexing layer, embedded into the assistant's one settings object."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from indexing.loaders import LoadOptions


class IndexingSettings(BaseModel):
    """How documents are parsed, chunked, embedded and stored."""

    embedder: str = Field(
        "embedded",
        description="'embedded' (all-MiniLM-L6-v2 shipped on PyPI) or a local sentence-transformers folder",
    )
    embed_batch_size: int = Field(64, ge=1, le=4096)
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1', 'mps'")
    embed_backend: Literal["auto", "torch", "onnx"] = Field(
        "auto", description="what runs the embedder: 'auto' = ONNX Runtime on the CPU when onnx, onnxscript and "
        "onnxruntime import and the export (made once in HOME/models/<name>-onnx, checked against torch at "
        "every load) checks out, else torch with a warning naming why; on CUDA or MPS torch. 'onnx' = ONNX "
        "Runtime or a clear error; 'torch' = sentence-transformers on torch",
    )
    embed_precision: Literal["int8", "fp32"] = Field(
        "int8", description="the ONNX backend's weights: 'int8' (quantised per channel once, about twice as fast "
        "on a CPU; each vector within a cosine of about 0.985 of torch's) or 'fp32' (torch's vectors exactly). "
        "Changing it re-embeds every file at the next index run",
    )
    chroma_url: str | None = Field(
        None, description="URL of a Chroma server (http://host:port); unset = embedded Chroma in HOME/chroma"
    )
    collection: str = Field("documents", min_length=3, max_length=512)
    chunk_size: int = Field(220, ge=32, description="chunk size in tokens of the embedder's tokenizer")
    chunk_overlap: int = Field(40, ge=0)
    contextual_headers: bool = Field(
        True, description="embed and keyword-index each chunk with a header naming its document and section"
    )
    ocr: Literal["auto", "on", "off"] = Field(
        "auto", description="OCR for PDF pages and images without a text layer: 'auto' (when tesseract is "
        "installed), 'on' (a file needing OCR fails without tesseract, naming what to install), 'off'",
    )
    ocr_languages: str = Field("eng", description="tesseract language codes, e.g. 'eng+deu'")
    pdf_tables: bool = Field(True, description="PDF tables as rows that keep their column headers")
    parse_workers: int = Field(
        -1, ge=-1, le=64, description="worker processes parsing files while the embedder runs: 0 = a thread in "
        "this process; -1 = one per spare core (1 to 4) when 8 or more files are to be parsed",
    )
    max_file_mb: float = Field(100.0, gt=0, description="files larger than this are refused")
    batch_chars: int = Field(
        1_000_000, ge=1000, description="parsed characters per write batch: the most work a crash can lose"
    )

    def load_options(self) -> LoadOptions:
        return LoadOptions(ocr=self.ocr, ocr_languages=self.ocr_languages, pdf_tables=self.pdf_tables)

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info) -> int:
        size = info.data.get("chunk_size")
        if size is not None and v >= size:
            raise ValueError(f"chunk_overlap ({v}) must be smaller than chunk_size ({size})")
        return v

    @field_validator("chroma_url")
    @classmethod
    def _url_scheme(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"chroma_url must start with http:// or https:// (got {v!r})")
        return v or None
