"""Documents on the command line: `index`, `sources`, `remove`, `retrieve` (`assistant.services.documents`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from assistant.cli.common import (
    EXIT_PARTIAL,
    HomeOpt,
    JsonOpt,
    QueueOpt,
    TopKOpt,
    UserOpt,
    WhereOpt,
    acting_user,
    emit_json,
    fail,
    parse_where,
    progress_work,
    say,
    services,
)
from assistant.cli.jobs import print_queued
from assistant.components import read_jsonl_field
from assistant.services import operator
from indexing.doc_context import about
from indexing.docstore import SourceRecord
from indexing.ingest import IndexReport
from indexing.metadata import parse_key_values


def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index (folders recursively).")],
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="Metadata K=V for every file (repeatable); _meta.yaml and sidecars win."),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove indexed sources no longer under PATH.")] = False,
    queue: QueueOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add new files, re-embed changed ones, skip unchanged ones."""
    meta_values = parse_key_values(meta)
    if queue:
        job = services(home, quiet=as_json).documents.submit_index(operator(), paths, meta_values, prune)
        print_queued(job, as_json)
        return
    report = services(home).documents.index(operator(), paths, meta_values, prune, progress_work())
    if as_json:
        emit_json(report.to_json())
    else:
        _print_index_report(report)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


def _print_index_report(report: IndexReport) -> None:
    say(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, removed {report.removed}, "
        f"failed {len(report.failed)}; {report.chunks} chunks in {report.seconds:.1f} s")
    for f in report.failed:
        say(f"[yellow]failed[/yellow] {f['path']}: {f['error']}")
    for w in report.warnings:
        say(f"[yellow]warning[/yellow] {w['path']}: {w['warning']}")


def sources(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List indexed sources with their chunks and metadata."""
    records = services(home, quiet=as_json).documents.sources(operator())
    if as_json:
        emit_json([r.to_public() for r in records])
        return
    table = Table("source", "title", "about", "chunks", "indexed", "doc_type", "groups", "error")
    for r in records:
        table.add_row(r.source, str(r.metadata.get("title", "")), about(r.metadata), str(r.chunks), r.indexed_at,
                      str(r.metadata.get("doc_type", "")), _groups(r), r.error or "")
    Console().print(table)


def _groups(record: SourceRecord) -> str:
    groups = record.metadata.get("groups")
    return ",".join(groups) if isinstance(groups, list) else str(groups or "")


def remove(
    sources_: Annotated[list[str], typer.Argument(metavar="SOURCE...", help="Sources (or folders of sources).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete sources and all their chunks."""
    removed, failed = services(home, quiet=as_json).documents.remove(operator(), sources_)
    if as_json:
        emit_json({"removed": removed, "failed": failed})
    else:
        for s in removed:
            say(f"removed {s}")
    for f in failed:
        say(f"[yellow]failed[/yellow] {f['path']}: {f['error']}")
    if failed:
        raise typer.Exit(EXIT_PARTIAL)


def retrieve(
    query: Annotated[str | None, typer.Argument(help="The question or search text.")] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help='JSONL file, one {"query": ...} per line.')
    ] = None,
    top_k: TopKOpt = None,
    where: WhereOpt = None,
    user: UserOpt = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="hybrid (default), dense or keyword.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the chunks that best match a query."""
    if (query is None) == (queries is None):
        fail("give either a QUERY or --queries FILE")
    texts = [query] if query is not None else read_jsonl_field(queries, "query")  # type: ignore[arg-type]
    filters = parse_where(where)
    svc = services(home, quiet=as_json)
    results = svc.documents.search(acting_user(svc, user), texts, top_k, filters, mode)
    docs = [{"query": q, "results": [c.to_json() for c in r]} for q, r in zip(texts, results, strict=True)]
    if as_json:
        emit_json(docs[0] if query is not None else docs)
    else:
        _print_results(docs)


def _print_results(docs: list[dict[str, Any]]) -> None:
    out = Console()
    for doc in docs:
        out.rule(doc["query"])
        for n, r in enumerate(doc["results"], 1):
            page = f" p.{r['page']}" if r["page"] else ""
            out.print(f"[bold]{n}. {r['score']:.3f}[/bold] {r['source']}{page}", highlight=False, soft_wrap=True)
            out.print("   " + r["text"][:300].replace("\n", " "), highlight=False)


def register(app: typer.Typer) -> None:
    for command in (index, sources, remove, retrieve):
        app.command()(command)
