"""The Reports tab (evaluators and admins): a questions file (uploaded, the demo's, or a path on the server),
checked and previewed; an evaluation of any engine version, promoted or not; the promotion gate and
promotion (admins; forced only with a reason); each version's gate verdict; the reports, side by side; the
chat's feedback as a questions file. Every callback only calls the services."""

from __future__ import annotations

import html
import urllib.parse
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.services import DEMO_QUESTIONS, EvalOptions, Services
from ui.web.common import current_user, require_choice, user_errors
from ui.web.jobs import FollowUp, LivePanel, LiveTab, cancel_latest

JOB_KINDS = ("eval",)
PREVIEW_COLUMNS = ["line", "question", "answerable", "reference"]
VERSION_COLUMNS = ["version", "promoted", "gate", "metric", "delta", "baseline", "checked", "forced", "by", "reason"]
DEFAULT_GATE_METRIC = "rouge_l"


def create_reports_tab(services: Services) -> LiveTab:
    """The tab (shown to evaluators and admins), wired; its live panel follows evaluation jobs."""
    with gr.Tab("Reports", id="reports", visible=False) as tab:
        gr.Markdown("### Questions")
        with gr.Row():
            upload = gr.File(label="Upload a questions file (JSONL)", file_types=[".jsonl"], type="filepath",
                             scale=2, elem_id="eval-upload")
            with gr.Column(scale=3):
                questions = gr.Textbox(label="Questions file (JSONL)", elem_id="eval-questions",
                                       placeholder="upload one, use the demo's, or type a path on the server")
                with gr.Row():
                    demo = gr.Button("Use the demo questions", elem_id="eval-demo")
                    check = gr.Button("Check the file", elem_id="eval-check")
        info = gr.Markdown(elem_id="eval-questions-info")
        preview = gr.Dataframe(headers=PREVIEW_COLUMNS, interactive=False, elem_id="eval-preview")
        gr.Markdown("### Evaluate")
        with gr.Row():
            engines = gr.Dropdown(label="Engines (any version, promoted or not)", choices=["base"], value=["base"],
                                  multiselect=True, elem_id="eval-engines")
            modes = gr.CheckboxGroup(["rag", "norag"], value=["rag", "norag"], label="Modes", elem_id="eval-modes")
            limit = gr.Number(label="Limit (questions)", value=None, precision=0, elem_id="eval-limit")
            run = gr.Button("Run evaluation", variant="primary", elem_id="eval-button")
        gr.Markdown("### Gate and promotion\nThe gate evaluates the version and its baseline on the questions above "
                    "(same modes and limit) and passes when, in every mode, version − baseline ≥ the minimum delta "
                    "on the metric. Promotion (admins) needs a passing gate, or force with a reason.")
        with gr.Row():
            candidate = gr.Dropdown(label="Version", choices=[], elem_id="gate-candidate")
            baseline = gr.Dropdown(label="Baseline", choices=["base"], value="base", elem_id="gate-baseline")
            metric = gr.Dropdown(label="Metric", choices=[DEFAULT_GATE_METRIC], value=DEFAULT_GATE_METRIC,
                                 elem_id="gate-metric")
            min_delta = gr.Number(label="Minimum delta", value=0.0, elem_id="gate-min-delta")
            gate = gr.Button("Run the gate", variant="primary", elem_id="gate-button")
        with gr.Row():
            force = gr.Checkbox(label="Force past the gate", value=False, elem_id="promote-force")
            reason = gr.Textbox(label="Reason (required to force; audited)", scale=3, elem_id="promote-reason")
            promote = gr.Button("Promote to staff", elem_id="promote-button")
            refresh_button = gr.Button("Refresh", scale=0, elem_id="reports-refresh")
        versions = gr.Dataframe(headers=VERSION_COLUMNS, interactive=False, elem_id="gate-table")
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
        version_rows = services.reports.versions(user)
        refs = [v["ref"] for v in version_rows]
        metrics = services.reports.gate_metrics(user)
        return (table_rows, gr.update(choices=ids), gr.update(choices=["", *ids]),
                gr.update(choices=["base", *refs]), gr.update(choices=refs), gr.update(choices=["base", *refs]),
                gr.update(choices=metrics), [version_row(v) for v in version_rows])

    refreshed = [table, report_pick, compare_pick, engines, candidate, baseline, metric, versions]

    def shown(doc: dict[str, Any]) -> tuple:
        return doc["path"], questions_info(doc), [preview_row(q) for q in doc["preview"]]

    @user_errors
    def on_upload(path: str | None, request: gr.Request) -> tuple:
        require_choice(path, "Choose a questions file (JSONL) to upload.")
        return shown(services.reports.upload_questions(current_user(services, request), Path(str(path)),
                                                       Path(str(path)).name))

    @user_errors
    def on_check(path: str, request: gr.Request) -> tuple:
        require_choice((path or "").strip(), "Upload a questions file, use the demo's, or type its path.")
        return shown(services.reports.check_questions(current_user(services, request), Path(path.strip())))

    def on_demo(request: gr.Request) -> tuple:
        return on_check(str(DEMO_QUESTIONS), request)  # already maps its errors

    @user_errors
    def on_run(path: str, engine_names: list[str], mode_names: list[str], most: float | None,
               request: gr.Request) -> str:
        require_choice((path or "").strip(), "Upload a questions file, use the demo's, or type its path.")
        options = EvalOptions(questions=Path(path.strip()), engines=engine_names or ["base"],
                              modes=mode_names or ["rag"], limit=int(most) if most else None)
        job = services.reports.submit_evaluate(current_user(services, request), options)
        return f"{job.title}: job {job.id} started; follow it in the Jobs tab, the report appears here."

    @user_errors
    def on_gate(path: str, mode_names: list[str], most: float | None, version: str | None, against: str | None,
                metric_name: str | None, delta: float | None, request: gr.Request) -> str:
        require_choice((path or "").strip(), "Upload a questions file, use the demo's, or type its path.")
        require_choice(version, "Pick the version to gate.")
        options = EvalOptions(questions=Path(path.strip()), engines=[str(version)], modes=mode_names or ["rag"],
                              limit=int(most) if most else None, gate=version, against=against or "base",
                              gate_metric=metric_name or DEFAULT_GATE_METRIC, min_delta=float(delta or 0.0))
        job = services.reports.submit_evaluate(current_user(services, request), options)
        return (f"{job.title}: job {job.id} started; its verdict appears in the table below when it is done "
                "(Refresh).")

    @user_errors
    def on_promote(version: str | None, forced: bool, why: str, request: gr.Request) -> str:
        require_choice(version, "Pick the version to promote.")
        ref = services.engines.promote(current_user(services, request), str(version), forced, why or "")
        return f"Promoted {ref}: staff can now choose it in the chat."

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

    def cleared() -> tuple:
        return "", "", []

    tab.select(refresh, None, refreshed)
    refresh_button.click(refresh, None, refreshed, api_name=False)
    shown_in = [questions, info, preview]
    upload.upload(cleared, None, shown_in, api_name=False).then(on_upload, [upload], shown_in,
                                                                 api_name="upload_questions")
    check.click(lambda: ("", []), None, [info, preview], api_name=False).then(on_check, [questions], shown_in,
                                                                              api_name="check_questions")
    demo.click(on_demo, None, shown_in, api_name="demo_questions")
    run.click(on_run, [questions, engines, modes, limit], status, api_name="run_eval")
    gate.click(on_gate, [questions, modes, limit, candidate, baseline, metric, min_delta], status,
               api_name="run_gate")
    promote.click(on_promote, [candidate, force, reason], status, api_name="promote_version").then(
        refresh, None, refreshed)
    cancel.click(cancel_latest(services, JOB_KINDS), None, status, api_name=f"cancel_{JOB_KINDS[-1]}")
    report_pick.input(report_frame, [report_pick], report_view)
    compare_pick.input(report_frame, [compare_pick], compare_view)
    export.click(on_export, None, status, api_name="export_feedback")
    # A finished evaluation or gate lists its report without the tab being selected again.
    return LiveTab(tab, LivePanel(live, JOB_KINDS, FollowUp("reports", refresh, refreshed)))


def questions_info(doc: dict[str, Any]) -> str:
    """The counts of a checked questions file, in one line."""
    unmarked = f", {doc['unmarked']} unmarked" if doc["unmarked"] else ""
    return (f"**{html.escape(Path(doc['path']).name)}**: {doc['questions']} questions, {doc['answerable']} "
            f"answerable, {doc['unanswerable']} unanswerable{unmarked}; {doc['with_reference']} with a reference. "
            f"First {len(doc['preview'])} below.")


def preview_row(q: dict[str, Any]) -> list[Any]:
    answerable = {True: "yes", False: "no"}.get(q.get("answerable"), "")
    return [q["line"], q["question"], answerable, (q.get("reference") or "")[:120]]


def version_row(v: dict[str, Any]) -> list[Any]:
    """One engine version in the verdict table: promoted?, the gate's verdict with its metric and delta, forced?"""
    gate, promo = v.get("gate"), v.get("promotion") or {}
    verdict, metric, delta, baseline, checked = "not gated", "", "", "", ""
    if gate is not None:
        verdict = "passed" if gate["passed"] else "failed"
        metric = f"{gate['metric']} (min {gate['min_delta']:+g})" if gate.get("min_delta") is not None \
            else str(gate["metric"])
        delta = ", ".join(f"{mode} {d:+.4f}" if isinstance(d, int | float) else f"{mode} n/a"
                          for mode, d in (gate.get("deltas") or {}).items())
        baseline, checked = str(gate.get("baseline") or ""), str(gate.get("checked_at") or "")[:19]
    return [v["ref"], "yes" if v["promoted"] else "", verdict, metric, delta, baseline, checked,
            "yes" if promo.get("forced") else "", promo.get("by") or "", promo.get("reason") or ""]


def summary(results: dict[str, Any]) -> str:
    """engine/mode: a few headline metrics, in one line."""
    parts = []
    for engine, modes in (results or {}).items():
        for mode, metrics in (modes or {}).items():
            shown = [f"{k} {v:.3f}" for k, v in (metrics or {}).items() if isinstance(v, int | float)][:3]
            parts.append(f"{engine}/{mode}: " + ", ".join(shown))
    return "; ".join(parts)[:300]
