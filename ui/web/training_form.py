"""The training options of the Engines tab, built from the recipe's own field list (`recipe_fields`): each
knob is declared once, on TrainRecipe, and the service validates what the form sends with the recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant.services import RecipeField, recipe_fields

KINDS = ("sft", "dpo")
# Knobs shown beside the Train button; the others sit in "More training options".
MAIN = ("max_steps",)
# A web click should start a short run that shows its loss curve in a minute, not a full epoch.
WEB_DEFAULTS: dict[str, Any] = {"max_steps": 20}
# The element ids pages and browser tests already address.
ELEM_IDS = {"max_steps": "train-steps"}
_TRI_STATE = {"default": None, "on": True, "off": False}  # a bool the recipe picks per machine when unset


@dataclass
class RecipeForm:
    fields: dict[str, RecipeField]  # by name, every field of either kind
    kinds: dict[str, tuple[str, ...]]  # field name -> the kinds of run that take it
    widgets: dict[str, gr.components.Component]

    def overrides(self, kind: str, values: tuple[Any, ...]) -> dict[str, Any]:
        """The recipe fields the form sets for a `kind` run: those changed from the recipe's default."""
        out = {}
        for (name, field), raw in zip(self.fields.items(), values, strict=True):
            value = _value(field, raw)
            if kind in self.kinds[name] and value not in (None, "", []) and value != field.default:
                out[name] = value
        return out

    def visibility(self, kind: str) -> list[Any]:
        return [gr.update(visible=kind in self.kinds[name]) for name in self.fields]


def build_main_knobs(form: RecipeForm, kind: str) -> None:
    """The knobs beside the Train button (call inside that row)."""
    for name in MAIN:
        form.widgets[name] = _widget(form.fields[name], kind in form.kinds[name])


def build_more_knobs(form: RecipeForm, kind: str) -> None:
    with gr.Accordion("More training options", open=False), gr.Row():
        for name, field in form.fields.items():
            if name not in MAIN:
                form.widgets[name] = _widget(field, kind in form.kinds[name])
    form.widgets = {name: form.widgets[name] for name in form.fields}  # the fields' order, for `overrides`


def new_form() -> RecipeForm:
    fields: dict[str, RecipeField] = {}
    kinds: dict[str, tuple[str, ...]] = {}
    for kind in KINDS:
        for field in recipe_fields(kind):
            fields.setdefault(field.name, field)
            kinds[field.name] = (*kinds.get(field.name, ()), kind)
    return RecipeForm(fields, kinds, {})


def _widget(field: RecipeField, visible: bool) -> gr.components.Component:
    label = field.name.replace("_", " ").capitalize()
    info = " ".join(p for p in (field.help, f"({field.range_text()})" if field.range_text() else "") if p)
    common: dict[str, Any] = {"label": label, "info": info, "visible": visible,
                              "elem_id": ELEM_IDS.get(field.name, "train-" + field.name.replace("_", "-"))}
    default = WEB_DEFAULTS.get(field.name, field.default)
    if field.choices:
        return gr.Dropdown(choices=list(field.choices), value=default, multiselect=field.multiple, **common)
    if field.type is bool:
        if field.default is None:
            return gr.Radio(list(_TRI_STATE), value="default", **common)
        return gr.Checkbox(value=bool(default), **common)
    if field.type in (int, float) and default is not None:
        return gr.Number(value=default, precision=0 if field.type is int else None, **common)
    # An empty gr.Number sends 0, not "unset": a number the recipe picks when unset is typed as text.
    return gr.Textbox(value="" if default is None else str(default), placeholder="default", **common)


def _value(field: RecipeField, raw: Any) -> Any:
    """A widget's value as the recipe field's type; text that is not a number is left for the recipe's
    validation to name (with the field and its bounds)."""
    if field.type is bool and field.default is None:
        return _TRI_STATE.get(raw, raw)
    if field.type in (int, float) and isinstance(raw, str):
        text = raw.strip()
        try:
            return field.type(text) if text else None
        except ValueError:
            return text
    return raw
