"""Reports: evaluations of engines (base, RAG, fine-tuned, both) and the chat's feedback. Evaluators and
admins. Retrieval in an evaluation runs with the acting user's groups, so a report quotes nothing
they may not read."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.accounts import User
from assistant.errors import NotFound
from assistant.evaluation import EvalOptions, check_options, run_eval
from assistant.files import atomic_write_text
from assistant.jobs import Job
from assistant.services.base import ServiceContext, require, viewer_of
from assistant.services.jobs import job_payload
from assistant.work import Work


class ReportsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, user: User, options: EvalOptions, work: Work | None = None) -> tuple[Any, Path]:
        """Run one evaluation and write its report: (EvalRun, report folder)."""
        options = self._checked(user, options)
        self.ctx.audit(user, "eval", f"{options.questions} {options.engines} {options.modes}")
        return run_eval(self.ctx.components, options, work)

    def evaluate_as(self, user: User, reader: User, options: EvalOptions, work: Work | None = None,
                    ) -> tuple[Any, Path]:
        """`evaluate` with retrieval as the account `reader` sees the documents (`eval --user`): a report
        quotes its passages to whoever opens it, so it can be made fit for that reader. Run and audited by
        `user`, who must manage accounts (the operator, an admin) to look through another account's eyes."""
        require(user, "users")
        options = replace(self._checked(user, options), viewer=viewer_of(reader))
        self.ctx.audit(user, "eval", f"{options.questions} {options.engines} {options.modes} as {reader.name}")
        return run_eval(self.ctx.components, options, work)

    def submit_evaluate(self, user: User, options: EvalOptions) -> Job:
        options = self._checked(user, options)
        return self.ctx.jobs.enqueue("eval", user.name, f"Evaluate {', '.join(options.engines)}",
                                     job_payload(user, "reports.evaluate_job", options=options))

    def evaluate_job(self, user: User, work: Work, options: EvalOptions) -> dict[str, Any]:
        _run, report = self.evaluate(user, options, work)
        return {"report": report.name}

    def _checked(self, user: User, options: EvalOptions) -> EvalOptions:
        require(user, "reports")
        options = replace(options, viewer=viewer_of(user)).with_settings(self.ctx.settings.eval)
        check_options(options)
        if not options.questions.is_file():
            raise NotFound(f"no questions file at {options.questions}")
        return options

    # -- reading --------------------------------------------------------------------------------------
    def list(self, user: User) -> list[dict[str, Any]]:
        """Finished evaluation reports, newest first, with their headline numbers."""
        require(user, "reports")
        rows = []
        for results in sorted(self.ctx.paths.reports.glob("[!.]*/results.json"), reverse=True):
            try:
                doc = json.loads(results.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            rows.append({"id": results.parent.name, "created": doc.get("created", ""),
                         "questions": (doc.get("settings") or {}).get("questions_file", ""),
                         "results": doc.get("results") or doc.get("summary") or {}})
        return rows

    def file(self, user: User, report_id: str, name: str = "report.html") -> Path:
        require(user, "reports")
        folder = self.ctx.paths.reports
        path = (folder / report_id / name).resolve()
        if folder.resolve() not in path.parents or report_id.startswith(".") or not path.is_file():
            raise NotFound(f"no report {report_id!r}")
        return path

    # -- feedback -------------------------------------------------------------------------------------
    def feedback(self, user: User) -> list[dict[str, Any]]:
        require(user, "reports")
        return self.ctx.history.all_feedback()

    def export_feedback(self, user: User) -> Path:
        """The chat's thumbs up/down as an eval questions file; a liked answer becomes the reference."""
        lines = []
        for r in self.feedback(user):
            row: dict[str, Any] = {"question": r["question"], "feedback": r["rating"], "comment": r["comment"]}
            if r["rating"] > 0:
                row["reference"] = r["answer"]
            lines.append(json.dumps(row, ensure_ascii=False))
        target = self.ctx.paths.datasets / "feedback-questions.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, "\n".join(lines) + ("\n" if lines else ""))
        self.ctx.audit(user, "export feedback", f"{len(lines)} rows to {target}")
        return target
