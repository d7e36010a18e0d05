"""The whole app: the tabs side by side, one timer for everything live, and who sees which tab.

Each tab's module holds its widgets and their callbacks; a callback calls one service method, which checks
the role (a tab a role cannot use is also hidden, but hiding is not the protection)."""

from __future__ import annotations

import gradio as gr

from assistant.services import Services
from ui.web.chat import create_chat_tab
from ui.web.common import current_user, user_errors
from ui.web.documents import create_documents_tab
from ui.web.engines import create_engines_tab
from ui.web.feedback import create_feedback_tab
from ui.web.jobs import create_jobs_tab, wire_live_jobs
from ui.web.reports import create_reports_tab
from ui.web.users import create_users_tab


def build_blocks(services: Services) -> gr.Blocks:
    """The app over one Services; every callback finds its user from the request's session cookie."""
    with gr.Blocks(title="Enterprise assistant", analytics_enabled=False) as blocks:
        header = gr.Markdown()
        timer = gr.Timer(1.0)
        create_chat_tab(services, blocks)
        documents = create_documents_tab(services)
        engines = create_engines_tab(services, timer)
        reports = create_reports_tab(services)
        feedback = create_feedback_tab(services)
        users = create_users_tab(services)
        jobs = create_jobs_tab(services)
        wire_live_jobs(services, timer, jobs, [documents.live, engines.live, reports.live])

        @user_errors
        def on_load(request: gr.Request) -> tuple:
            user = current_user(services, request)
            groups = ", ".join(user.groups) or "none"
            return (f"Signed in as **{user.name}** ({user.role}; groups: {groups}) · [Sign out](/logout)",
                    gr.Tab(visible=user.can("documents")), gr.Tab(visible=user.can("engines")),
                    gr.Tab(visible=user.can("reports")), gr.Tab(visible=user.can("reports")),
                    gr.Tab(visible=user.can("users")))

        blocks.load(on_load, None, [header, documents.tab, engines.tab, reports.tab, feedback, users])
    return blocks
