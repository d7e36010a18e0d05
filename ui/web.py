"""The Gradio app: chat for everyone, documents and users for admins, a jobs panel for all.

Callbacks only translate between widgets and `Workspace` calls; the workspace checks the role on
every call (the tabs a role cannot use are also hidden, but hiding is not the protection).
"""

from __future__ import annotations

import html
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.accounts import AccountError, User
from assistant.chat import NOT_FOUND
from assistant.history import HistoryError
from assistant.jobs import Job, JobError
from assistant.llm.base import LLMUnavailable
from assistant.services import InputError
from assistant.uploads import UploadError
from assistant.workspace import PermissionDenied, TurnDone, Workspace, may_see
from indexing.doc_context import about
from indexing.metadata import MetadataError

SESSION_COOKIE = "assistant_session"
# Failures a person can act on: shown as a message in the page, never a traceback.
SHOWN = (InputError, PermissionDenied, HistoryError, LLMUnavailable, AccountError, JobError, UploadError, MetadataError,
         ValueError, KeyError)
DOC_TYPES = ["", "annual_report", "kms_fact", "internal_comms", "marketing", "training", "bid", "itt",
             "case_study", "tone_guide"]
FLOW_BUTTONS = {"add_case_study": "Add case study", "rewrite_tone": "Rewrite in our tone of voice",
                "answer_tender_question": "Answer tender question"}
CSS = """
.sources details { margin: .25rem 0; }
.sources summary { cursor: pointer; font-weight: 600; }
.sources blockquote { margin: .3rem 0 .3rem 1rem; color: #444; white-space: pre-wrap; }
.jobbar { width: 100%; }
"""


def _user(ws: Workspace, request: gr.Request) -> User:
    user = ws.session_user(request.cookies.get(SESSION_COOKIE)) if request else None
    if user is None:
        raise gr.Error("Your session has expired: reload the page and sign in again.")
    return user


def _shown(err: Exception) -> gr.Error:
    return gr.Error(str(err) or err.__class__.__name__)


def sources_html(sources: list[dict[str, Any]]) -> str:
    """Citations as expandable passages, each naming its file and page, with a link to the file itself."""
    if not sources:
        return ""
    items = []
    for n, s in enumerate(sources, 1):
        name = html.escape(s.get("metadata", {}).get("file_name") or Path(s["source"]).name)
        page = f", page {s['page']}" if s.get("page") else ""
        href = "/document?source=" + urllib.parse.quote(s["source"], safe="")
        if s.get("page"):
            href += f"#page={s['page']}"
        items.append(
            f'<details class="citation"><summary>[{n}] {name}{page}</summary>'
            f"<blockquote>{html.escape(s['text'])}</blockquote>"
            f'<a href="{href}" target="_blank" rel="noopener">open {name}</a></details>'
        )
    return '<div class="sources"><strong>Sources</strong>' + "".join(items) + "</div>"


def answer_text(text: str, sources: list[dict[str, Any]]) -> str:
    """An answer as shown in the chat: the text, an honest note when nothing was found, the cited files."""
    if text.strip() == NOT_FOUND:
        text += " Nothing relevant was found in the documents you can see; try other words or fewer filters."
    if sources:
        names = ", ".join(f"[{n}] {Path(s['source']).name}" + (f" p.{s['page']}" if s.get("page") else "")
                          for n, s in enumerate(sources, 1))
        text += f"\n\nSources: {names}"
    return text


def _jobs_table(jobs: list[Job]) -> list[list[Any]]:
    return [[j.id, j.kind, j.title, j.owner, j.state, f"{round(100 * j.progress)}%", j.label or "",
             _outcome(j)[:300]] for j in jobs]


def _outcome(job: Job) -> str:
    """What a finished job did, in a line: its error, or for indexing the counts and the first failures."""
    if job.error:
        return job.error
    result = job.result or {}
    if "added" in result:
        text = (f"added {result['added']}, updated {result['updated']}, unchanged {result['unchanged']}, "
                f"removed {result['removed']}")
        failed = result.get("failed") or []
        if failed:
            text += f"; failed {len(failed)}: " + "; ".join(f"{Path(f['path']).name}: {f['error']}" for f in failed[:3])
        return text
    return ""


def _job_html(jobs: list[Job], kinds: tuple[str, ...] | None = None) -> str:
    active = [j for j in jobs if j.state in ("queued", "running") and (kinds is None or j.kind in kinds)]
    if not active:
        return ""
    rows = "".join(
        f'<div class="job"><span>{html.escape(j.title)} ({j.state}) {html.escape(j.label or "")}</span> '
        f'<progress class="jobbar" max="100" value="{round(100 * j.progress)}"></progress> '
        f"{round(100 * j.progress)}%</div>" for j in active
    )
    return f'<div class="jobs-live">{rows}</div>'


def build_blocks(ws: Workspace) -> gr.Blocks:
    with gr.Blocks(title="Enterprise assistant", analytics_enabled=False) as blocks:
        conversation = gr.State(None)  # the open conversation's id
        message_ids = gr.State([])  # the stored message id of each chatbot message (None for user turns)
        header = gr.Markdown()

        with gr.Tab("Chat", id="chat"), gr.Row():
            with gr.Column(scale=1, min_width=240):
                conversations = gr.Dropdown(label="Conversations", choices=[], interactive=True,
                                                elem_id="conversations")
                with gr.Row():
                    new_chat = gr.Button("New chat", size="sm")
                    delete_chat = gr.Button("Delete", size="sm", variant="stop")
                engine = gr.Dropdown(label="Engine", choices=["base"], value="base", interactive=True)
                use_rag = gr.Checkbox(label="Use the documents (RAG)", value=True)
                doc_type = gr.Dropdown(label="Document type", choices=DOC_TYPES, value="",
                                       allow_custom_value=True)
                sector = gr.Dropdown(label="Sector", choices=[""], value="", allow_custom_value=True)
                gr.Markdown("**Prompt flows** (use the text in the message box)")
                flow_buttons = {name: gr.Button(label, size="sm") for name, label in FLOW_BUTTONS.items()}
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="Assistant", height=460, elem_id="chatbot")
                with gr.Row():
                    message = gr.Textbox(placeholder="Ask about the company's documents…", show_label=False,
                                         scale=5, elem_id="message", max_lines=8)
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                sources = gr.HTML(elem_id="sources")
                feedback_comment = gr.Textbox(label="Comment for your next thumbs up or down (optional)", max_lines=2)
                feedback_status = gr.Markdown()

        with gr.Tab("Documents", id="documents", visible=False) as documents_tab:
            with gr.Row():
                files = gr.File(label="Files or a zip", file_count="multiple", elem_id="upload")
                with gr.Column():
                    up_type = gr.Dropdown(label="Document type", choices=DOC_TYPES, value="", allow_custom_value=True,
                                          elem_id="upload-type")
                    up_sector = gr.Textbox(label="Sector")
                    up_outcome = gr.Dropdown(label="Outcome (bids)", choices=["", "won", "lost"], value="")
                    up_groups = gr.Textbox(label="Groups (comma-separated; empty = everyone)")
                    upload = gr.Button("Upload and index", variant="primary", elem_id="upload-button")
            upload_status = gr.Markdown(elem_id="upload-status")
            upload_live = gr.HTML(elem_id="upload-live")  # the live progress of the work started here
            with gr.Row():
                reindex_all = gr.Button("Reindex everything", elem_id="reindex-all")
                source_pick = gr.Dropdown(label="Source", choices=[], scale=3)
                reindex_one = gr.Button("Reindex source")
                remove_one = gr.Button("Remove source", variant="stop")
            sources_table = gr.Dataframe(
                headers=["source", "title", "about", "chunks", "indexed", "doc_type", "groups", "last error"],
                interactive=False,
                elem_id="sources-table",
            )

        with gr.Tab("Engines", id="engines", visible=False) as engines_tab:
            engines_table = gr.Dataframe(
                headers=["engine", "parent", "base", "train loss", "eval loss", "created", "gate", "promoted"],
                interactive=False, elem_id="engines-table",
            )
            with gr.Row():
                engine_pick = gr.Dropdown(label="Engine version", choices=[], scale=3, elem_id="engine-pick")
                force = gr.Checkbox(label="Promote without a passing gate", value=False)
                promote_btn = gr.Button("Promote to staff")
                remove_engine_btn = gr.Button("Remove", variant="stop")
            with gr.Row():
                datagen_sft = gr.Button("Generate SFT data from the index")
                datagen_dpo = gr.Button("Generate DPO pairs from won/lost bids")
            with gr.Row():
                dataset = gr.Dropdown(label="Dataset", choices=[], scale=3, elem_id="train-dataset")
                train_kind = gr.Radio(["sft", "dpo"], value="sft", label="Training")
                train_name = gr.Textbox(label="New engine name", value="company", elem_id="train-name")
                train_from = gr.Dropdown(label="Continue from (optional)", choices=[""], value="")
                max_steps = gr.Number(label="Max steps", value=20, precision=0, elem_id="train-steps")
                train_btn = gr.Button("Train", variant="primary", elem_id="train-button")
            with gr.Row():
                engines_live = gr.HTML(elem_id="engines-live")
                engines_cancel = gr.Button("Cancel", variant="stop", scale=0, elem_id="engines-cancel")
            engines_status = gr.Markdown(elem_id="engines-status")
            loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Loss (latest training job)",
                                    elem_id="loss-plot", height=280)

        with gr.Tab("Reports", id="reports", visible=False) as reports_tab:
            with gr.Row():
                eval_questions = gr.Textbox(label="Questions file (JSONL)", scale=3, elem_id="eval-questions")
                eval_engines = gr.Dropdown(label="Engines", choices=["base"], value=["base"], multiselect=True)
                eval_modes = gr.CheckboxGroup(["rag", "norag"], value=["rag", "norag"], label="Modes")
                eval_limit = gr.Number(label="Limit (questions)", value=None, precision=0, elem_id="eval-limit")
                eval_btn = gr.Button("Run evaluation", variant="primary", elem_id="eval-button")
            with gr.Row():
                reports_live = gr.HTML(elem_id="reports-live")
                reports_cancel = gr.Button("Cancel", variant="stop", scale=0, elem_id="reports-cancel")
            reports_status = gr.Markdown(elem_id="reports-status")
            reports_table = gr.Dataframe(headers=["report", "created", "questions", "summary"], interactive=False,
                                         elem_id="reports-table")
            with gr.Row():
                report_pick = gr.Dropdown(label="Open report", choices=[], scale=2, elem_id="report-pick")
                compare_pick = gr.Dropdown(label="Compare with", choices=[""], value="", scale=2)
                export_btn = gr.Button("Export chat feedback as a questions file")
            with gr.Row():
                report_view = gr.HTML(elem_id="report-view")
                compare_view = gr.HTML()

        with gr.Tab("Users", id="users", visible=False) as users_tab:
            users_table = gr.Dataframe(headers=["user", "role", "groups"], interactive=False)
            with gr.Row():
                new_name = gr.Textbox(label="User name")
                new_role = gr.Dropdown(label="Role", choices=["staff", "evaluator", "admin"], value="staff")
                new_groups = gr.Textbox(label="Groups")
                new_password = gr.Textbox(label="Password", type="password")
                add_user = gr.Button("Add user")
            users_status = gr.Markdown()

        with gr.Tab("Jobs", id="jobs"):
            jobs_live = gr.HTML(elem_id="jobs-live")
            jobs_table = gr.Dataframe(
                headers=["id", "kind", "title", "owner", "state", "progress", "step", "outcome"], interactive=False,
                elem_id="jobs-table",
            )
            with gr.Row():
                job_id = gr.Number(label="Job id", precision=0)
                cancel = gr.Button("Cancel job", variant="stop")
            jobs_status = gr.Markdown()

        # -- load: who is this, what may they see --------------------------------------------------
        def on_load(request: gr.Request) -> tuple:
            user = _user(ws, request)
            is_admin = user.can("documents")
            groups = ", ".join(user.groups) or "none"
            found = {str(s["metadata"]["sector"]) for s in _visible_sources(ws, user) if s["metadata"].get("sector")}
            sectors = ["", *sorted(found)]
            return (
                f"Signed in as **{user.name}** ({user.role}; groups: {groups}) · [Sign out](/logout)",
                gr.update(choices=ws.engine_names(user), value="base"),
                gr.update(choices=sectors, value=""),
                gr.update(choices=_conversation_choices(ws, user), value=None),
                gr.Tab(visible=is_admin), gr.Tab(visible=user.can("users")), gr.Tab(visible=user.can("engines")),
                gr.Tab(visible=user.can("reports")),
            )

        blocks.load(on_load, None,
                    [header, engine, sector, conversations, documents_tab, users_tab, engines_tab, reports_tab])

        # -- chat ------------------------------------------------------------------------------------------
        def on_send(
            text: str, history: list, conv: int | None, ids: list, engine_name: str, rag: bool, dtype: str,
            sect: str, request: gr.Request,
        ) -> Iterator[tuple]:
            user = _user(ws, request)
            where = {"doc_type": dtype or None, "sector": sect or None}
            try:
                turn = ws.chat(user, text, conv, engine_name or "base", rag, where)
            except SHOWN as err:
                raise _shown(err) from err
            history = [*history, {"role": "user", "content": text}, {"role": "assistant", "content": ""}]
            ids = [*ids, None, None]
            yield history, "", conv, ids, "", gr.update()
            try:
                for piece in turn:
                    if isinstance(piece, TurnDone):
                        cited = [s.to_json() for s in piece.answer.sources]
                        history[-1] = {"role": "assistant", "content": answer_text(piece.answer.answer, cited)}
                        ids[-1] = piece.message_id
                        conv = piece.conversation_id
                        choices = _conversation_choices(ws, user)
                        yield history, "", conv, ids, sources_html(cited), gr.update(choices=choices, value=conv)
                    else:
                        history[-1]["content"] += piece
                        yield history, "", conv, ids, "", gr.update()
            except SHOWN as err:
                raise _shown(err) from err

        chat_inputs = [message, chatbot, conversation, message_ids, engine, use_rag, doc_type, sector]
        chat_outputs = [chatbot, message, conversation, message_ids, sources, conversations]
        send.click(on_send, chat_inputs, chat_outputs, api_name="chat")
        message.submit(on_send, chat_inputs, chat_outputs, api_name=False)

        def on_flow(name: str) -> Any:
            def run(text: str, history: list, engine_name: str, request: gr.Request) -> tuple:
                user = _user(ws, request)
                try:
                    result = ws.run_flow(user, name, text, None, engine_name or "base")
                except SHOWN as err:
                    raise _shown(err) from err
                history = [*history, {"role": "user", "content": f"{FLOW_BUTTONS[name]}: {text}"},
                           {"role": "assistant", "content": result.text}]
                return history, "", sources_html([s.to_json() for s in result.sources])

            return run

        for name, button in flow_buttons.items():
            button.click(on_flow(name), [message, chatbot, engine], [chatbot, message, sources], api_name=False)

        def on_open(conv: int | None, request: gr.Request) -> tuple:
            user = _user(ws, request)
            if conv is None:
                return [], None, [], ""
            try:
                rows = ws.messages(user, int(conv))
            except SHOWN as err:
                raise _shown(err) from err
            history = [{"role": r["role"], "content": answer_text(r["content"], r["sources"] or [])
                        if r["role"] == "assistant" else r["content"]} for r in rows]
            ids = [r["id"] if r["role"] == "assistant" else None for r in rows]
            last = next((r for r in reversed(rows) if r["role"] == "assistant"), None)
            return history, int(conv), ids, sources_html((last or {}).get("sources") or [])

        conversations.input(on_open, [conversations], [chatbot, conversation, message_ids, sources])

        def on_new() -> tuple:
            return [], None, [], "", gr.update(value=None)

        new_chat.click(on_new, None, [chatbot, conversation, message_ids, sources, conversations])

        def on_delete(conv: int | None, request: gr.Request) -> tuple:
            user = _user(ws, request)
            if conv is not None:
                try:
                    ws.delete_conversation(user, int(conv))
                except SHOWN as err:
                    raise _shown(err) from err
            return [], None, [], "", gr.update(choices=_conversation_choices(ws, user), value=None)

        delete_chat.click(on_delete, [conversation], [chatbot, conversation, message_ids, sources, conversations])

        def on_like(ids: list, comment: str, data: gr.LikeData, request: gr.Request) -> tuple[str, str]:
            user = _user(ws, request)
            index = data.index[0] if isinstance(data.index, list | tuple) else data.index
            message_id = ids[index] if 0 <= index < len(ids) else None
            if message_id is None:
                return "Feedback is kept for the assistant's answers only.", comment
            rating = 1 if data.liked is True or data.liked == "Like" else -1
            try:
                ws.feedback(user, int(message_id), rating, comment or "")
            except SHOWN as err:
                raise _shown(err) from err
            return f"Thanks: your {'👍' if rating > 0 else '👎'} was saved for the evaluators.", ""

        chatbot.like(on_like, [message_ids, feedback_comment], [feedback_status, feedback_comment])

        # -- documents (admin) -------------------------------------------------------------------------
        def refresh_sources(request: gr.Request) -> tuple:
            user = _user(ws, request)
            try:
                rows = ws.sources(user)
            except SHOWN as err:
                raise _shown(err) from err
            rows = sorted(rows, key=lambda r: r["indexed_at"], reverse=True)  # what was just indexed comes first
            table = [[r["source"], r["metadata"].get("title", ""), about(r["metadata"]), r["chunks"], r["indexed_at"],
                      r["metadata"].get("doc_type", ""), ",".join(r["metadata"].get("groups") or []),
                      r.get("error", "")] for r in rows]
            return table, gr.update(choices=[r["source"] for r in rows])

        def on_upload(paths: list | None, dtype: str, sect: str, outcome: str, groups: str,
                      request: gr.Request) -> tuple:
            user = _user(ws, request)
            if not paths:
                raise gr.Error("Choose one or more files (or a zip) first.")
            pairs = [(Path(p).name, Path(p)) for p in paths]
            meta = {"doc_type": dtype, "sector": sect.strip(), "outcome": outcome, "groups": groups}
            try:
                stored, job = ws.upload(user, pairs, meta)
            except SHOWN as err:
                raise _shown(err) from err
            lines = [f"Saved {len(stored.saved)} file(s)."]
            lines += [f"- refused **{html.escape(r['path'])}**: {html.escape(r['error'])}" for r in stored.rejected]
            if job:
                lines.append(f"Indexing in job {job.id}: follow it below and in the Jobs tab.")
            return "\n".join(lines), None

        upload.click(on_upload, [files, up_type, up_sector, up_outcome, up_groups], [upload_status, files],
                     api_name="upload")

        def on_reindex(source: str | None, request: gr.Request) -> str:
            user = _user(ws, request)
            try:
                job = ws.reindex(user, source or None)
            except SHOWN as err:
                raise _shown(err) from err
            return f"{job.title}: job {job.id} started."

        def on_reindex_all(request: gr.Request) -> str:
            return on_reindex(None, request)

        reindex_all.click(on_reindex_all, None, upload_status, api_name="reindex")
        reindex_one.click(on_reindex, [source_pick], upload_status, api_name=False)

        def on_remove(source: str | None, request: gr.Request) -> str:
            user = _user(ws, request)
            if not source:
                raise gr.Error("Pick a source to remove.")
            try:
                removed = ws.remove_source(user, source)
            except SHOWN as err:
                raise _shown(err) from err
            return f"Removed {len(removed)} source(s)."

        remove_one.click(on_remove, [source_pick], upload_status, api_name="remove_source").then(
            refresh_sources, None, [sources_table, source_pick]
        )
        documents_tab.select(refresh_sources, None, [sources_table, source_pick])

        # -- engines (admin) -------------------------------------------------------------------------------
        def refresh_engines(request: gr.Request) -> tuple:
            user = _user(ws, request)
            try:
                rows, data = ws.engines(user), ws.datasets(user)
            except SHOWN as err:
                raise _shown(err) from err
            table = [[r["ref"], r.get("parent") or "", r.get("base", ""), _metric(r, "train_loss", "loss"),
                      _metric(r, "eval_loss", "best_eval_loss"), str(r.get("created", ""))[:16],
                      {None: "none", True: "passed", False: "failed"}[r["gate"]], "yes" if r["promoted"] else ""]
                     for r in rows]
            refs = [r["ref"] for r in rows]
            return (table, gr.update(choices=refs), gr.update(choices=data, value=data[-1] if data else None),
                    gr.update(choices=["", *refs]))

        engine_outputs = [engines_table, engine_pick, dataset, train_from]
        engines_tab.select(refresh_engines, None, engine_outputs)

        def on_promote(ref: str | None, forced: bool, request: gr.Request) -> str:
            user = _user(ws, request)
            if not ref:
                raise gr.Error("Pick an engine version first.")
            try:
                return f"Promoted {ws.promote_engine(user, ref, forced)}: staff can now choose it in the chat."
            except SHOWN as err:
                raise _shown(err) from err

        promote_btn.click(on_promote, [engine_pick, force], engines_status, api_name="promote_engine").then(
            refresh_engines, None, engine_outputs)

        def on_remove_engine(ref: str | None, request: gr.Request) -> str:
            user = _user(ws, request)
            if not ref:
                raise gr.Error("Pick an engine version first.")
            try:
                return f"Removed {', '.join(ws.remove_engine(user, ref))}."
            except SHOWN as err:
                raise _shown(err) from err

        remove_engine_btn.click(on_remove_engine, [engine_pick], engines_status, api_name="remove_engine").then(
            refresh_engines, None, engine_outputs)

        def on_datagen(kind: str) -> Any:
            def run(request: gr.Request) -> str:
                user = _user(ws, request)
                try:
                    job = ws.datagen(user, kind)
                except SHOWN as err:
                    raise _shown(err) from err
                return f"{job.title}: job {job.id} started; the dataset appears in the list when it is done."

            return run

        datagen_sft.click(on_datagen("sft"), None, engines_status, api_name="datagen_sft")
        datagen_dpo.click(on_datagen("dpo"), None, engines_status, api_name="datagen_dpo")

        def on_train(data: str | None, kind: str, name: str, parent: str, steps: float | None,
                     request: gr.Request) -> str:
            user = _user(ws, request)
            if not data:
                raise gr.Error("Pick a dataset (generate one first).")
            overrides = {"max_steps": int(steps)} if steps else None
            try:
                job = ws.train(user, kind, data, name.strip(), parent or None, overrides)
            except SHOWN as err:
                raise _shown(err) from err
            return f"{job.title}: job {job.id} started; the loss plot below follows it."

        train_btn.click(on_train, [dataset, train_kind, train_name, train_from, max_steps], engines_status,
                        api_name="train")

        def refresh_plot(request: gr.Request) -> Any:
            user = ws.session_user(request.cookies.get(SESSION_COOKIE)) if request else None
            if user is None or not user.can("engines") or not ws.curves:
                return gr.update()
            return _loss_frame(ws.curves[max(ws.curves)])

        # -- reports (evaluator, admin) ------------------------------------------------------------------
        def refresh_reports(request: gr.Request) -> tuple:
            user = _user(ws, request)
            try:
                rows = ws.reports(user)
            except SHOWN as err:
                raise _shown(err) from err
            table = [[r["id"], str(r["created"])[:19], Path(str(r["questions"])).name, _summary(r["results"])]
                     for r in rows]
            ids = [r["id"] for r in rows]
            return (table, gr.update(choices=ids), gr.update(choices=["", *ids]),
                    gr.update(choices=ws.engine_names(user)))

        reports_outputs = [reports_table, report_pick, compare_pick, eval_engines]
        reports_tab.select(refresh_reports, None, reports_outputs)

        def on_eval(questions: str, engines: list[str], modes: list[str], limit: float | None,
                    request: gr.Request) -> str:
            user = _user(ws, request)
            try:
                job = ws.run_eval(user, questions.strip(), engines, modes, int(limit) if limit else None)
            except SHOWN as err:
                raise _shown(err) from err
            return f"{job.title}: job {job.id} started; follow it in the Jobs tab, the report appears here."

        eval_btn.click(on_eval, [eval_questions, eval_engines, eval_modes, eval_limit], reports_status,
                       api_name="run_eval")

        def report_frame(report_id: str | None, request: gr.Request) -> str:
            user = _user(ws, request)
            if not report_id:
                return ""
            try:
                ws.report_file(user, report_id)
            except SHOWN as err:
                raise _shown(err) from err
            src = f"/reports/{urllib.parse.quote(report_id)}/report.html"
            return f'<iframe src="{src}" style="width:100%;height:900px;border:1px solid #ddd"></iframe>'

        report_pick.input(report_frame, [report_pick], report_view)
        compare_pick.input(report_frame, [compare_pick], compare_view)

        def on_export(request: gr.Request) -> str:
            user = _user(ws, request)
            try:
                path = ws.export_feedback(user)
            except SHOWN as err:
                raise _shown(err) from err
            return f"Wrote `{path}`: use it as the questions file of the next evaluation."

        export_btn.click(on_export, None, reports_status, api_name="export_feedback")

        # -- users (admin) ---------------------------------------------------------------------------------
        def refresh_users(request: gr.Request) -> list[list[str]]:
            user = _user(ws, request)
            try:
                return [[u.name, u.role, ", ".join(u.groups)] for u in ws.list_users(user)]
            except SHOWN as err:
                raise _shown(err) from err

        def on_add_user(name: str, role: str, groups: str, password: str, request: gr.Request) -> tuple:
            user = _user(ws, request)
            try:
                added = ws.add_user(user, name, role, [g.strip() for g in groups.split(",") if g.strip()], password)
            except SHOWN as err:
                raise _shown(err) from err
            return f"Added {added.name} ({added.role}).", "", refresh_users(request)

        users_tab.select(refresh_users, None, users_table)
        add_user.click(on_add_user, [new_name, new_role, new_groups, new_password],
                       [users_status, new_password, users_table], api_name="add_user")

        # -- jobs --------------------------------------------------------------------------------------------
        # Each tab's live panel shows the active jobs of its own kinds; all panels come from one query a tick.
        engine_jobs, report_jobs = ("datagen", "train"), ("eval",)
        live_panels = ((upload_live, ("index",)), (engines_live, engine_jobs), (reports_live, report_jobs))

        def refresh_jobs(request: gr.Request) -> tuple:
            user = ws.session_user(request.cookies.get(SESSION_COOKIE)) if request else None
            if user is None:
                return (gr.update(),) * (2 + len(live_panels))
            jobs = ws.list_jobs(user)
            return _job_html(jobs), _jobs_table(jobs), *(_job_html(jobs, kinds) for _, kinds in live_panels)

        def on_cancel(jid: float | None, request: gr.Request) -> str:
            user = _user(ws, request)
            if jid is None:
                raise gr.Error("Enter the id of the job to cancel.")
            try:
                job = ws.cancel_job(user, int(jid))
            except SHOWN as err:
                raise _shown(err) from err
            return f"Job {job.id} is {job.state}."

        cancel.click(on_cancel, [job_id], jobs_status, api_name="cancel_job")
        timer = gr.Timer(1.0)
        timer.tick(refresh_jobs, None, [jobs_live, jobs_table, *(panel for panel, _ in live_panels)],
                   show_progress="hidden", queue=False)

        def cancel_of(kinds: tuple[str, ...]) -> Callable[[gr.Request], str]:
            def on_cancel_latest(request: gr.Request) -> str:
                user = _user(ws, request)
                try:
                    job = ws.cancel_latest(user, kinds)
                except SHOWN as err:
                    raise _shown(err) from err
                return f"{job.title}: job {job.id} is {job.state}."

            return on_cancel_latest

        for button, status, kinds in ((engines_cancel, engines_status, engine_jobs),
                                      (reports_cancel, reports_status, report_jobs)):
            button.click(cancel_of(kinds), None, status, api_name=f"cancel_{kinds[-1]}")
        timer.tick(refresh_plot, None, loss_plot, show_progress="hidden", queue=False)

    return blocks


def _summary(results: dict[str, Any]) -> str:
    """engine/mode: a few headline metrics, in one line."""
    parts = []
    for engine, modes in (results or {}).items():
        for mode, metrics in (modes or {}).items():
            shown = [f"{k} {v:.3f}" for k, v in (metrics or {}).items() if isinstance(v, int | float)][:3]
            parts.append(f"{engine}/{mode}: " + ", ".join(shown))
    return "; ".join(parts)[:300]


def _metric(record: dict[str, Any], *keys: str) -> str:
    metrics = record.get("metrics") or {}
    for key in keys:
        value = metrics.get(key)
        if isinstance(value, int | float):
            return f"{value:.4f}"
    return ""


def _loss_frame(curve: list[dict[str, Any]]) -> Any:
    """Training and validation loss per step, long format for gr.LinePlot."""
    import pandas as pd

    rows = [{"step": e["step"], "value": e[key], "series": series} for e in curve
            for key, series in (("loss", "training"), ("eval_loss", "validation"))
            if isinstance(e.get(key), int | float) and "step" in e]
    return pd.DataFrame(rows or [{"step": 0, "value": None, "series": "training"}])


def _conversation_choices(ws: Workspace, user: User) -> list[tuple[str, int]]:
    return [(f"{c['title']} ({str(c['updated'])[:16]})", c["id"]) for c in ws.conversations(user)]


def _visible_sources(ws: Workspace, user: User) -> list[dict[str, Any]]:
    """Indexed sources this user may see, for filter choices (metadata of restricted files stays hidden)."""
    return [rec.to_public() for rec in ws.service.sources() if may_see(user, rec.metadata)]
