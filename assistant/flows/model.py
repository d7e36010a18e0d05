"""The shape of a flow definition: what a YAML file in `definitions/` may say, checked by pydantic.

Cross-field rules (placeholders that must exist, unique step names) are checked in `loader.py`,
where the file name is known and errors can name it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.errors import InputError

# Names appear as placeholders (`{name}`) and as keys in traces, so keep them identifier-like.
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
STEP_KINDS = ("llm", "retrieve")
# The placeholder every flow gets: the text the user typed.
USER_INPUT = "input"

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
Template = Annotated[str, Field(min_length=1)]
# A `where` value: a literal, or a template over the user's inputs (an optional input left empty drops the key).
WhereValue = str | int | float | bool


class FlowError(InputError):
    """A flow cannot be loaded or run; the message is one line that names the flow (and file, step)."""


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as `top-k` must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlowInput(_Strict):
    """A named parameter the user can give beside the text, e.g. `sector`."""

    name: Name
    description: str = ""
    required: bool = False


class LLMStep(_Strict):
    """Render `system` and `user` templates into chat messages and generate."""

    name: Name
    kind: Literal["llm"]
    engine: str | None = None  # None: the engine the user chose
    system: Template | None = None
    user: Template
    max_new_tokens: int = Field(256, ge=1, le=4096)

    def templates(self) -> dict[str, str]:
        return {"system": self.system or "", "user": self.user}


class RetrieveStep(_Strict):
    """Retrieve `top_k` chunks for `query` under `where`; each `fallback` filter tops the list up, in order."""

    name: Name
    kind: Literal["retrieve"]
    query: Template
    where: dict[str, WhereValue] = Field(default_factory=dict)
    fallback: list[dict[str, WhereValue]] = Field(default_factory=list)
    top_k: int = Field(5, ge=1, le=50)
    max_query_chars: int = Field(1000, ge=10)
    # An empty result stops the flow with a FlowError rather than letting the model answer ungrounded.
    required: bool = True

    def templates(self) -> dict[str, str]:
        return {"query": self.query}

    def where_templates(self) -> dict[str, str]:
        """Every string value of `where` and the fallbacks, keyed by a readable location."""
        out = {f"where.{k}": v for k, v in self.where.items() if isinstance(v, str)}
        for i, filt in enumerate(self.fallback):
            out |= {f"fallback[{i}].{k}": v for k, v in filt.items() if isinstance(v, str)}
        return out


Step = LLMStep | RetrieveStep


class Flow(_Strict):
    """A named, versioned chain of steps; loaded flows are keyed by `name`."""

    name: Name
    title: str = Field(min_length=1)  # the button label
    version: int = Field(ge=1, strict=True)
    description: str = ""
    inputs: list[FlowInput] = Field(default_factory=list)
    steps: list[Annotated[Step, Field(discriminator="kind")]] = Field(min_length=1)
    source: str = ""  # the file it was loaded from; set by the loader, shown in errors

    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def summary(self) -> dict[str, Any]:
        """What a UI needs to draw the button and its parameter fields."""
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "description": self.description,
            "inputs": [i.model_dump() for i in self.inputs],
            "steps": [{"name": s.name, "kind": s.kind, "engine": getattr(s, "engine", None)} for s in self.steps],
        }
