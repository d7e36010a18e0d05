"""The Engines tab (admins): registered versions, promotion and removal, training sets, training with a live
loss plot; the picked dataset's preview, and where a run's tracking logs are."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.services import DatagenRequest, DPOOptions, Services, SFTOptions, TrainRequest
from ui.web.common import current_user, require_choice, signed_in, user_errors
from ui.web.jobs import FollowUp, LivePanel, cancel_latest
from ui.web.training_form import KINDS, RecipeForm, build_main_knobs, build_more_knobs, new_form

ENGINE_COLUMNS = ["engine", "parent", "base", "train loss", "eval loss", "created", "gate", "promoted", "tracking"]
JOB_KINDS = ("datagen", "train")


@dataclass
class EnginesTab:
    tab: gr.Tab
    live: LivePanel
    table: gr.Dataframe
    engine_pick: gr.Dropdown
    force: gr.Checkbox
    reason: gr.Textbox
    promote: gr.Button
    remove: gr.Button
    datagen: dict[str, gr.Button]
    dataset: gr.Dropdown
    dataset_info: gr.Markdown  # the picked dataset's counts (finetune.preview), or why it would not train
    dataset_rows: gr.Dataframe  # its first rows
    kind: gr.Radio
    name: gr.Textbox
    parent: gr.Dropdown
    form: RecipeForm  # the TrainRecipe fields, each with its widget
    train: gr.Button
    cancel: gr.Button
    status: gr.Markdown
    loss_plot: gr.LinePlot


def create_engines_tab(services: Services, timer: gr.Timer) -> EnginesTab:
    """The tab, wired; `timer` redraws the loss plot of the latest training job from its stored metrics."""
    tab = _layout()
    _wire_registry(services, tab)
    _wire_training(services, tab, timer)
    return tab


def _layout() -> EnginesTab:
    with gr.Tab("Engines", id="engines", visible=False) as tab:
        table = gr.Dataframe(headers=ENGINE_COLUMNS, interactive=False, elem_id="engines-table")
        with gr.Row():
            engine_pick = gr.Dropdown(label="Engine version", choices=[], scale=3, elem_id="engine-pick")
            force = gr.Checkbox(label="Promote without a passing gate", value=False, elem_id="engine-force")
            reason = gr.Textbox(label="Reason to force (required; audited)", scale=2, elem_id="engine-promote-reason")
            promote = gr.Button("Promote to staff")
            remove = gr.Button("Remove", variant="stop")
        with gr.Row():
            datagen = {"sft": gr.Button("Generate SFT data from the index"),
                       "dpo": gr.Button("Generate DPO pairs from won/lost bids"),
                       # The chat's ratings: feedback-sft.jsonl (thumbs up) and feedback-dpo.jsonl (corrections).
                       "feedback": gr.Button("Improve from feedback", elem_id="datagen-feedback")}
        with gr.Row():
            dataset = gr.Dropdown(label="Dataset", choices=[], scale=3, elem_id="train-dataset")
            kind = gr.Radio(list(KINDS), value="sft", label="Training")
            name = gr.Textbox(label="New engine name", value="company", elem_id="train-name")
            parent = gr.Dropdown(label="Continue from (optional)", choices=[""], value="")
            form = new_form()
            build_main_knobs(form, "sft")
            train = gr.Button("Train", variant="primary", elem_id="train-button")
        dataset_info = gr.Markdown(elem_id="dataset-info")
        dataset_rows = gr.Dataframe(headers=["question", "answer"], interactive=False, elem_id="dataset-preview")
        build_more_knobs(form, "sft")
        with gr.Row():
            live = gr.HTML(elem_id="engines-live")
            cancel = gr.Button("Cancel", variant="stop", scale=0, elem_id="engines-cancel")
        status = gr.Markdown(elem_id="engines-status")
        loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Loss (latest training job)",
                                elem_id="loss-plot", height=280)
    return EnginesTab(tab, LivePanel(live, JOB_KINDS), table, engine_pick, force, reason, promote, remove, datagen,
                      dataset, dataset_info, dataset_rows, kind, name, parent, form, train, cancel, status, loss_plot)


def _wire_registry(services: Services, tab: EnginesTab) -> None:
    outputs = [tab.table, tab.engine_pick, tab.dataset, tab.parent]

    def lists(request: gr.Request, choose_newest_dataset: bool) -> tuple:
        user = current_user(services, request)
        rows, data = services.engines.list(user), services.engines.datasets(user)
        refs = [r["ref"] for r in rows]
        dataset = gr.update(choices=data, value=data[-1] if data else None) if choose_newest_dataset else (
            gr.update(choices=data))
        return engine_rows(rows), gr.update(choices=refs), dataset, gr.update(choices=["", *refs])

    @user_errors
    def refresh(request: gr.Request) -> tuple:
        return lists(request, choose_newest_dataset=True)

    @user_errors
    def relist(request: gr.Request) -> tuple:
        """The lists again, choices only: a chosen dataset or parent stays chosen mid-form."""
        return lists(request, choose_newest_dataset=False)

    @user_errors
    def on_promote(ref: str | None, forced: bool, why: str | None, request: gr.Request) -> str:
        user = current_user(services, request)
        require_choice(ref, "Pick an engine version first.")
        ref = services.engines.promote(user, ref or "", forced, why or "")  # a force with a blank reason is refused
        return f"Promoted {ref}: staff can now choose it in the chat."

    @user_errors
    def on_remove(ref: str | None, request: gr.Request) -> str:
        user = current_user(services, request)
        require_choice(ref, "Pick an engine version first.")
        return f"Removed {', '.join(services.engines.remove(user, ref or ''))}."

    tab.tab.select(refresh, None, outputs)
    # A finished training or datagen job lists its engine or dataset without the tab being selected again.
    tab.live.follow = FollowUp("engines", relist, outputs)
    tab.promote.click(on_promote, [tab.engine_pick, tab.force, tab.reason], tab.status,
                      api_name="promote_engine").then(refresh, None, outputs)
    tab.remove.click(on_remove, [tab.engine_pick], tab.status, api_name="remove_engine").then(refresh, None, outputs)


def _wire_training(services: Services, tab: EnginesTab, timer: gr.Timer) -> None:
    def on_datagen(kind: str) -> Any:
        @user_errors
        def run(request: gr.Request) -> str:
            if kind == "feedback":
                job = services.engines.submit_datagen_feedback(current_user(services, request))
                return (f"{job.title}: job {job.id} started; feedback-sft.jsonl (thumbs up) and feedback-dpo.jsonl "
                        "(corrected answers) appear in the dataset list when it is done.")
            options = SFTOptions() if kind == "sft" else DPOOptions()
            job = services.engines.submit_datagen(current_user(services, request), DatagenRequest(kind, options))
            return f"{job.title}: job {job.id} started; the dataset appears in the list when it is done."

        return run

    for kind, button in tab.datagen.items():
        button.click(on_datagen(kind), None, tab.status, api_name=f"datagen_{kind}")

    @user_errors
    def on_dataset(data: str | None, request: gr.Request) -> tuple:
        if not data:
            return "", None
        return preview_shown(services.engines.dataset_preview(current_user(services, request), data))

    # Cleared first: a file that would not train shows its error (file and line) and no stale rows.
    tab.dataset.change(lambda: ("", None), None, [tab.dataset_info, tab.dataset_rows], api_name=False,
                       show_progress="hidden").then(on_dataset, [tab.dataset], [tab.dataset_info, tab.dataset_rows],
                                                    api_name="preview_dataset")

    # The request comes first so that any number of knobs can follow it (Gradio passes inputs by position).
    @user_errors
    def on_train(request: gr.Request, data: str | None, kind: str, name: str, parent: str | None,
                 *knob_values: Any) -> str:
        user = current_user(services, request)
        require_choice(data, "Pick a dataset (generate one first).")
        request_ = TrainRequest(kind, Path(data or ""), name.strip(), parent or None,
                                overrides=tab.form.overrides(kind, knob_values))
        job = services.engines.submit_train(user, request_)
        return f"{job.title}: job {job.id} started; the loss plot below follows it."

    inputs = [tab.dataset, tab.kind, tab.name, tab.parent, *tab.form.widgets.values()]
    tab.train.click(on_train, inputs, tab.status, api_name="train")
    tab.kind.change(tab.form.visibility, [tab.kind], list(tab.form.widgets.values()), show_progress="hidden")
    tab.cancel.click(cancel_latest(services, JOB_KINDS), None, tab.status, api_name=f"cancel_{JOB_KINDS[-1]}")

    def refresh_plot(request: gr.Request) -> Any:
        user = signed_in(services, request)
        trained = [j for j in services.jobs.list(user) if j.kind == "train"] if user else []
        if not trained:
            return gr.update()
        return loss_frame(services.jobs.metrics(user, max(j.id for j in trained)))  # type: ignore[arg-type]

    timer.tick(refresh_plot, None, tab.loss_plot, show_progress="hidden", queue=False)


def engine_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    gate = {None: "none", True: "passed", False: "failed"}
    return [[r["ref"], r.get("parent") or "", r.get("base", ""), _metric(r, "train_loss", "loss"),
             _metric(r, "eval_loss", "best_eval_loss"), str(r.get("created", ""))[:16], gate[r["gate"]],
             "yes" if r["promoted"] else "", _tracking(r)] for r in rows]


def _tracking(record: dict[str, Any]) -> str:
    """Where a run with report_to wrote its tracking logs (HOME/tracking/ENGINE-vN), and by which tracker."""
    tracking = (record.get("hyperparameters") or {}).get("tracking") or {}
    return f"{tracking.get('report_to')}: {tracking['dir']}" if tracking.get("dir") else ""


def preview_shown(doc: dict[str, Any]) -> tuple[str, Any]:
    """A dataset preview as the tab shows it: one line of counts, and the first rows as a table."""
    import pandas as pd

    skipped = doc.get("skipped") or []
    reasons = "; ".join(f"{s['reason']} ({s['count']})" for s in skipped)
    parts = [f"**{html.escape(Path(doc['file']).name)}** ({doc['kind'].upper()}): {doc['rows']} rows, "
             f"{doc['validation_rows']} for validation",
             f"skipped {sum(int(s['count']) for s in skipped)}: {html.escape(reasons)}" if skipped else "none skipped"]
    tokens = doc.get("tokens")
    if isinstance(tokens, dict) and tokens:
        parts.append("tokens: " + ", ".join(f"{k} {v}" for k, v in tokens.items()))
    info = "; ".join(parts) + (f". First {len(doc['first'])} below." if doc["first"] else ".")
    columns = ["question", "answer"] if doc["kind"] == "sft" else ["question", "chosen", "rejected"]
    return info, pd.DataFrame(doc["first"], columns=columns)


def _metric(record: dict[str, Any], *keys: str) -> str:
    metrics = record.get("metrics") or {}
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, int | float):
            return f"{value:.4f}"
    return ""


def loss_frame(curve: list[dict[str, Any]]) -> Any:
    """Training and validation loss per step, long format for gr.LinePlot."""
    import pandas as pd

    rows = [{"step": e["step"], "value": e[key], "series": series} for e in curve
            for key, series in (("loss", "training"), ("eval_loss", "validation"))
            if isinstance(e.get(key), int | float) and "step" in e]
    return pd.DataFrame(rows or [{"step": 0, "value": None, "series": "training"}])
