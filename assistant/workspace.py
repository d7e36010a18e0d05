"""What a signed-in person can do, checked on the server: the one service the web UI and the HTTP API call.

`AssistantService` knows documents, retrieval and engines; `Workspace` adds who is asking. Every
method takes the `User` and checks their role before doing anything, so a crafted request from a
staff session is refused here, whatever the page showed. Retrieval always runs with the user's
groups, so restricted documents never reach the prompt of someone outside them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.accounts import Accounts, AuthError, User
from assistant.appdb import AppDB
from assistant.chat import Answer
from assistant.config import Settings
from assistant.history import History
from assistant.jobs import Job, JobCancelled, JobContext, JobManager
from assistant.promotion import demote, gate_result, promote, promoted_refs
from assistant.services import AssistantService, InputError, Viewer
from assistant.uploads import StoredUploads, UploadStore
from indexing.ingest import IndexReport
from indexing.metadata import SIDECAR_SUFFIX, normalise_groups
from indexing.progress import NoProgress, Progress

# The metadata an upload form offers; anything else can come from sidecars in a zip.
UPLOAD_FIELDS = ("doc_type", "sector", "outcome", "itt", "date", "title", "groups")


class PermissionDenied(PermissionError):
    """The signed-in user's role does not allow this action."""


def require(user: User | None, permission: str) -> User:
    if user is None:
        raise PermissionDenied("please sign in again (the session has expired)")
    if not user.can(permission):
        raise PermissionDenied(f"{user.name} ({user.role}) may not do this: it needs the {_needs(permission)} role")
    return user


def _needs(permission: str) -> str:
    return {"reports": "evaluator or admin"}.get(permission, "admin")


def may_see(user: User, metadata: dict[str, Any]) -> bool:
    """The retrieval rule for whole documents: no `groups` = everyone, else members of one of them."""
    groups = normalise_groups(metadata.get("groups"))
    return not groups or bool(set(groups) & set(user.groups))


def viewer_of(user: User) -> Viewer:
    return Viewer(user.name, list(user.groups))


class RoutedProgress:
    """The service's one Progress, pointed at whichever job is running (one index job at a time)."""

    def __init__(self) -> None:
        self._target: Progress = NoProgress()
        self._lock = threading.Lock()

    @contextmanager
    def routed_to(self, target: Progress) -> Iterator[None]:
        with self._lock:
            self._target = target
            try:
                yield
            finally:
                self._target = NoProgress()

    def message(self, text: str) -> None:
        self._target.message(text)

    def start(self, total: int, label: str) -> None:
        self._target.start(total, label)

    def advance(self, n: int = 1, label: str | None = None) -> None:
        self._target.advance(n, label)

    def finish(self) -> None:
        self._target.finish()


class _JobTrainProgress:
    """finetune's TrainProgress (absolute steps) on a job's progress (relative advances)."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx, self.step = ctx, 0

    def start(self, total_steps: int, first_step: int) -> None:
        self.step = first_step
        self.ctx.start(max(1, total_steps - first_step), "Training")

    def update(self, step: int, metrics: dict[str, float]) -> None:
        loss = metrics.get("loss")
        label = f"step {step}" + (f", loss {loss:.3f}" if isinstance(loss, int | float) else "")
        if step > self.step:
            self.ctx.advance(step - self.step, label)
            self.step = step

    def finish(self) -> None:
        self.ctx.finish()


@dataclass
class TurnDone:
    """The last item of a streamed chat turn: the answer, as stored in the user's history."""

    answer: Answer
    conversation_id: int
    message_id: int


class Workspace:
    def __init__(self, settings: Settings, db: AppDB | None = None) -> None:
        self.settings = settings
        self.progress = RoutedProgress()
        self.service = AssistantService(settings, self.progress)
        self.db = db or AppDB.for_settings(settings)
        self.accounts = Accounts(self.db, session_ttl_s=int(settings.web.session_hours * 3600))
        self.history = History(self.db)
        self.jobs = JobManager(self.db)
        self.uploads = UploadStore(settings.paths.uploads, settings.web)
        self.curves: dict[int, list[dict[str, Any]]] = {}  # training job id -> its metrics log, for live plots

    def close(self) -> None:
        self.jobs.shutdown(wait=False)

    # -- sign-in ---------------------------------------------------------------------------------
    def login(self, name: str, password: str) -> tuple[User, str]:
        """Raises AuthError with the same message for a wrong name or a wrong password."""
        user = self.accounts.authenticate(name.strip(), password)
        self.db.audit(user.name, "login")
        return user, self.accounts.create_session(user)

    def session_user(self, token: str | None) -> User | None:
        return self.accounts.session_user(token) if token else None

    def key_user(self, key: str | None) -> User | None:
        return self.accounts.user_for_api_key(key) if key else None

    def logout(self, token: str | None) -> None:
        if token:
            self.accounts.end_session(token)

    # -- chat --------------------------------------------------------------------------------------
    def engine_names(self, user: User) -> list[str]:
        """What staff may chat with: the base model and each promoted engine version."""
        require(user, "chat")
        return ["base", *promoted_refs(self.service.engines.registry).values()]

    def check_engine(self, user: User, engine: str) -> str:
        require(user, "chat")
        name = (engine or "base").strip()
        promoted = promoted_refs(self.service.engines.registry)
        if name == "base" or name in promoted.values():
            return name
        if name in promoted:  # a bare NAME means its promoted version, not its newest
            return promoted[name]
        names = ", ".join(["base", *promoted.values()])
        raise InputError(f"no engine named {name!r} that you may use (available: {names})")

    def chat(
        self, user: User, question: str, conversation_id: int | None = None, engine: str = "base",
        use_rag: bool = True, where: dict[str, Any] | None = None,
    ) -> Iterator[str | TurnDone]:
        """One turn, streamed as text pieces and then a TurnDone; the turn is saved to the user's history."""
        require(user, "chat")
        engine = self.check_engine(user, engine)
        earlier = self.history.messages(user.name, conversation_id) if conversation_id else []
        past = [{"role": m["role"], "content": m["content"]} for m in earlier]
        where = {k: v for k, v in (where or {}).items() if v not in (None, "", [])} or None
        # Validates the question, the engine and the filter before anything is stored.
        stream = self.service.chat(question, past, engine, use_rag, None, where, viewer_of(user))
        if conversation_id is None:
            conversation_id = self.history.new_conversation(user.name, question)
        self.history.add_message(user.name, conversation_id, "user", question)
        return self._stream_turn(user, conversation_id, engine, stream)

    def _stream_turn(self, user: User, conversation_id: int, engine: str, stream: Iterator[Any]) -> Iterator[Any]:
        for piece in stream:
            if isinstance(piece, Answer):
                sources = [s.to_json() for s in piece.sources]
                message_id = self.history.add_message(
                    user.name, conversation_id, "assistant", piece.answer, sources=sources, engine=engine
                )
                yield TurnDone(piece, conversation_id, message_id)
            else:
                yield piece

    def ask(
        self, user: User, messages: list[dict[str, str]], engine: str = "base", use_rag: bool = True,
        where: dict[str, Any] | None = None,
    ) -> Iterator[str | Answer]:
        """A stateless turn for the HTTP API: the client sends the conversation, nothing is stored."""
        require(user, "chat")
        engine = self.check_engine(user, engine)
        turns = [m for m in messages if m.get("role") in ("user", "assistant")]
        if not turns or turns[-1]["role"] != "user":
            raise InputError("the last message must come from the user")
        question = str(turns[-1].get("content") or "")
        past = [{"role": m["role"], "content": str(m.get("content") or "")} for m in turns[:-1]]
        return self.service.chat(question, past, engine, use_rag, None, where, viewer_of(user))

    def run_flow(self, user: User, name: str, text: str, params: dict[str, str] | None = None,
                 engine: str = "base") -> Any:
        require(user, "chat")
        return self.service.run_flow(name, text, params, self.check_engine(user, engine), viewer_of(user))

    def conversations(self, user: User) -> list[dict[str, Any]]:
        return self.history.conversations(require(user, "chat").name)

    def messages(self, user: User, conversation_id: int) -> list[dict[str, Any]]:
        return self.history.messages(require(user, "chat").name, conversation_id)

    def delete_conversation(self, user: User, conversation_id: int) -> None:
        self.history.delete_conversation(require(user, "chat").name, conversation_id)

    def feedback(self, user: User, message_id: int, rating: int, comment: str = "") -> None:
        self.history.feedback(require(user, "chat").name, message_id, rating, comment)

    def all_feedback(self, user: User) -> list[dict[str, Any]]:
        require(user, "reports")
        return self.history.all_feedback()

    # -- documents (admin) -----------------------------------------------------------------------------
    def sources(self, user: User) -> list[dict[str, Any]]:
        require(user, "documents")
        return [r.to_public() for r in self.service.sources()]

    def upload(
        self, user: User, files: list[tuple[str, Path]], meta: dict[str, Any] | None = None
    ) -> tuple[StoredUploads, Job | None]:
        """Store the files under HOME/uploads and index them in a background job."""
        require(user, "documents")
        meta = dict(meta or {})
        if isinstance(meta.get("groups"), str):
            meta["groups"] = [g.strip() for g in meta["groups"].split(",") if g.strip()]
        stored = self.uploads.store(files, meta)
        self.db.audit(user.name, "upload", f"{len(stored.saved)} saved, {len(stored.rejected)} refused")
        if not stored.saved:
            return stored, None
        folder = self.settings.paths.uploads
        job = self._index_job(user, f"Index {len(stored.saved)} uploaded file(s)",
                              lambda: self.service.index([folder]))
        return stored, job

    def reindex(self, user: User, source: str | None = None) -> Job:
        require(user, "documents")
        self.db.audit(user.name, "reindex", source or "everything")
        title = f"Reindex {Path(source).name}" if source else "Reindex everything"
        return self._index_job(user, title, lambda: self.service.indexer.reindex([source] if source else None))

    def remove_source(self, user: User, source: str) -> list[str]:
        require(user, "documents")
        removed, failed = self.service.remove([source])
        if failed:
            raise InputError(failed[0]["error"])
        uploads = self.settings.paths.uploads.resolve()
        for s in removed:  # an uploaded file is ours to delete; a file from the company's own folders is not
            path = Path(s)
            if uploads in path.resolve().parents:
                path.unlink(missing_ok=True)
                path.with_name(path.name + SIDECAR_SUFFIX).unlink(missing_ok=True)
        self.db.audit(user.name, "remove", ", ".join(removed))
        return removed

    def _index_job(self, user: User, title: str, work: Callable[[], IndexReport]) -> Job:
        def run(ctx: JobContext) -> dict[str, Any]:
            try:
                with self.progress.routed_to(ctx):
                    report = work()
            except JobCancelled:
                self.service.indexer.recover()  # drop the half-written source now, not at the next run
                raise
            for f in report.failed:
                ctx.log(f"failed {f['path']}: {f['error']}")
            return report.to_json()

        return self.jobs.submit("index", user.name, title, run)

    # -- engines (admin) ---------------------------------------------------------------------------------
    def engines(self, user: User) -> list[dict[str, Any]]:
        """Every registered version with its lineage, metrics, gate result and promotion."""
        require(user, "engines")
        registry = self.service.engines.registry
        promoted = set(promoted_refs(registry).values())
        rows = []
        for record in registry.list(all_versions=True):
            gate = gate_result(record)
            rows.append({**record.to_json(), "ref": record.ref, "promoted": record.ref in promoted,
                         "gate": None if gate is None else bool(gate.get("passed", gate.get("pass")))})
        return rows

    def promote_engine(self, user: User, ref: str, force: bool = False) -> str:
        require(user, "engines")
        record = promote(self.service.engines.registry, ref, force, actor=user.name)
        self.db.audit(user.name, "promote engine", record.ref + (" (forced)" if force else ""))
        return record.ref

    def remove_engine(self, user: User, ref: str) -> list[str]:
        from assistant.engines import parse_ref, remove_engine

        require(user, "engines")
        registry = self.service.engines.registry
        name, _version = parse_ref(ref)
        removed = remove_engine(registry, ref)
        if promoted_refs(registry).get(name) is None:
            demote(registry, name)
        self.db.audit(user.name, "remove engine", ", ".join(removed))
        return removed

    def datasets(self, user: User) -> list[str]:
        require(user, "engines")
        folder = self.settings.paths.datasets
        return sorted(str(p) for p in folder.glob("*.jsonl") if not p.name.endswith(".val.jsonl"))

    def datagen(self, user: User, kind: str) -> Job:
        """Generate an SFT or DPO training set from the index, in a background job."""
        require(user, "engines")
        if kind not in ("sft", "dpo"):
            raise InputError(f"unknown dataset kind {kind!r} (sft or dpo)")

        def run(ctx: JobContext) -> dict[str, Any]:
            from assistant.training import run_datagen
            from finetune.datagen_dpo import DPOOptions
            from finetune.datagen_sft import SFTOptions

            options = SFTOptions() if kind == "sft" else DPOOptions()
            with self.progress.routed_to(ctx):
                return run_datagen(self.service, kind, options).to_json()

        self.db.audit(user.name, "datagen", kind)
        return self.jobs.submit("datagen", user.name, f"Generate {kind.upper()} data", run)

    def train(
        self, user: User, kind: str, data: str, engine: str, from_engine: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> Job:
        """Train a new engine version as a background job; its loss curve is kept in `curves[job id]`."""
        require(user, "engines")
        from assistant.engines import check_engine_name

        check_engine_name(engine)
        if kind not in ("sft", "dpo"):
            raise InputError(f"unknown training kind {kind!r} (sft or dpo)")
        if not Path(data).is_file():
            raise InputError(f"no dataset at {data} (generate one first)")

        def run(ctx: JobContext) -> dict[str, Any]:
            from assistant.training import run_train
            from finetune.train import TrainingCancelled

            curve = self.curves.setdefault(ctx.job_id, [])
            try:
                return run_train(
                    self.settings, kind, Path(data), engine, from_engine or None, overrides=overrides,
                    progress=_JobTrainProgress(ctx), on_log=curve.append, should_stop=lambda: ctx.cancelled,
                    notify=ctx.message,
                )
            except TrainingCancelled as err:
                raise JobCancelled(str(err)) from err

        self.db.audit(user.name, "train", f"{kind} {engine} on {data}")
        return self.jobs.submit("train", user.name, f"Train {engine} ({kind.upper()})", run)

    # -- reports (evaluator, admin) ----------------------------------------------------------------------
    def reports(self, user: User) -> list[dict[str, Any]]:
        """Finished evaluation reports, newest first, with their headline numbers."""
        require(user, "reports")
        folder = self.settings.paths.reports
        rows = []
        for results in sorted(folder.glob("[!.]*/results.json"), reverse=True):
            try:
                doc = json.loads(results.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            rows.append({"id": results.parent.name, "created": doc.get("created", ""),
                         "questions": (doc.get("settings") or {}).get("questions_file", ""),
                         "results": doc.get("results") or doc.get("summary") or {}})
        return rows

    def report_file(self, user: User, report_id: str, name: str = "report.html") -> Path:
        require(user, "reports")
        folder = self.settings.paths.reports
        path = (folder / report_id / name).resolve()
        if folder.resolve() not in path.parents or report_id.startswith(".") or not path.is_file():
            raise InputError(f"no report {report_id!r}")
        return path

    def run_eval(
        self, user: User, questions: str, engines: list[str], modes: list[str], limit: int | None = None
    ) -> Job:
        """An evaluation as a background job: the judge is the settings' eval.judge, and retrieval runs with
        the user's groups, so the report quotes nothing they may not read."""
        require(user, "reports")
        from assistant.evaluation import EvalOptions, check_options

        options = EvalOptions(questions=Path(questions), engines=engines or ["base"], modes=modes or ["rag"],
                              limit=limit, viewer=viewer_of(user)).with_settings(self.settings.eval)
        check_options(options)
        if not options.questions.is_file():
            raise InputError(f"no questions file at {questions}")

        def run(ctx: JobContext) -> dict[str, Any]:
            from assistant.evaluation import run_eval

            _run, report = run_eval(self.service, options, ctx)
            return {"report": report.name}

        self.db.audit(user.name, "eval", f"{questions} {engines} {modes}")
        return self.jobs.submit("eval", user.name, f"Evaluate {', '.join(options.engines)}", run)

    def export_feedback(self, user: User) -> Path:
        """The chat's thumbs up/down as an eval questions file; a liked answer becomes the reference."""
        rows = self.all_feedback(user)
        target = self.settings.paths.datasets / "feedback-questions.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = []
        for r in rows:
            row: dict[str, Any] = {"question": r["question"], "feedback": r["rating"], "comment": r["comment"]}
            if r["rating"] > 0:
                row["reference"] = r["answer"]
            lines.append(json.dumps(row, ensure_ascii=False))
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        tmp.replace(target)
        return target

    # -- jobs ------------------------------------------------------------------------------------------
    def list_jobs(self, user: User) -> list[Job]:
        return self.jobs.list(require(user, "chat"))

    def cancel_job(self, user: User, job_id: int) -> Job:
        job = self.jobs.cancel(job_id, require(user, "chat"))
        self.db.audit(user.name, "cancel job", str(job_id))
        return job

    def cancel_latest(self, user: User, kinds: tuple[str, ...]) -> Job:
        """Cancel the newest queued or running job of these kinds that this user may cancel (a tab's own
        Cancel button: the job it started, without looking up its id)."""
        active = [j for j in self.list_jobs(user) if j.kind in kinds and j.state in ("queued", "running")
                  and (j.owner == user.name or user.can("jobs:all"))]
        if not active:
            raise InputError(f"no {' or '.join(kinds)} job is running")
        return self.cancel_job(user, max(active, key=lambda j: j.id).id)

    # -- users (admin) -----------------------------------------------------------------------------------
    def list_users(self, user: User) -> list[User]:
        require(user, "users")
        return self.accounts.list_users()

    def add_user(self, user: User, name: str, role: str, groups: list[str], password: str) -> User:
        require(user, "users")
        return self.accounts.add_user(name, role, groups, password, actor=user.name)


__all__ = ["UPLOAD_FIELDS", "AuthError", "PermissionDenied", "TurnDone", "Workspace", "may_see", "require", "viewer_of"]
