"""The Users tab (admins): the accounts, adding one, and the audit log (read-only, newest first)."""

from __future__ import annotations

import gradio as gr

from assistant.services import Services
from ui.web.common import current_user, split_list, user_errors

AUDIT_COLUMNS = ["time", "actor", "action", "detail"]
AUDIT_ROWS = 100


def create_users_tab(services: Services) -> gr.Tab:
    with gr.Tab("Users", id="users", visible=False) as tab:
        table = gr.Dataframe(headers=["user", "role", "groups"], interactive=False)
        with gr.Row():
            name = gr.Textbox(label="User name")
            role = gr.Dropdown(label="Role", choices=["staff", "evaluator", "admin"], value="staff")
            groups = gr.Textbox(label="Groups")
            password = gr.Textbox(label="Password", type="password")
            add = gr.Button("Add user")
        status = gr.Markdown()
        with gr.Row():
            gr.Markdown(f"### Audit log (newest {AUDIT_ROWS})")
            refresh_audit = gr.Button("Refresh audit log", size="sm", scale=0)
        audit_table = gr.Dataframe(headers=AUDIT_COLUMNS, interactive=False, wrap=True, elem_id="audit-table")

    @user_errors
    def refresh(request: gr.Request) -> list[list[str]]:
        return [[u.name, u.role, ", ".join(u.groups)] for u in services.users.list(current_user(services, request))]

    @user_errors
    def audit_rows(request: gr.Request) -> list[list[str]]:
        entries = services.users.audit(current_user(services, request), limit=AUDIT_ROWS)
        return [[e["time"], e["actor"] or "-", e["action"], e["detail"]] for e in entries]

    @user_errors
    def on_add(new_name: str, new_role: str, new_groups: str, new_password: str, request: gr.Request) -> tuple:
        added = services.users.add(current_user(services, request), new_name, new_role, split_list(new_groups),
                                   new_password)
        return f"Added {added.name} ({added.role}).", "", refresh(request), audit_rows(request)

    tab.select(refresh, None, table)
    tab.select(audit_rows, None, audit_table)
    refresh_audit.click(audit_rows, None, audit_table, api_name="audit_log")
    add.click(on_add, [name, role, groups, password], [status, password, table, audit_table], api_name="add_user")
    return tab
