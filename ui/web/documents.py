"""The Documents tab (admins): upload with metadata, reindex, remove, and the table of indexed sources."""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr

from assistant.services import Services, about
from ui.web.chat import DOC_TYPES
from ui.web.common import current_user, require_choice, user_errors
from ui.web.jobs import FollowUp, LivePanel, LiveTab

SOURCE_COLUMNS = ["source", "title", "about", "chunks", "indexed", "doc_type", "groups", "last error"]


def create_documents_tab(services: Services) -> LiveTab:
    """The tab (hidden until the page load shows it to admins), wired; its live panel follows index jobs."""
    with gr.Tab("Documents", id="documents", visible=False) as tab:
        with gr.Row():
            files = gr.File(label="Files or a zip", file_count="multiple", elem_id="upload")
            with gr.Column():
                doc_type = gr.Dropdown(label="Document type", choices=DOC_TYPES, value="", allow_custom_value=True,
                                       elem_id="upload-type")
                sector = gr.Textbox(label="Sector")
                outcome = gr.Dropdown(label="Outcome (bids)", choices=["", "won", "lost"], value="")
                groups = gr.Textbox(label="Groups (comma-separated; empty = everyone)")
                upload = gr.Button("Upload and index", variant="primary", elem_id="upload-button")
        status = gr.Markdown(elem_id="upload-status")
        live = gr.HTML(elem_id="upload-live")  # the live progress of the work started here
        with gr.Row():
            reindex_all = gr.Button("Reindex everything", elem_id="reindex-all")
            source_pick = gr.Dropdown(label="Source", choices=[], scale=3)
            reindex_one = gr.Button("Reindex source")
            remove_one = gr.Button("Remove source", variant="stop")
        table = gr.Dataframe(headers=SOURCE_COLUMNS, interactive=False, elem_id="sources-table")

    @user_errors
    def refresh(request: gr.Request) -> tuple:
        records = services.documents.sources(current_user(services, request))
        rows = sorted((r.to_public() for r in records), key=lambda r: r["indexed_at"], reverse=True)  # newest first
        table_rows = [[r["source"], r["metadata"].get("title", ""), about(r["metadata"]), r["chunks"],
                       r["indexed_at"], r["metadata"].get("doc_type", ""), ",".join(r["metadata"].get("groups") or []),
                       r.get("error", "")] for r in rows]
        return table_rows, gr.update(choices=[r["source"] for r in rows])

    @user_errors
    def on_upload(paths: list | None, dtype: str, sect: str, result: str, group_list: str,
                  request: gr.Request) -> tuple:
        user = current_user(services, request)
        require_choice(paths, "Choose one or more files (or a zip) first.")
        pairs = [(Path(p).name, Path(p)) for p in paths or []]
        meta = {"doc_type": dtype, "sector": sect.strip(), "outcome": result, "groups": group_list}
        stored, job = services.documents.upload(user, pairs, meta)
        lines = [f"Saved {len(stored.saved)} file(s)."]
        lines += [f"- refused **{html.escape(r['path'])}**: {html.escape(r['error'])}" for r in stored.rejected]
        if job:
            lines.append(f"Indexing in job {job.id}: follow it below and in the Jobs tab.")
        return "\n".join(lines), None

    @user_errors
    def on_reindex(source: str | None, request: gr.Request) -> str:
        job = services.documents.submit_reindex(current_user(services, request), source or None)
        return f"{job.title}: job {job.id} started."

    def on_reindex_all(request: gr.Request) -> str:
        return on_reindex(None, request)  # already maps its errors

    @user_errors
    def on_remove(source: str | None, request: gr.Request) -> str:
        user = current_user(services, request)
        require_choice(source, "Pick a source to remove.")
        return f"Removed {len(services.documents.remove_one(user, source or ''))} source(s)."

    upload.click(on_upload, [files, doc_type, sector, outcome, groups], [status, files], api_name="upload")
    reindex_all.click(on_reindex_all, None, status, api_name="reindex")
    reindex_one.click(on_reindex, [source_pick], status, api_name=False)
    remove_one.click(on_remove, [source_pick], status, api_name="remove_source").then(
        refresh, None, [table, source_pick])
    tab.select(refresh, None, [table, source_pick])
    # A finished index job lists its files without the tab being selected again.
    return LiveTab(tab, LivePanel(live, ("index",), FollowUp("documents", refresh, [table, source_pick])))
