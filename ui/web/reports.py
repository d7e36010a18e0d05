"""The Reports tab (evaluators and admins): run an evaluation, list and open reports side by side, export
the chat's feedback as a questions file."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.services import EvalOptions, Services
from ui.web.common import current_user, user_errors
from ui.web.jobs import LivePanel, LiveTab, cancel_latest

JOB_KINDS = ("eval",)


def create_reports_tab(services: Services) -> LiveTab:
    """The tab (shown to evaluators and admins), wired; its live panel follows evaluation jobs."""
    with gr.Tab("Reports", id="reports", visible=False) as tab:
        with gr.Row():
            questions = gr.Textbox(label="Questions file (JSONL)", scale=3, elem_id="eval-questions")
            engines = gr.Dropdown(label="Engines", choices=["base"], value=["base"], multiselect=True)
            modes = gr.CheckboxGroup(["rag", "norag"], value=["rag", "norag"], label="Modes")
            limit = gr.Number(label="Limit (questions)", value=None, precision=0, elem_id="eval-limit")
            run = gr.Button("Run evaluation", variant="primary", elem_id="eval-button")
        with gr.Row():
            live = gr.HTML(elem_id="reports-live")
            cancel = gr.Button("Cancel", variant="stop", scale=0, elem_id="reports-cancel")
        status = gr.Markdown(elem_id="reports-status")
        table = gr.Dataframe(headers=["report", "created", "questions", "summary"], interactive=False,
                             elem_id="reports-table")
        with gr.Row():
            report_pick = gr.Dropdown(label="Open report", choices=[], scale=2, elem_id="report-pick")
            compare_pick = gr.Dropdown(label="Compare with", choices=[""], value="", scale=2)
            export = gr.Button("Export chat feedback as a questions file")
        with gr.Row():
            report_view = gr.HTML(elem_id="report-view")
            compare_view = gr.HTML()

    @user_errors
    def refresh(request: gr.Request) -> tuple:
        user = current_user(services, request)
        rows = services.reports.list(user)
        table_rows = [[r["id"], str(r["created"])[:19], Path(str(r["questions"])).name, summary(r["results"])]
                      for r in rows]
        ids = [r["id"] for r in rows]
        return (table_rows, gr.update(choices=ids), gr.update(choices=["", *ids]),
                gr.update(choices=services.chat.engine_names(user)))

    @user_errors
    def on_run(path: str, engine_names: list[str], mode_names: list[str], most: float | None,
               request: gr.Request) -> str:
        options = EvalOptions(questions=Path(path.strip()), engines=engine_names or ["base"],
                              modes=mode_names or ["rag"], limit=int(most) if most else None)
        job = services.reports.submit_evaluate(current_user(services, request), options)
        return f"{job.title}: job {job.id} started; follow it in the Jobs tab, the report appears here."

    @user_errors
    def report_frame(report_id: str | None, request: gr.Request) -> str:
        user = current_user(services, request)
        if not report_id:
            return ""
        services.reports.file(user, report_id)  # refused here, not as a broken frame
        src = f"/reports/{urllib.parse.quote(report_id)}/report.html"
        return f'<iframe src="{src}" style="width:100%;height:900px;border:1px solid #ddd"></iframe>'

    @user_errors
    def on_export(request: gr.Request) -> str:
        path = services.reports.export_feedback(current_user(services, request))
        return f"Wrote `{path}`: use it as the questions file of the next evaluation."

    tab.select(refresh, None, [table, report_pick, compare_pick, engines])
    run.click(on_run, [questions, engines, modes, limit], status, api_name="run_eval")
    cancel.click(cancel_latest(services, JOB_KINDS), None, status, api_name=f"cancel_{JOB_KINDS[-1]}")
    report_pick.input(report_frame, [report_pick], report_view)
    compare_pick.input(report_frame, [compare_pick], compare_view)
    export.click(on_export, None, status, api_name="export_feedback")
    return LiveTab(tab, LivePanel(live, JOB_KINDS))


def summary(results: dict[str, Any]) -> str:
    """engine/mode: a few headline metrics, in one line."""
    parts = []
    for engine, modes in (results or {}).items():
        for mode, metrics in (modes or {}).items():
            shown = [f"{k} {v:.3f}" for k, v in (metrics or {}).items() if isinstance(v, int | float)][:3]
            parts.append(f"{engine}/{mode}: " + ", ".join(shown))
    return "; ".join(parts)[:300]
