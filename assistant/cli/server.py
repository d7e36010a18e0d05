"""The web app on the command line: `serve` and `demo`.

The web server is found through the `assistant.servers` entry point (`web = "ui.server:serve"` in
pyproject.toml), never imported: the command line imports no other front end, and a deployment without
the web app still has every other command.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated

import typer

from assistant.cli.chat import print_answer
from assistant.cli.common import HomeOpt, JsonOpt, emit_json, progress_work, say, services
from assistant.cli.jobs import LocalWorkers
from assistant.config import Settings
from assistant.errors import Unavailable
from assistant.logs import configure_logging
from assistant.services import ChatRequest, Services, operator

SERVERS_GROUP = "assistant.servers"
Server = Callable[[Settings, str | None, int | None], None]

HostOpt = Annotated[str | None, typer.Option("--host", help="Address to listen on (default: web.host).")]
PortOpt = Annotated[int | None, typer.Option("--port", help="Port (default: web.port, 7860).")]


def web_server(name: str = "web") -> Server:
    """`serve(settings, host, port)` of the installed web app; Unavailable, saying what to do, without one."""
    found = entry_points(group=SERVERS_GROUP, name=name)
    if not found:
        raise Unavailable(f"no web server is installed (entry point {name!r} in group {SERVERS_GROUP!r}); "
                          "reinstall the project with `pip install -e .` or `make demo`")
    entry = next(iter(found))
    try:
        return entry.load()
    except ModuleNotFoundError as err:  # the web app's own dependencies (FastAPI, Gradio) are not installed
        raise Unavailable(f"the web server {entry.value} cannot be loaded: {err}") from err


NoWorkerOpt = Annotated[bool, typer.Option(
    "--no-worker", help="Start no local worker: queued jobs wait for `assistant worker` processes elsewhere.")]


def serve(host: HostOpt = None, port: PortOpt = None, no_worker: NoWorkerOpt = False, home: HomeOpt = None) -> None:
    """Start the web app at / and the OpenAI-compatible API at /v1 (and a local worker for its jobs)."""
    _serve(services(home), host, port, no_worker)


def _serve(svc: Services, host: str | None, port: int | None, no_worker: bool = False) -> None:
    run_server = web_server()  # before anything is printed: a missing web app is the whole answer
    settings = svc.settings
    configure_logging(settings.logging)  # once per process: [logging] level, JSON lines, on stderr
    if not svc.documents.sources(operator()):
        say("[yellow]No documents are indexed yet: an admin can upload some in the Documents tab, "
            "or run `assistant index PATH`.[/yellow]")
    url = f"http://{host or settings.web.host}:{port or settings.web.port}/"
    say(f"Serving {settings.paths.home} at {url} (API at {url}v1); Ctrl-C stops.")
    workers = LocalWorkers(svc, process=not no_worker)
    try:
        run_server(settings, host, port)
    finally:  # a normal stop; a server that is killed leaves its worker process running its jobs to their end
        workers.stop()


def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only build the demo home, then exit.")] = False,
    question: Annotated[
        str, typer.Option("--question", help="With --no-serve: the question answered once the home is built.")
    ] = "What was the company's revenue in its latest annual report?",
    host: HostOpt = None,
    port: PortOpt = None,
    no_worker: NoWorkerOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build (or refresh) a home from the demo corpus and its demo accounts, then serve the web app."""
    svc = services(home, quiet=as_json)
    summary = svc.documents.build_demo(operator(), progress_work(as_json))
    if as_json and no_serve:
        emit_json({k: summary[k] for k in ("home", "sources", "questions")})
        return
    say(f"Demo home {summary['home']}: {summary['sources']} sources; questions in {summary['questions']}")
    if no_serve:
        print_answer(svc.chat.answer(operator(), [question], ChatRequest(question))[0])
        say(f'\nAsk your own: assistant ask "..." --home {summary["home"]}')
        return
    for line in svc.users.ensure_demo_accounts(operator()):
        say(line)
    _serve(svc, host, port, no_worker)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(demo)
