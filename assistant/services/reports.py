"""Reports: evaluations of engines (base, RAG, fine-tuned, both), the promotion gate's verdicts and the chat's
feedback. Evaluators and admins, on any registered engine version, promoted or not (promoting one is the
engines service's, admins only). Retrieval in an evaluation runs with the acting user's groups, so a report
quotes nothing they may not read. A questions file uploaded in the browser is checked line by line by the
reader a run uses, then kept in HOME/datasets/questions/."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from assistant.accounts import User
from assistant.engines import BASE, EngineRegistry
from assistant.errors import NotFound
from assistant.evaluation import EvalOptions, check_options, gate_metrics, questions_summary, run_eval
from assistant.files import atomic_write_text
from assistant.jobs import Job
from assistant.promotion import gate_result, promoted_refs, promotion
from assistant.services.base import ServiceContext, require, viewer_of
from assistant.services.jobs import job_payload
from assistant.work import Work
from eval.questions import EvalInputError


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
        """Queue an evaluation; with `options.gate` / `against` (and `gate_metric`, `min_delta`) it is the
        promotion gate, and the verdict is recorded in the candidate version's folder."""
        options = self._checked(user, options)
        title = (f"Gate {options.gate} against {options.against}" if options.gate
                 else f"Evaluate {', '.join(options.engines)}")
        return self.ctx.jobs.enqueue("eval", user.name, title,
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
        registry = EngineRegistry(self.ctx.paths.engines)
        for ref in {*options.engines, options.gate, options.against} - {None, BASE}:
            if "@" in ref:  # a version is refused now, not when the job starts (a bare name may be a served model)
                registry.record(ref)  # type: ignore[arg-type]
        return options

    # -- questions files ------------------------------------------------------------------------------
    def check_questions(self, user: User, path: Path, preview: int = 5) -> dict[str, Any]:
        """A questions file as a run would read it: its counts and first rows, or the EvalInputError naming
        its first broken line (nothing is run)."""
        require(user, "reports")
        return questions_summary(Path(path), preview)

    def upload_questions(self, user: User, path: Path, name: str | None = None, preview: int = 5,
                         ) -> dict[str, Any]:
        """Check an uploaded questions file (`check_questions`; errors name the file as uploaded, `name`) and keep
        it as HOME/datasets/questions/STEM-HASH.jsonl, where every worker can read it; its summary with "path"
        the kept copy."""
        require(user, "reports")
        path = Path(path)
        shown = name or path.name
        try:
            summary = questions_summary(path, preview)
        except EvalInputError as err:
            raise EvalInputError(str(err).replace(str(path), shown)) from err
        data = path.read_bytes()
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(shown).stem).strip(".-")[:60] or "questions"
        target = self.questions_dir / f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, data.decode("utf-8"))
        self.ctx.audit(user, "upload questions", f"{shown} ({summary['questions']} questions) to {target}")
        return {**summary, "path": str(target)}

    @property
    def questions_dir(self) -> Path:
        return self.ctx.paths.datasets / "questions"

    # -- engine versions and their gate ---------------------------------------------------------------
    def evaluable(self, user: User) -> list[str]:
        """What this user may evaluate: base and every registered engine version, promoted or not."""
        return [BASE, *(row["ref"] for row in self.versions(user))]

    def gate_metrics(self, user: User, modes: list[str] | None = None) -> list[str]:
        """The metrics the gate may decide on in these modes with the configured judge (`eval.judge`)."""
        require(user, "reports")
        return gate_metrics(modes or ["rag", "norag"], self.ctx.settings.eval.judge != "none")

    def versions(self, user: User) -> list[dict[str, Any]]:
        """Every registered engine version with its promotion and its last gate verdict, by name then version:
        {"ref","engine","version","created","promoted","gate": None | {"passed","metric","min_delta","baseline",
        "deltas": {mode: delta},"reason","report","checked_at"}, "promotion": None | {"forced","by","reason"}}
        ("promotion" only on the promoted version)."""
        require(user, "reports")
        registry = EngineRegistry(self.ctx.paths.engines)
        promoted = promoted_refs(registry)
        rows = []
        for record in registry.list(all_versions=True):
            is_promoted = promoted.get(record.name) == record.ref
            doc = promotion(registry, record.name) if is_promoted else None
            rows.append({
                "ref": record.ref, "engine": record.name, "version": record.version, "created": record.created,
                "promoted": is_promoted, "gate": _verdict(gate_result(record)),
                "promotion": None if doc is None else {"forced": bool(doc.get("forced")), "by": doc.get("by"),
                                                       "reason": doc.get("reason")},
            })
        return rows

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


def _verdict(gate: dict[str, Any] | None) -> dict[str, Any] | None:
    """gate.json as the Reports tab's table shows it."""
    if gate is None:
        return None
    return {"passed": bool(gate.get("passed", gate.get("pass", False))), "metric": gate.get("metric"),
            "min_delta": gate.get("min_delta"), "baseline": gate.get("baseline_version") or gate.get("baseline"),
            "deltas": {c.get("mode"): c.get("delta") for c in gate.get("checks") or [] if isinstance(c, dict)},
            "reason": gate.get("reason"), "report": gate.get("report"), "checked_at": gate.get("checked_at")}
