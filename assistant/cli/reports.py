"""Reports on the command line: `assistant eval` (`assistant.services.reports`), the same questions
through every engine x mode, scored, written as a report.

Exit codes: 0 done; 1 the gate failed (--gate: the candidate is worse than the baseline beyond
--min-delta); 2 usage or configuration error (bad questions file, unknown engine or metric), nothing
run; 3 partly done (some answers failed, or the judge was unreachable: the rest is in the report).
"""

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
    emit_json,
    err_console,
    fail,
    progress_work,
    services,
)
from assistant.cli.jobs import print_queued
from assistant.evaluation import JUDGE_KEY_ENV, EvalOptions
from assistant.services import operator
from eval.gate import DEFAULT_METRIC, EXIT_GATE_FAILED
from eval.metrics_ragas import JUDGE_METRICS


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _print_summary(run: Any, report: Path) -> None:
    combos = [(e, m) for e, modes in run.summary.items() for m in modes]
    table = Table("metric", *[f"{e}\n{m}" for e, m in combos])
    names: list[str] = []
    for e, m in combos:
        names += [n for n in run.summary[e][m] if n not in names]
    for name in names:
        table.add_row(name, *[_cell(run.summary[e][m].get(name)) for e, m in combos])
    Console(stderr=True).print(table)
    for note in run.notes:
        err_console.print(f"[yellow]note:[/yellow] {note}", highlight=False, soft_wrap=True)
    err_console.print(f"Report: {report / 'report.html'}", highlight=False, soft_wrap=True)


def _cell(c: dict[str, Any] | None) -> str:
    if not c or c["status"] == "skipped":
        return "[dim]n/a[/dim]"
    if c["status"] == "unreliable":
        return f"[red]unreliable[/red] ({c['failures']} failed)"
    failed = f" [yellow]{c['failures']} failed[/yellow]" if c["failures"] else ""
    return f"{c['mean']:.3f} ±{(c['std'] or 0):.2f} n={c['n']}{failed}"


def eval_command(
    questions: Annotated[Path, typer.Option("--questions", help="JSONL: one {\"question\", \"reference\"?, "
                                            "\"reference_contexts\"?, \"reference_sources\"?, \"answerable\"?, "
                                            "\"label\"?} per line.")],
    engines: Annotated[str, typer.Option("--engines", help="Comma-separated engines: base, NAME, NAME@N.")] = "base",
    modes: Annotated[str, typer.Option("--modes", help="rag (with retrieval), norag (the engine alone) or both.")]
    = "rag,norag",
    judge: Annotated[str | None, typer.Option(
        "--judge", help="Judge for the LLM-judged RAGAS metrics (default: the eval.judge setting, none): none (fast, "
        "non-LLM metrics only), local (the local engine; on CPU the 135M model is slow and rarely returns the JSON "
        "RAGAS needs, so most of its scores come out as counted failures), or the URL of an OpenAI-compatible "
        f"server (with --judge-model; its API key, if any, from ${JUDGE_KEY_ENV}).")] = None,
    judge_model: Annotated[str | None, typer.Option(
        "--judge-model", help="The judge's model: the served model name for a URL; an engine for local "
        "(default: eval.judge_model).")] = None,
    judge_metrics: Annotated[str | None, typer.Option(
        "--judge-metrics", help=f"Comma-separated subset of {', '.join(JUDGE_METRICS)} (default: all).")] = None,
    judge_max_tokens: Annotated[int | None, typer.Option(
        "--judge-max-tokens", min=8, help="Longest judge answer (default: eval.judge_max_tokens, 512).")] = None,
    judge_timeout: Annotated[float | None, typer.Option(
        "--judge-timeout", min=1, help="Seconds per judge call (default: eval.judge_timeout, 120).")] = None,
    judge_retries: Annotated[int | None, typer.Option(
        "--judge-retries", min=0, max=10,
        help="Retries of a judge call that timed out (default: eval.judge_retries, 1).")] = None,
    unreliable_above: Annotated[float | None, typer.Option(
        "--unreliable-above", help="A metric whose failed share of rows exceeds this is 'unreliable', not a number "
        "(default: eval.unreliable_above, 0.3).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help="Retrieve as this user (their groups apply, so the report quotes only what they may read); "
        "without it, unrestricted.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N questions.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, max=200, help="Chunks retrieved per question.")]
    = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder that receives the report folder ID/ (default: HOME/reports).")] = None,
    no_style: Annotated[bool, typer.Option(
        "--no-style", help="Skip the house-style score (it embeds the house texts on first use).")] = False,
    gate: Annotated[str | None, typer.Option(
        "--gate", help="Candidate engine to gate: exit 1 when it is worse than --against on --metric.")] = None,
    against: Annotated[str | None, typer.Option("--against", help="Baseline engine for --gate.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="The gate's metric (results.json name).")] = DEFAULT_METRIC,
    min_delta: Annotated[float, typer.Option(
        "--min-delta", help="The gate passes when candidate - baseline >= this in every mode (0: not worse; "
        "-0.02: up to 0.02 worse allowed).")] = 0.0,
    queue: QueueOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Side-by-side quality report: every question through each engine x mode, scored, in HOME/reports/ID/.

    Exit codes: 0 done; 1 the --gate failed; 2 usage error (nothing was run);

    3 partly done (some answers failed, or the judge was unreachable): the report has the rest.
    """
    opts = EvalOptions(
        questions=questions, engines=_split(engines), modes=_split(modes), judge=judge.strip() if judge else None,
        judge_model=judge_model, judge_max_tokens=judge_max_tokens, judge_timeout=judge_timeout,
        judge_retries=judge_retries, judge_metrics=_split(judge_metrics) or None, unreliable_above=unreliable_above,
        limit=limit, top_k=top_k, out=out, style=not no_style, gate=gate, against=against, gate_metric=metric,
        min_delta=min_delta,
    )
    svc = services(home, quiet=True)  # the models' own messages and per-question bars would flood the terminal
    if queue:
        if user is not None:
            fail("--queue with --user is not supported yet: run it here, or queue it without --user")
        print_queued(svc.reports.submit_evaluate(operator(), opts), as_json)
        return
    work = progress_work(quiet=as_json)
    if user is None:
        run, report = svc.reports.evaluate(operator(), opts, work)
    else:  # the operator runs it; retrieval sees only what that account may read
        run, report = svc.reports.evaluate_as(operator(), svc.users.find(user), opts, work)
    _finish(run, report, as_json)


def _finish(run: Any, report: Path, as_json: bool) -> None:
    """Print the result; exit 1 when the gate failed, 3 when some answers or judge calls failed."""
    if as_json:
        doc: dict[str, Any] = {"report": str(report), "results": run.results()}
        if run.gate is not None:
            doc["gate"] = run.gate
        emit_json(doc)
    else:
        _print_summary(run, report)
    if run.gate is not None:
        verdict = "passed" if run.gate["passed"] else "FAILED"
        err_console.print(f"gate {verdict}: {run.gate['candidate']} vs {run.gate['baseline']}: {run.gate['reason']}",
                          highlight=False, soft_wrap=True)
        if not run.gate["passed"]:
            raise typer.Exit(EXIT_GATE_FAILED)
    if run.partial:
        raise typer.Exit(EXIT_PARTIAL)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
