"""Load flow definitions from YAML and check them, so a bad file fails at start-up, not mid-run.

Every error is a one-line `FlowError` naming the file, the flow and, where it applies, the step and
the placeholder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from assistant.flows.model import STEP_KINDS, USER_INPUT, Flow, FlowError, RetrieveStep
from assistant.flows.templates import TOP, TemplateSyntaxError, placeholders

DEFINITIONS = Path(__file__).parent / "definitions"


def load_flows(folder: Path | None = None) -> dict[str, Flow]:
    """Every `*.yaml`/`*.yml` flow in `folder` (default: the shipped definitions), keyed by name."""
    folder = folder or DEFINITIONS
    if not folder.is_dir():
        raise FlowError(f"{folder}: no such folder of flow definitions")
    flows: dict[str, Flow] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        flow = load_flow_file(path)
        if flow.name in flows:
            raise FlowError(f"{path}: flow {flow.name!r} is already defined in {flows[flow.name].source}")
        flows[flow.name] = flow
    return flows


def get_flow(flows: dict[str, Flow], name: str) -> Flow:
    try:
        return flows[name]
    except KeyError:
        known = ", ".join(sorted(flows)) or "none"
        raise FlowError(f"unknown flow {name!r}; known flows: {known}") from None


def load_flow_file(path: Path) -> Flow:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise FlowError(f"{path}: cannot read flow definition: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise FlowError(f"{path}: a flow definition must be a mapping, got {type(raw).__name__}")
    where = f"{path}: flow {raw.get('name', path.stem)!r}"
    _check_step_kinds(raw, where)
    try:
        flow = Flow.model_validate({**raw, "source": str(path)})
    except ValidationError as err:
        raise FlowError(f"{where}: {_first_error(err, raw)}") from None
    _check_names(flow, where)
    _check_placeholders(flow, where)
    return flow


def _check_step_kinds(raw: dict[str, Any], where: str) -> None:
    """Checked before pydantic, whose message for a bad discriminator does not name the step."""
    steps = raw.get("steps")
    if not isinstance(steps, list):
        return  # pydantic reports a missing or malformed `steps`
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise FlowError(f"{where}, step {i + 1}: a step must be a mapping")
        if step.get("kind") not in STEP_KINDS:
            raise FlowError(f"{where}, step {_step_name(raw, i)!r}: unknown step kind {step.get('kind')!r} "
                            f"(expected one of: {', '.join(STEP_KINDS)})")


def _step_name(raw: dict[str, Any], index: int) -> str:
    step = raw["steps"][index]
    return str(step.get("name") or index + 1) if isinstance(step, dict) else str(index + 1)


def _first_error(err: ValidationError, raw: dict[str, Any]) -> str:
    """pydantic's report is many lines; keep the first problem, with its step named."""
    first = err.errors()[0]
    loc = list(first["loc"])
    prefix = ""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        prefix = f"step {_step_name(raw, loc[1])!r}: "
        loc = loc[3:] if len(loc) > 2 and loc[2] in STEP_KINDS else loc[2:]  # drop the union tag
    field = ".".join(str(p) for p in loc)
    return f"{prefix}{field + ': ' if field else ''}{first['msg']}"


def _check_names(flow: Flow, where: str) -> None:
    taken = {USER_INPUT: "the user's text"}
    for inp in flow.inputs:
        if inp.name in taken:
            raise FlowError(f"{where}: input {inp.name!r} clashes with {taken[inp.name]}")
        taken[inp.name] = f"input {inp.name!r}"
    for step in flow.steps:
        if step.name in taken:
            raise FlowError(f"{where}, step {step.name!r}: the name clashes with {taken[step.name]}")
        taken[step.name] = f"step {step.name!r}"


def _check_placeholders(flow: Flow, where: str) -> None:
    """Each placeholder must name the user's text, a declared input, or an earlier step's output."""
    inputs = [USER_INPUT, *flow.input_names()]
    later = {s.name for s in flow.steps}
    known = list(inputs)
    for step in flow.steps:
        later.discard(step.name)
        fields = {f: (t, known) for f, t in step.templates().items()}
        if isinstance(step, RetrieveStep):
            # Filters see only the user's inputs: a model's output must never widen what is searched.
            fields |= {f: (t, inputs) for f, t in step.where_templates().items()}
        for field, (template, allowed) in fields.items():
            at = f"{where}, step {step.name!r}, {field}"
            try:
                names = placeholders(template)
            except TemplateSyntaxError as err:
                raise FlowError(f"{at}: {err}") from None
            for name in names:
                if name in allowed:
                    continue
                base = name.split(".")[0]
                if base in later or base == step.name:
                    raise FlowError(f"{at}: placeholder {{{name}}} refers to step {base!r}, which has not run yet")
                raise FlowError(f"{at}: unknown placeholder {{{name}}}; known: {', '.join(allowed)}")
        known = [*known, step.name] + ([f"{step.name}.{TOP}"] if isinstance(step, RetrieveStep) else [])
