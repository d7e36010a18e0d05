"""The Users tab (admins): the accounts, adding one, changing one (role, groups, disabled), and the audit log
(read-only, newest first)."""

from __future__ import annotations

import gradio as gr

from assistant.services import Services, UserChange
from ui.web.common import current_user, split_list, user_errors

AUDIT_COLUMNS = ["time", "actor", "action", "detail"]
AUDIT_ROWS = 100
USER_COLUMNS = ["user", "role", "groups", "sign-in", "state"]
_STATES = {"unchanged": None, "enabled": False, "disabled": True}


def create_users_tab(services: Services) -> gr.Tab:
    with gr.Tab("Users", id="users", visible=False) as tab:
        table = gr.Dataframe(headers=USER_COLUMNS, interactive=False, elem_id="users-table")
        with gr.Row():
            name = gr.Textbox(label="User name")
            role = gr.Dropdown(label="Role", choices=["staff", "evaluator", "admin"], value="staff")
            groups = gr.Textbox(label="Groups")
            password = gr.Textbox(label="Password", type="password")
            add = gr.Button("Add user")
        gr.Markdown("### Change a user (applies to their open sessions at once; disabling ends them)")
        with gr.Row():
            pick = gr.Dropdown(label="User", choices=[], elem_id="set-user")
            new_role = gr.Dropdown(label="Role", choices=["", "staff", "evaluator", "admin"], value="",
                                   info="empty: unchanged", elem_id="set-role")
            new_groups = gr.Textbox(label="Groups", placeholder="unchanged", info="comma-separated; '-' for none",
                                    elem_id="set-groups")
            new_state = gr.Radio(["unchanged", "enabled", "disabled"], value="unchanged", label="Account",
                                 elem_id="set-state")
            save = gr.Button("Save changes", elem_id="set-save")
        status = gr.Markdown(elem_id="users-status")
        with gr.Row():
            gr.Markdown(f"### Audit log (newest {AUDIT_ROWS})")
            refresh_audit = gr.Button("Refresh audit log", size="sm", scale=0)
        audit_table = gr.Dataframe(headers=AUDIT_COLUMNS, interactive=False, wrap=True, elem_id="audit-table")

    @user_errors
    def refresh(request: gr.Request) -> tuple:
        found = services.users.list(current_user(services, request))
        rows = [[u.name, u.role, ", ".join(u.groups), u.sign_in, "disabled" if u.disabled else "enabled"]
                for u in found]
        return rows, gr.update(choices=[u.name for u in found])

    @user_errors
    def audit_rows(request: gr.Request) -> list[list[str]]:
        entries = services.users.audit(current_user(services, request), limit=AUDIT_ROWS)
        return [[e["time"], e["actor"] or "-", e["action"], e["detail"]] for e in entries]

    @user_errors
    def on_add(new_name: str, new_role: str, new_groups: str, new_password: str, request: gr.Request) -> tuple:
        added = services.users.add(current_user(services, request), new_name, new_role, split_list(new_groups),
                                   new_password)
        return (f"Added {added.name} ({added.role}).", "", *refresh(request), audit_rows(request))

    @user_errors
    def on_save(who: str | None, role: str, groups: str, state: str, request: gr.Request) -> tuple:
        text = groups.strip()
        change = UserChange(role or None, None if not text else [] if text == "-" else split_list(text),
                            _STATES[state])
        changed = services.users.set(current_user(services, request), who or "", change)
        summary = f"{changed.name}: {changed.role}; groups: {', '.join(changed.groups) or '-'}; " + (
            "disabled (signed out everywhere)" if changed.disabled else "enabled")
        return (summary, *refresh(request), audit_rows(request))

    tab.select(refresh, None, [table, pick])
    tab.select(audit_rows, None, audit_table)
    refresh_audit.click(audit_rows, None, audit_table, api_name="audit_log")
    add.click(on_add, [name, role, groups, password], [status, password, table, pick, audit_table],
              api_name="add_user")
    save.click(on_save, [pick, new_role, new_groups, new_state], [status, table, pick, audit_table],
               api_name="set_user")
    return tab
