"""Chat on the command line: `ask`, `chat`, `flow` (`assistant.services.chat`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assistant.chat import Answer
from assistant.cli.common import (
    HomeOpt,
    JsonOpt,
    TopKOpt,
    UserOpt,
    WhereOpt,
    acting_user,
    emit_json,
    err_console,
    fail,
    parse_where,
    progress_work,
    say,
    services,
)
from assistant.components import read_jsonl_field
from assistant.errors import InputError
from assistant.services import ChatRequest, Services, User
from indexing.metadata import parse_key_values

EngineOpt = Annotated[str, typer.Option("--engine", help="Engine: base, NAME or NAME@VERSION.")]


def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    questions: Annotated[
        Path | None, typer.Option("--questions", help='JSONL file, one {"question": ...} per line.')
    ] = None,
    engine: EngineOpt = "base",
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
    request = ChatRequest("", engine, not no_rag, top_k, parse_where(where))
    svc = services(home, quiet=as_json)
    answers = svc.chat.answer(acting_user(svc, user), texts, request, progress_work(as_json))
    if as_json:
        emit_json(answers[0].to_json() if question is not None else [a.to_json(True) for a in answers])
        return
    for a in answers:
        print_answer(a)


def chat(
    engine: EngineOpt = "base",
    no_rag: Annotated[bool, typer.Option("--no-rag", help="Chat without retrieval.")] = False,
    top_k: TopKOpt = None,
    where: WhereOpt = None,
    user: UserOpt = None,
    home: HomeOpt = None,
) -> None:
    """A terminal chat with streamed answers and follow-up questions. Empty line or Ctrl-D ends it."""
    svc = services(home)
    acting = acting_user(svc, user)
    # Fail now on an unknown engine (or one this user may not use), not after the first question.
    request = ChatRequest("", svc.chat.check_engine(acting, engine), not no_rag, top_k, parse_where(where))
    history: list[dict[str, str]] = []
    say(f"Chatting with engine {request.engine}; an empty line ends the chat.")
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            break
        if not question or question in ("/exit", "/quit"):
            break
        answer = _turn(svc, acting, replace(request, question=question), history)
        if answer is not None:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


def _turn(svc: Services, user: User, request: ChatRequest, history: list[dict[str, str]]) -> Answer | None:
    """One streamed answer and its sources; a question the chat refuses (too long, say) is shown, not fatal."""
    try:
        stream = svc.chat.stream(user, request, history)
    except InputError as err:
        err_console.print(f"[yellow]{err}[/yellow]", highlight=False)
        return None
    out = Console()
    answer: Answer | None = None
    out.print("assistant> ", end="")
    for piece in stream:
        if isinstance(piece, Answer):
            answer = piece
        else:
            out.print(piece, end="", highlight=False, markup=False, soft_wrap=True)
    out.print()
    if answer is not None:
        print_sources(answer.cited(), indent="  ")
    return answer


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
    svc = services(home, quiet=as_json)
    acting = acting_user(svc, user)
    if name is None:
        _list_flows(svc.chat.flows(acting), as_json)
        return
    if text is None:
        fail("give the flow's TEXT, e.g. assistant flow rewrite_tone \"our draft paragraph\"")
    params = {k: str(v) for k, v in parse_key_values(param, "--param").items()}
    result = svc.chat.run_flow(acting, name, text, params, engine)
    if as_json:
        emit_json(result.to_json())
        return
    Console().print(result.text, highlight=False)
    print_sources(enumerate(result.sources, 1))  # a flow's prompts number its passages in order of first use


def _list_flows(summaries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(summaries)
        return
    for f in summaries:
        Console().print(f"[bold]{f['name']}[/bold] v{f['version']}: {f['title']} - {f['description']}")


def print_answer(a: Answer) -> None:
    out = Console()
    out.rule(a.question)
    out.print(a.answer, highlight=False)
    print_sources(a.cited())


def print_sources(numbered: Iterable[tuple[int, Any]], indent: str = "") -> None:
    """Each source under the number the answer cites it by, as a file path (and page) a user can open."""
    for n, s in numbered:
        page = f", page {s.page}" if s.page else ""
        Console().print(f"[dim]{indent}[{n}] {s.source}{page}[/dim]", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    for command in (ask, chat, flow):
        app.command()(command)
