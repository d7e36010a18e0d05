"""The `assistant` command line. Thin: every command calls `AssistantService`.

With `--json` a command prints exactly one JSON document on stdout; progress and messages go to
stderr. Exit codes: 0 done, 2 usage or configuration error, 3 partly done.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.cli_common import EXIT_PARTIAL, EXIT_USAGE, HomeOpt, JsonOpt, emit_json, err_console, fail
from assistant.cli_eval import eval_command
from assistant.cli_finetune import datagen_app, engines_app, train_app
from assistant.cli_users import users_app
from assistant.config import ConfigError, load_settings
from assistant.flows import FlowError
from assistant.llm.embedded import LLMUnavailable
from assistant.services import AssistantService, InputError, Viewer, read_jsonl_field
from indexing.doc_context import about
from indexing.embedding import ModelUnavailable
from indexing.ingest import IndexBusy
from indexing.metadata import MetadataError, parse_key_values
from indexing.store import StoreUnavailable

# Errors a user can act on: one line on stderr and exit 2, never a traceback.
USER_ERRORS = (
    ConfigError, StoreUnavailable, ModelUnavailable, LLMUnavailable, IndexBusy, InputError, MetadataError, FlowError
)

app = typer.Typer(
    name="assistant",
    help="Enterprise assistant: index company documents, retrieve from them, answer with citations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(users_app, name="users")
app.add_typer(datagen_app, name="datagen")
app.add_typer(train_app, name="train")
app.add_typer(engines_app, name="engines")
app.command("eval")(eval_command)

WhereOpt = Annotated[
    list[str] | None, typer.Option("--where", help="Metadata filter K=V (repeatable), e.g. --where doc_type=bid.")
]
TopKOpt = Annotated[int | None, typer.Option("--top-k", min=1, max=200, help="Number of chunks to retrieve.")]
UserOpt = Annotated[
    str | None,
    typer.Option("--user", help="Retrieve as this user (their groups apply); without it, unrestricted."),
]


class RichProgress:
    """The `indexing.progress.Progress` protocol on a rich progress bar on stderr."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Progress | None = None
        self._task: Any = None

    def message(self, text: str) -> None:
        if not self.quiet:
            err_console.print(f"[dim]{text}[/dim]")

    def start(self, total: int, label: str) -> None:
        if self.quiet:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[item]}"), TimeElapsedColumn(), console=err_console, transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=total, item="")

    def advance(self, n: int = 1, label: str | None = None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=n, item=(label or "")[:40])

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def service(home: Path | None, quiet: bool = False) -> AssistantService:
    return AssistantService(load_settings(home), RichProgress(quiet))


def resolve_viewer(user: str | None, home: Path | None = None) -> Viewer:
    """`--user NAME`: retrieve with that account's groups; without it, an unrestricted operator."""
    if user is None:
        return Viewer()
    from assistant.accounts import Accounts
    from assistant.appdb import AppDB

    account = Accounts(AppDB.for_settings(load_settings(home))).get(user)
    if account is None:
        fail(f"no user named {user!r} (see `assistant users list`; add one with `assistant users add`)")
    return Viewer(account.name, list(account.groups))


def parse_where(pairs: list[str] | None) -> dict[str, Any] | None:
    return parse_key_values(pairs, "--where") or None


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to index (folders recursively).")],
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="Metadata K=V for every file (repeatable); _meta.yaml and sidecars win."),
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove indexed sources no longer under PATH.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add new files, re-embed changed ones, skip unchanged ones."""
    svc = service(home)
    report = svc.index(paths, parse_key_values(meta), prune)
    if as_json:
        emit_json(report.to_json())
    else:
        err_console.print(
            f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
            f"removed {report.removed}, failed {len(report.failed)}; {report.chunks} chunks in "
            f"{report.seconds:.1f} s"
        )
        for f in report.failed:
            err_console.print(f"[yellow]failed[/yellow] {f['path']}: {f['error']}", highlight=False)
        for w in report.warnings:
            err_console.print(f"[yellow]warning[/yellow] {w['path']}: {w['warning']}", highlight=False)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def sources(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List indexed sources with their chunks and metadata."""
    records = service(home).sources()
    if as_json:
        emit_json([r.to_public() for r in records])
        return
    table = Table("source", "title", "about", "chunks", "indexed", "doc_type", "groups", "error")
    for r in records:
        table.add_row(r.source, str(r.metadata.get("title", "")), about(r.metadata), str(r.chunks), r.indexed_at,
                      str(r.metadata.get("doc_type", "")),
                      ",".join(r.metadata.get("groups") or []) if isinstance(r.metadata.get("groups"), list)
                      else str(r.metadata.get("groups", "")), r.error or "")
    Console().print(table)


@app.command()
def remove(
    sources_: Annotated[list[str], typer.Argument(metavar="SOURCE...", help="Sources (or folders of sources).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete sources and all their chunks."""
    removed, failed = service(home).remove(sources_)
    if as_json:
        emit_json({"removed": removed, "failed": failed})
    else:
        for s in removed:
            err_console.print(f"removed {s}", highlight=False)
    for f in failed:
        err_console.print(f"[yellow]failed[/yellow] {f['path']}: {f['error']}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
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
    viewer = resolve_viewer(user, home)
    svc = service(home, quiet=as_json)
    results = svc.retrieve(texts, top_k, parse_where(where), viewer, mode)
    docs = [{"query": q, "results": [c.to_json() for c in r]} for q, r in zip(texts, results, strict=True)]
    if as_json:
        emit_json(docs[0] if query is not None else docs)
        return
    for doc in docs:
        Console().rule(doc["query"])
        for n, r in enumerate(doc["results"], 1):
            page = f" p.{r['page']}" if r["page"] else ""
            Console().print(f"[bold]{n}. {r['score']:.3f}[/bold] {r['source']}{page}", highlight=False, soft_wrap=True)
            Console().print("   " + r["text"][:300].replace("\n", " "), highlight=False)


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[
        Path | None, typer.Option("--questions", help='JSONL file, one {"question": ...} per line.')
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="Engine: base, NAME or NAME@VERSION.")] = "base",
    no_rag: Annotated[bool, typer.Option("--no-rag", help="Answer without retrieval.")] = False,
    top_k: TopKOpt = None,
    where: WhereOpt = None,
    user: UserOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the indexed documents, with citations."""
    if (question is None) == (questions is None):
        fail("give either a QUESTION or --questions FILE")
    texts = [question] if question is not None else read_jsonl_field(questions, "question")  # type: ignore[arg-type]
    viewer = resolve_viewer(user, home)
    svc = service(home, quiet=as_json)
    answers = svc.ask(texts, engine, use_rag=not no_rag, top_k=top_k, where=parse_where(where), viewer=viewer)
    if as_json:
        emit_json(answers[0].to_json() if question is not None else [a.to_json(True) for a in answers])
        return
    for a in answers:
        print_answer(a)


@app.command()
def chat(
    engine: Annotated[str, typer.Option("--engine", help="Engine: base, NAME or NAME@VERSION.")] = "base",
    no_rag: Annotated[bool, typer.Option("--no-rag", help="Chat without retrieval.")] = False,
    top_k: TopKOpt = None,
    where: WhereOpt = None,
    user: UserOpt = None,
    home: HomeOpt = None,
) -> None:
    """A terminal chat with streamed answers and follow-up questions. Empty line or Ctrl-D ends it."""
    from assistant.chat import Answer

    viewer = resolve_viewer(user, home)
    svc = service(home)
    filters = parse_where(where)
    svc.engine(engine)  # fail now on an unknown engine, not after the first question
    history: list[dict[str, str]] = []
    out = Console()
    err_console.print(f"Chatting with engine {engine}; an empty line ends the chat.", highlight=False)
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            break
        if not question or question in ("/exit", "/quit"):
            break
        try:
            turn = svc.chat(question, history, engine, not no_rag, top_k, filters, viewer)
        except InputError as err:
            err_console.print(f"[yellow]{err}[/yellow]", highlight=False)
            continue
        answer: Answer | None = None
        out.print("assistant> ", end="")
        for piece in turn:
            if isinstance(piece, Answer):
                answer = piece
            else:
                out.print(piece, end="", highlight=False, markup=False, soft_wrap=True)
        out.print()
        if answer is not None:
            print_sources(answer.sources, indent="  ")
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


@app.command()
def flow(
    name: Annotated[str | None, typer.Argument(help="The flow to run; omit to list the flows.")] = None,
    text: Annotated[str | None, typer.Argument(help="Your text: the request, draft or tender question.")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Flow input K=V (repeatable), e.g. --param sector=justice.")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="Engine for steps that do not name their own.")] = "base",
    user: UserOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a prompt flow (Add case study, Rewrite in our tone of voice, Answer tender question)."""
    svc = service(home, quiet=as_json)
    if name is None:
        summaries = [f.summary() for f in svc.flows.values()]
        if as_json:
            emit_json(summaries)
        else:
            for f in summaries:
                Console().print(f"[bold]{f['name']}[/bold] v{f['version']}: {f['title']} - {f['description']}")
        return
    if text is None:
        fail("give the flow's TEXT, e.g. assistant flow rewrite_tone \"our draft paragraph\"")
    params = {k: str(v) for k, v in parse_key_values(param, "--param").items()}
    result = svc.run_flow(name, text, params, engine, resolve_viewer(user, home))
    if as_json:
        emit_json(result.to_json())
        return
    Console().print(result.text, highlight=False)
    print_sources(result.sources)


def print_answer(a: Any) -> None:
    out = Console()
    out.rule(a.question)
    out.print(a.answer, highlight=False)
    print_sources(a.sources)


def print_sources(sources: list[Any], indent: str = "") -> None:
    """Numbered like the citations in the answer, each a file path (and page) a user can open."""
    for n, s in enumerate(sources, 1):
        page = f", page {s.page}" if s.page else ""
        Console().print(f"[dim]{indent}[{n}] {s.source}{page}[/dim]", highlight=False, soft_wrap=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: web.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: web.port, 7860).")] = None,
    home: HomeOpt = None,
) -> None:
    """Start the web app at / and the OpenAI-compatible API at /v1."""
    from ui.server import serve as run_server

    settings = load_settings(home)
    if not AssistantService(settings).sources():
        err_console.print("[yellow]No documents are indexed yet: an admin can upload some in the Documents tab, "
                          "or run `assistant index PATH`.[/yellow]")
    url = f"http://{host or settings.web.host}:{port or settings.web.port}/"
    err_console.print(f"Serving {settings.paths.home} at {url} (API at {url}v1); Ctrl-C stops.", highlight=False)
    run_server(settings, host, port)


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only build the demo home, then exit.")] = False,
    question: Annotated[
        str, typer.Option("--question", help="With --no-serve: the question answered once the home is built.")
    ] = "What was the company's revenue in its latest annual report?",
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: web.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: web.port, 7860).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build (or refresh) a home from the demo corpus and its demo accounts, then serve the web app."""
    svc = service(home, quiet=as_json)
    summary = svc.build_demo()
    if as_json and no_serve:
        emit_json({k: summary[k] for k in ("home", "sources", "questions")})
        return
    err_console.print(
        f"Demo home {summary['home']}: {summary['sources']} sources; questions in {summary['questions']}",
        highlight=False,
    )
    if no_serve:
        print_answer(svc.ask([question])[0])
        err_console.print(f'\nAsk your own: assistant ask "..." --home {summary["home"]}', highlight=False)
        return
    from assistant.demo_accounts import ensure_demo_accounts

    for line in ensure_demo_accounts(svc.settings):
        err_console.print(line, highlight=False)
    serve(host, port, home)


def main() -> None:
    try:
        app()
    except USER_ERRORS as err:
        err_console.print(f"[bold red]error:[/bold red] {err}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
