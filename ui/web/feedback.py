"""The Feedback tab (evaluators and admins): the chat's thumbs up and down with their questions and answers, and
a corrected answer written for a thumbs-down one, which "Improve from feedback" (the Engines tab) prefers over
the answer given when it makes training data."""

from __future__ import annotations

from typing import Any

import gradio as gr

from assistant.services import Services
from ui.web.common import current_user, user_errors

COLUMNS = ["id", "rating", "question", "answer", "comment", "engine", "who", "correction"]
_SHORT = 300


def create_feedback_tab(services: Services) -> gr.Tab:
    with gr.Tab("Feedback", id="feedback", visible=False) as tab:
        gr.Markdown("The chat's ratings, oldest first. A thumbs-up answer becomes a training example as it is; "
                    "write the answer a thumbs-down one should have been, and it is preferred over the given one.")
        with gr.Row():
            refresh_button = gr.Button("Refresh", size="sm", scale=0)
        table = gr.Dataframe(headers=COLUMNS, interactive=False, wrap=True, elem_id="feedback-table",
                             column_widths=["4%", "6%", "20%", "30%", "12%", "8%", "6%", "14%"])
        pick = gr.Dropdown(label="Thumbs-down answer to correct", choices=[], elem_id="feedback-pick")
        shown = gr.Markdown(elem_id="feedback-shown")
        correction = gr.Textbox(label="Corrected answer", lines=5, elem_id="feedback-correction",
                                placeholder="The answer as it should have been (keep the [n] citations)")
        save = gr.Button("Save correction", variant="primary", elem_id="feedback-save")
        status = gr.Markdown(elem_id="feedback-status")

    @user_errors
    def refresh(request: gr.Request) -> tuple:
        rows = services.chat.feedback_rows(current_user(services, request))
        return table_rows(rows), gr.update(choices=choices(rows), value=None), "", ""

    @user_errors
    def on_pick(feedback_id: int | None, request: gr.Request) -> tuple[str, str]:
        if feedback_id is None:
            return "", ""
        rows = services.chat.feedback_rows(current_user(services, request))
        row = next((r for r in rows if r["id"] == int(feedback_id)), None)
        if row is None:
            return "This rating is gone; refresh the list.", ""
        return (f"**Question:** {row['question'] or ''}\n\n**Answer given:** {row['answer']}\n\n"
                f"**Comment:** {row['comment'] or '-'}", row["correction"] or "")

    @user_errors
    def on_save(feedback_id: int | None, text: str, request: gr.Request) -> tuple:
        user = current_user(services, request)
        if feedback_id is None:
            raise gr.Error("Pick a thumbs-down answer first.")
        row = services.chat.correct(user, int(feedback_id), text)
        rows = services.chat.feedback_rows(user)
        return (f"Saved the correction of rating {row['id']} ({row['question'] or ''!s:.80}).", table_rows(rows),
                gr.update(choices=choices(rows), value=int(feedback_id)))

    tab.select(refresh, None, [table, pick, shown, correction])
    refresh_button.click(refresh, None, [table, pick, shown, correction])
    pick.input(on_pick, [pick], [shown, correction])
    save.click(on_save, [pick, correction], [status, table, pick], api_name="correct_feedback")
    return tab


def _short(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def table_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["id"], "👍 up" if r["rating"] > 0 else "👎 down", _short(r["question"]), _short(r["answer"]),
             _short(r["comment"]), r["engine"] or "", r["user"], _short(r["correction"])] for r in rows]


def choices(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """The thumbs-down ratings, newest first, each named by its id, question and whether it is corrected."""
    down = [r for r in reversed(rows) if r["rating"] < 0]
    return [(f"{r['id']}: {_short(r['question'])[:70]}" + (" (corrected)" if r["correction"] else ""), r["id"])
            for r in down]
