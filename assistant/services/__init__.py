"""The only layer the CLI, the web app and the API call: one service per feature.

    documents  what is indexed; upload, index, reindex, remove; search      (assistant.services.documents)
    chat       answers with citations, conversations, feedback, flows        (assistant.services.chat)
    engines    versions, promotion, export; training sets and training      (assistant.services.engines)
    reports    evaluations and their reports; exported feedback             (assistant.services.reports)
    users      sign-in, sessions, API keys; accounts                        (assistant.services.users)
    jobs       background work: list, metrics, wait, cancel                 (assistant.services.jobs)

Every method takes the acting `User` first (`operator()` for the command line without --user),
checks the role, audits what changes state, and does the work through `assistant.components`
and the libraries. Long work takes a `Work` per call (`assistant.work`).
"""

from __future__ import annotations

from assistant.accounts import AuthError, User, UserChange
from assistant.appdb import AppDB
from assistant.chat import NOT_FOUND, Answer
from assistant.components import DEMO_CORPUS, DEMO_QUESTIONS, Components, Viewer
from assistant.config import Settings
from assistant.evaluation import EvalOptions
from assistant.jobs import Job
from assistant.llm.base import GenerationOptions
from assistant.services.base import ServiceContext, may_see, operator, require, viewer_of
from assistant.services.chat import ChatRequest, ChatService, TurnDone
from assistant.services.database import DatabaseService
from assistant.services.documents import UPLOAD_FIELDS, DocumentsService
from assistant.services.engines import EnginesService
from assistant.services.jobs import JobsService
from assistant.services.reports import ReportsService
from assistant.services.users import UsersService
from assistant.services.workers import Worker, WorkerOptions
from assistant.training import DatagenRequest, TrainRequest
from finetune.datagen_dpo import DPOOptions
from finetune.datagen_sft import SFTOptions
from finetune.recipes import RecipeField, recipe_fields
from indexing.doc_context import about


class Services:
    """The feature services over one shared context: one per process (web server) or command (CLI)."""

    def __init__(self, settings: Settings, db: AppDB | None = None, components: Components | None = None) -> None:
        self.ctx = ServiceContext(settings, db, components)
        self.settings = settings
        self.documents = DocumentsService(self.ctx)
        self.chat = ChatService(self.ctx)
        self.engines = EnginesService(self.ctx)
        self.reports = ReportsService(self.ctx)
        self.users = UsersService(self.ctx)
        self.jobs = JobsService(self.ctx, self)
        self.database = DatabaseService(self.ctx)  # the schema itself (`assistant db`); opens its own connection

    @property
    def components(self) -> Components:
        return self.ctx.components

    def close(self) -> None:
        self.ctx.close()


# The types and helpers a front end needs besides the services (ui imports nothing else of the application):
# the answer and job it displays, the requests it builds, and how a document is described in a line.
__all__ = [
    "DEMO_CORPUS", "DEMO_QUESTIONS", "NOT_FOUND", "UPLOAD_FIELDS", "Answer", "AuthError", "ChatRequest", "DPOOptions",
    "DatagenRequest", "EvalOptions", "GenerationOptions", "Job", "RecipeField", "SFTOptions", "Services",
    "TrainRequest", "TurnDone", "User", "UserChange", "Viewer", "Worker", "WorkerOptions", "about", "may_see",
    "operator", "recipe_fields", "require", "viewer_of",
]
