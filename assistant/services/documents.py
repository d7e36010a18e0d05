"""Documents: what is indexed, adding and removing files, searching them. Admins change; anyone searches,
always with their own groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.accounts import User
from assistant.errors import InputError, NotFound
from assistant.jobs import Job, JobCancelled
from assistant.services.base import ServiceContext, may_see, require, viewer_of
from assistant.services.jobs import job_payload
from assistant.uploads import StoredUploads
from assistant.work import Work
from indexing.docstore import SourceRecord
from indexing.ingest import IndexReport
from indexing.metadata import SIDECAR_SUFFIX
from indexing.page_preview import NoSuchPage, PagePreview, PreviewError, preview
from indexing.retrieval import RetrievedChunk

# The metadata an upload form offers; anything else can come from sidecars in a zip.
UPLOAD_FIELDS = ("doc_type", "sector", "outcome", "itt", "date", "title", "groups")


class DocumentsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- reading ------------------------------------------------------------------------------------
    def sources(self, user: User) -> list[SourceRecord]:
        require(user, "documents")
        return self.ctx.components.sources()

    def search(
        self, user: User, queries: list[str], top_k: int | None = None, where: dict[str, Any] | None = None,
        mode: str | None = None,
    ) -> list[list[RetrievedChunk]]:
        """The chunks that best match each query, among the documents this user may read."""
        require(user, "chat")
        return self.ctx.components.retrieve(queries, top_k, where, viewer_of(user), mode)

    def metadata_values(self, user: User, key: str) -> list[str]:
        """The distinct values of one metadata key among the documents this user may read (a chat form's
        filter choices); the metadata of documents outside their groups stays hidden."""
        require(user, "chat")
        found = {str(r.metadata[key]) for r in self.ctx.components.sources()
                 if r.metadata.get(key) not in (None, "") and may_see(user, r.metadata)}
        return sorted(found)

    def source_file(self, user: User, source: str) -> Path:
        """A cited file on disk, for a user allowed to read it (the same groups rule as retrieval)."""
        require(user, "chat")
        record = self.ctx.components.indexer.docstore.get(source)
        if record is None or not may_see(user, record.metadata):
            raise NotFound("no such document")
        path = Path(record.source)
        if not path.is_file():
            raise NotFound(f"{path.name} is no longer on disk")
        return path

    def page_preview(self, user: User, source: str, page: int | None = None, passage: str = "",
                     render: bool = True) -> PagePreview:
        """The cited page with the passage highlighted, for a user allowed to read the file (`source_file`'s
        rule): a PDF page as a PNG (`render=False`: only where the passage is, and the page count), any
        other document as its text in HTML with the passage marked."""
        path = self.source_file(user, source)
        try:
            return preview(path, page, passage, render)
        except NoSuchPage as err:
            raise NotFound(str(err)) from err
        except PreviewError as err:  # the file changed since it was indexed, or was damaged on disk
            raise InputError(str(err)) from err

    # -- changing -----------------------------------------------------------------------------------
    def index(self, user: User, paths: list[Path], meta: dict[str, Any] | None = None, prune: bool = False,
              work: Work | None = None) -> IndexReport:
        """Add new files, re-embed changed ones, skip unchanged ones; in this process."""
        require(user, "documents")
        report = self.ctx.components.index(paths, meta, prune, work)
        self.ctx.audit(user, "index", f"{', '.join(map(str, paths))}: {report.added} added, "
                                      f"{report.updated} updated, {len(report.failed)} failed")
        return report

    def reindex(self, user: User, source: str | None = None, work: Work | None = None) -> IndexReport:
        require(user, "documents")
        self.ctx.audit(user, "reindex", source or "everything")
        return self.ctx.components.indexer.reindex([source] if source else None, work)

    def remove(self, user: User, sources: list[str]) -> tuple[list[str], list[dict[str, str]]]:
        """Forget sources (or folders of them); an uploaded file is deleted too, with its sidecar. A file
        from the company's own folders is not ours to delete."""
        require(user, "documents")
        removed, failed = self.ctx.components.remove(sources)
        uploads = self.ctx.paths.uploads.resolve()
        for s in removed:
            path = Path(s)
            if uploads in path.resolve().parents:
                path.unlink(missing_ok=True)
                path.with_name(path.name + SIDECAR_SUFFIX).unlink(missing_ok=True)
        if removed:
            self.ctx.audit(user, "remove", ", ".join(removed))
        return removed, failed

    def remove_one(self, user: User, source: str) -> list[str]:
        removed, failed = self.remove(user, [source])
        if failed:
            raise InputError(failed[0]["error"])
        return removed

    def build_demo(self, user: User, work: Work | None = None) -> dict[str, Any]:
        """Index (or refresh) the demo corpus into this home: {"home", "sources", "questions", "index"}."""
        require(user, "documents")
        summary = self.ctx.components.build_demo(work)
        self.ctx.audit(user, "demo", f"{summary['sources']} sources")
        return summary

    # -- in the background ----------------------------------------------------------------------------
    def upload(self, user: User, files: list[tuple[str, Path]], meta: dict[str, Any] | None = None,
               ) -> tuple[StoredUploads, Job | None]:
        """Store the files under HOME/uploads and index them in a background job."""
        require(user, "documents")
        meta = dict(meta or {})
        if isinstance(meta.get("groups"), str):
            meta["groups"] = [g.strip() for g in meta["groups"].split(",") if g.strip()]
        stored = self.ctx.uploads.store(files, meta)
        self.ctx.audit(user, "upload", f"{len(stored.saved)} saved, {len(stored.rejected)} refused")
        if not stored.saved:
            return stored, None
        job = self.ctx.jobs.enqueue("index", user.name, f"Index {len(stored.saved)} uploaded file(s)",
                                    job_payload(user, "documents.index_job", uploads=True))
        return stored, job

    def submit_reindex(self, user: User, source: str | None = None) -> Job:
        require(user, "documents")
        title = f"Reindex {Path(source).name}" if source else "Reindex everything"
        return self.ctx.jobs.enqueue("index", user.name, title, job_payload(user, "documents.index_job", source=source))

    def submit_index(self, user: User, paths: list[Path], meta: dict[str, Any] | None = None,
                     prune: bool = False) -> Job:
        """`index` in a queued job (`assistant index --queue`)."""
        require(user, "documents")
        missing = [str(p) for p in paths if not Path(p).exists()]
        if missing:
            raise InputError(f"no such file or folder: {', '.join(missing)}")
        paths = [Path(p).absolute() for p in paths]  # a worker may run elsewhere in the file system
        title = f"Index {', '.join(p.name for p in paths)}"[:200]
        return self.ctx.jobs.enqueue("index", user.name, title,
                                     job_payload(user, "documents.index_job", paths=paths, meta=meta, prune=prune))

    def index_job(self, user: User, work: Work, source: str | None = None, uploads: bool = False,
                  paths: list[Path] | None = None, meta: dict[str, Any] | None = None,
                  prune: bool = False) -> dict[str, Any]:
        """A queued index job, run by a worker: these paths, the uploads folder, one source, or everything."""
        try:
            if paths or uploads:
                report: IndexReport = self.index(user, paths or [self.ctx.paths.uploads], meta, prune, work)
            else:
                report = self.reindex(user, source, work)
        except JobCancelled:
            self.ctx.components.indexer.recover()  # drop the half-written source now, not at the next run
            raise
        for f in report.failed:
            work.log(f"failed {f['path']}: {f['error']}")
        return report.to_json()
