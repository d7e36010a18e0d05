"""Engines: the registered versions, promotion, removal, export, and making new ones (training sets and
training runs). Admins only (but `offered`); staff reach promoted versions through chat.

With llm.serving = "vllm", promoting a version registers it with the vLLM server first (a refusal records
nothing), and demoting, replacing or removing one unloads it (assistant/vllm_serving.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.accounts import User
from assistant.engines import EngineRegistry, check_engine_name, parse_ref, remove_engine
from assistant.errors import InputError, NotFound
from assistant.feedback_data import FeedbackRequest, run_feedback_datagen
from assistant.jobs import Job, JobCancelled
from assistant.promotion import demote, gate_result, promote, promoted_refs
from assistant.services.base import ServiceContext, require
from assistant.services.jobs import job_payload
from assistant.training import DatagenRequest, TrainRequest, run_datagen, run_export, run_export_adapter, run_train
from assistant.work import Work

KINDS = ("sft", "dpo")


class EnginesService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @property
    def registry(self) -> EngineRegistry:
        return EngineRegistry(self.ctx.paths.engines)

    # -- the registry --------------------------------------------------------------------------------
    def list(self, user: User, all_versions: bool = True) -> list[dict[str, Any]]:
        """Registered versions with their lineage, metrics, gate result and promotion."""
        require(user, "engines")
        registry = self.registry
        promoted = set(promoted_refs(registry).values())
        rows = []
        for record in registry.list(all_versions=all_versions):
            gate = gate_result(record)
            rows.append({**record.to_json(), "ref": record.ref, "promoted": record.ref in promoted,
                         "gate": None if gate is None else bool(gate.get("passed", gate.get("pass")))})
        return rows

    def show(self, user: User, ref: str) -> dict[str, Any]:
        """One version in full: its record, adapter chain and the engine's other versions."""
        require(user, "engines")
        registry = self.registry
        resolved = registry.resolve(ref)
        versions = [r.version for r in registry.list(all_versions=True) if r.name == resolved.record.name]
        return {**resolved.record.to_json(), "folder": str(resolved.record.folder),
                "chain": [r.ref for r in resolved.chain], "versions": versions}

    def promote(self, user: User, ref: str, force: bool = False, reason: str | None = None) -> str:
        """Offer NAME@N to staff: through its passing gate, or `force`d past it. `reason` says why it was forced;
        it is recorded in promoted.json and the audit log. A front end that asks for one (the Reports and Engines
        tabs, `engines promote --reason`) passes what was typed, and a forced promotion with a blank reason is
        refused; None is a caller that asks for none (older scripts)."""
        from assistant.errors import PermissionDenied

        if user is not None and user.can("reports") and not user.can("engines"):
            raise PermissionDenied(f"{user.name} ({user.role}) may evaluate and gate engine versions but not promote "
                                   "them: promotion needs the admin role; ask an admin to promote it")
        require(user, "engines")
        if reason is not None:
            reason = " ".join(reason.split())
            if force and not reason:
                raise InputError(f"a forced promotion of {ref} needs a reason (why it may skip its gate)")
        registry, engines = self.registry, self.ctx.components.engines
        before = promoted_refs(registry).get(parse_ref(ref)[0])
        record = promote(registry, ref, force, actor=user.name, register=engines.publish, reason=reason or None)
        if before not in (None, record.ref):  # the version it replaces is no longer offered: free its slot
            engines.withdraw([before])
        detail = record.ref + (" (forced)" if force else "") + (f": {reason}" if reason else "")
        self.ctx.audit(user, "promote engine", detail)
        return record.ref

    def demote(self, user: User, name: str) -> str | None:
        """Withdraw NAME's promotion (staff no longer see it); the version that was promoted, if any."""
        require(user, "engines")
        registry = self.registry
        name = parse_ref(name)[0]
        was = promoted_refs(registry).get(name)
        demote(registry, name)
        if was is not None:
            self.ctx.components.engines.withdraw([was])
        self.ctx.audit(user, "demote engine", was or name)
        return was

    def offered(self, user: User, refs: list[str]) -> list[str]:
        """Of the engines a user may chat with, those the inference server really serves (all of them
        unless llm.serving = "vllm")."""
        require(user, "chat")
        return self.ctx.components.engines.offered(refs)

    def remove(self, user: User, ref: str) -> list[str]:
        """Delete NAME@N or every version of NAME. A removed promoted version is demoted with it, so a
        retrained version under the same number is never offered to staff unevaluated."""
        require(user, "engines")
        registry = self.registry
        name, _version = parse_ref(ref)
        removed = remove_engine(registry, ref)
        if promoted_refs(registry).get(name) is None:
            demote(registry, name)
        self.ctx.components.engines.withdraw(removed, forget_export=True)  # warns, never blocks, if the server is down
        self.ctx.audit(user, "remove engine", ", ".join(removed))
        return removed

    def export(self, user: User, ref: str, out: Path, work: Work | None = None,
               adapter: bool = False) -> dict[str, Any]:
        """The engine merged into its base (a model folder), or with `adapter` its chain as one LoRA adapter."""
        require(user, "engines")
        export = run_export_adapter if adapter else run_export
        doc = export(self.ctx.settings, ref, out, work.message if work else None)
        self.ctx.audit(user, "export engine", f"{doc['engine']} to {doc['out']}")
        return doc

    # -- training sets -------------------------------------------------------------------------------
    def datasets(self, user: User) -> list[str]:
        require(user, "engines")
        folder = self.ctx.paths.datasets
        return sorted(str(p) for p in folder.glob("*.jsonl") if not p.name.endswith(".val.jsonl"))

    def dataset_preview(self, user: User, name: str, first: int = 5) -> dict[str, Any]:
        """A training set of HOME/datasets at a glance, before training on it (finetune.preview):
        {"file","kind","rows","validation_rows","skipped":[{"reason","count"}],"tokens","first":[…]}. `name` is
        a file name there or a path inside it (an entry of `datasets`); anything outside is refused. A file that
        would not train is a DataError naming the file and its first bad line."""
        from finetune.preview import dataset_preview

        require(user, "engines")
        return dataset_preview(self._dataset_file(name), first)

    def _dataset_file(self, name: str) -> Path:
        folder = self.ctx.paths.datasets.resolve()
        text = (name or "").strip()
        if not text:
            raise InputError("name a dataset of HOME/datasets (e.g. sft.jsonl)")
        path = (folder / text).resolve()  # an absolute `name` replaces the folder: it must still lie inside it
        if not path.is_relative_to(folder) or path == folder:
            raise InputError(f"{text}: not a dataset of {folder} (only its training sets can be previewed)")
        if path.suffix != ".jsonl":
            raise InputError(f"{text}: a training set is a .jsonl file")
        if not path.is_file():
            raise NotFound(f"{text}: no such dataset in {folder} (generate one first)")
        return path

    def datagen(self, user: User, request: DatagenRequest, work: Work | None = None) -> Any:
        """Generate one SFT or DPO training set from the index; a finetune DatagenResult."""
        require(user, "engines")
        _check_kind(request.kind)
        self.ctx.audit(user, "datagen", request.kind)
        return run_datagen(self.ctx.components, request, work)

    def submit_datagen(self, user: User, request: DatagenRequest) -> Job:
        require(user, "engines")
        _check_kind(request.kind)
        return self.ctx.jobs.enqueue("datagen", user.name, f"Generate {request.kind.upper()} data",
                                     job_payload(user, "engines.datagen_job", request=request))

    def datagen_job(self, user: User, work: Work, request: DatagenRequest) -> dict[str, Any]:
        return self.datagen(user, request, work).to_json()

    # -- learning from users: the chat's ratings as training sets ------------------------------------
    def datagen_feedback(self, user: User, request: FeedbackRequest | None = None, work: Work | None = None,
                         ) -> dict[str, Any]:
        """"Improve from feedback": thumbs-up answers as SFT rows (HOME/datasets/feedback-sft.jsonl), thumbs-down
        answers with an evaluator's correction as DPO pairs (feedback-dpo.jsonl); the summary
        {"rows","skipped":[{"reason","count"}],"sft":{…},"dpo":{…},…}. Restricted sources as datagen's rule."""
        require(user, "engines")
        request = request or FeedbackRequest()
        self.ctx.audit(user, "datagen", "feedback" + (f" (groups {', '.join(request.groups)})" if request.groups
                                                      else ""))
        return run_feedback_datagen(self.ctx.components, self.ctx.history.feedback_rows(), request, work)

    def submit_datagen_feedback(self, user: User, request: FeedbackRequest | None = None) -> Job:
        """The same as a background job of kind "datagen" (the Engines tab's "Improve from feedback")."""
        require(user, "engines")
        return self.ctx.jobs.enqueue("datagen", user.name, "Improve from feedback",
                                     job_payload(user, "engines.datagen_feedback_job",
                                                 request=request or FeedbackRequest()))

    def datagen_feedback_job(self, user: User, work: Work, request: FeedbackRequest) -> dict[str, Any]:
        return self.datagen_feedback(user, request, work)

    # -- training ------------------------------------------------------------------------------------
    def train(self, user: User, request: TrainRequest, work: Work | None = None) -> dict[str, Any]:
        """Train a new version of request.engine and register it; the `train` command's JSON document."""
        self._check_train(user, request)
        self.ctx.audit(user, "train", f"{request.kind} {request.engine} on {request.data}")
        return run_train(self.ctx.settings, request, work)

    def submit_train(self, user: User, request: TrainRequest) -> Job:
        """Train in a background job; the loss curve is kept with the job (`JobsService.metrics`)."""
        self._check_train(user, request)
        return self.ctx.jobs.enqueue("train", user.name, f"Train {request.engine} ({request.kind.upper()})",
                                     job_payload(user, "engines.train_job", request=request))

    def train_job(self, user: User, work: Work, request: TrainRequest) -> dict[str, Any]:
        """A queued training run, run by a worker; a re-queued one with `resume` continues its checkpoints.
        With jobs.train_processes > 1 (or Ray's ray_train_gpus) this process launches that many training
        processes, one per GPU, and reports for rank 0 (assistant/train_ranks.py)."""
        from finetune.train import TrainingCancelled

        processes = self.ctx.settings.jobs.training_processes()
        try:
            if processes <= 1:
                return self.train(user, request, work)
            from assistant.train_ranks import train_on_ranks

            self._check_train(user, request)
            self.ctx.audit(user, "train", f"{request.kind} {request.engine} on {request.data} "
                                          f"({processes} processes)")
            return train_on_ranks(self.ctx.settings, request, work, processes)
        except TrainingCancelled as err:
            raise JobCancelled(str(err)) from err

    def _check_train(self, user: User, request: TrainRequest) -> None:
        require(user, "engines")
        check_engine_name(request.engine)
        _check_kind(request.kind)
        if not Path(request.data).is_file():
            raise InputError(f"{request.data}: no such data file (make one with `assistant datagen {request.kind}`)")
        if not request.resume:  # a bad knob is refused now, not when the job starts (a resumed run checks its own)
            from finetune.recipes import build_recipe

            build_recipe(request.recipe_file, request.overrides)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r} (sft or dpo)")
