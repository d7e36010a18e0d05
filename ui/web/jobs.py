"""The Jobs tab (every job this user may see, cancel by id) and the live job panels of the other tabs."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.services import Job, Services
from ui.web.common import current_user, require_choice, signed_in, user_errors


@dataclass
class FollowUp:
    """What a tab refills when one of its panel's jobs finishes, so what the job made is listed without the
    tab being selected again: its `refresh` into its `outputs`, for users with `permission`."""

    permission: str
    refresh: Callable[[gr.Request], tuple]
    outputs: list[Any]


@dataclass
class LivePanel:
    """A tab's panel of its own running jobs (index jobs under Documents, training under Engines, ...)."""

    html: gr.HTML
    kinds: tuple[str, ...]
    follow: FollowUp | None = None


@dataclass
class LiveTab:
    """A tab the page load shows or hides by role, with its panel of live jobs."""

    tab: gr.Tab
    live: LivePanel


@dataclass
class JobsTab:
    live: gr.HTML
    table: gr.Dataframe


def create_jobs_tab(services: Services) -> JobsTab:
    with gr.Tab("Jobs", id="jobs"):
        live = gr.HTML(elem_id="jobs-live")
        table = gr.Dataframe(headers=["id", "kind", "title", "owner", "state", "progress", "step", "outcome"],
                             interactive=False, elem_id="jobs-table")
        with gr.Row():
            job_id = gr.Number(label="Job id", precision=0)
            cancel = gr.Button("Cancel job", variant="stop")
        status = gr.Markdown()

    @user_errors
    def on_cancel(jid: float | None, request: gr.Request) -> str:
        user = current_user(services, request)
        require_choice(jid, "Enter the id of the job to cancel.")
        job = services.jobs.cancel(user, int(jid or 0))
        return f"Job {job.id} is {job.state}."

    cancel.click(on_cancel, [job_id], status, api_name="cancel_job")
    return JobsTab(live, table)


def wire_live_jobs(services: Services, timer: gr.Timer, tab: JobsTab, panels: list[LivePanel]) -> None:
    """One query a tick fills the Jobs tab and every tab's live panel, and runs a panel's follow-up when one of
    its jobs finished since the last tick. The timer runs outside Gradio's queue (a `gr.State.change`
    listener does not fire when such an event sets the state, so the tick itself refills)."""
    followed = [p for p in panels if p.follow is not None]
    seen = gr.State(None)  # finished_jobs of each followed panel when its outputs were last filled
    refilled = [o for p in followed for o in p.follow.outputs]

    def refresh(last: list | None, request: gr.Request) -> tuple:
        last = last or [None] * len(followed)
        user = signed_in(services, request)
        if user is None:
            return (*(gr.update(),) * (2 + len(panels)), last, *(gr.update(),) * len(refilled))
        jobs = services.jobs.list(user)
        now, refills = [], []
        for panel, before in zip(followed, last, strict=True):
            follow = panel.follow
            finished = finished_jobs(jobs, panel.kinds)
            if finished == before or not user.can(follow.permission):  # a user who may not see it: no warning
                now.append(before)
                refills += [gr.update()] * len(follow.outputs)
            else:
                now.append(finished)
                refills += list(follow.refresh(request))
        return (job_html(jobs), jobs_table(jobs), *(job_html(jobs, p.kinds) for p in panels), now, *refills)

    outputs = [tab.live, tab.table, *(p.html for p in panels), seen, *refilled]
    timer.tick(refresh, [seen], outputs, show_progress="hidden", queue=False)


def finished_jobs(jobs: list[Job], kinds: tuple[str, ...]) -> list[int] | None:
    """[how many, newest id] of the finished jobs of these kinds (None: none): it changes when one finishes."""
    ids = [j.id for j in jobs if j.kind in kinds and j.state not in ("queued", "running")]
    return [len(ids), max(ids)] if ids else None


def cancel_latest(services: Services, kinds: tuple[str, ...]) -> Callable[[gr.Request], str]:
    """A tab's own Cancel button: the newest job of its kinds, without looking up its id."""

    @user_errors
    def on_cancel_latest(request: gr.Request) -> str:
        job = services.jobs.cancel_latest(current_user(services, request), kinds)
        return f"{job.title}: job {job.id} is {job.state}."

    return on_cancel_latest


def jobs_table(jobs: list[Job]) -> list[list[Any]]:
    return [[j.id, j.kind, j.title, j.owner, j.state, f"{round(100 * j.progress)}%", j.label or "",
             outcome(j)[:300]] for j in jobs]


def outcome(job: Job) -> str:
    """What a finished job did, in a line: its error, or for indexing the counts and the first failures."""
    if job.error:
        return job.error
    result = job.result or {}
    if "added" not in result:
        return ""
    text = (f"added {result['added']}, updated {result['updated']}, unchanged {result['unchanged']}, "
            f"removed {result['removed']}")
    failed = result.get("failed") or []
    if failed:
        text += f"; failed {len(failed)}: " + "; ".join(f"{Path(f['path']).name}: {f['error']}" for f in failed[:3])
    return text


def job_html(jobs: list[Job], kinds: tuple[str, ...] | None = None) -> str:
    active = [j for j in jobs if j.state in ("queued", "running") and (kinds is None or j.kind in kinds)]
    if not active:
        return ""
    rows = "".join(
        f'<div class="job"><span>{html.escape(j.title)} ({j.state}) {html.escape(j.label or "")}</span> '
        f'<progress class="jobbar" max="100" value="{round(100 * j.progress)}"></progress> '
        f"{round(100 * j.progress)}%</div>" for j in active
    )
    return f'<div class="jobs-live">{rows}</div>'
