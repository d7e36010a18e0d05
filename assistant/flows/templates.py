"""`{placeholder}` templates: parsing (for load-time checks), rendering, and how chunks read in a prompt.

Placeholders are plain names, never Python expressions: `{input}`, an input such as `{sector}`, an
earlier step's name, or `{step.top}` for the best chunk of a retrieve step. Values are substituted,
never re-parsed, so braces in the user's text are harmless. `{{` and `}}` are literal braces.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

from assistant.chat import source_label
from indexing.retrieval import RetrievedChunk

# The attribute a retrieve step's placeholder may carry: `{cases.top}` is its best chunk alone.
TOP = "top"


class TemplateSyntaxError(ValueError):
    """Malformed template text; the loader adds the file, flow and step."""


def placeholders(template: str) -> list[str]:
    """Placeholder names in order of appearance, e.g. `["input", "cases.top"]`."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as err:  # a lone `{` or `}`
        raise TemplateSyntaxError(f"{err} (write {{{{ or }}}} for a literal brace)") from err
    names = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field:
            raise TemplateSyntaxError("empty placeholder {}")
        if spec or conversion:
            raise TemplateSyntaxError(f"placeholder {{{field}}} may not carry a format or conversion")
        names.append(field)
    return names


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder from `values` (already checked at load time, so a miss is a bug)."""
    out = []
    for literal, field, _spec, _conversion in Formatter().parse(template):
        out.append(literal)
        if field is not None:
            out.append(values[field])
    return "".join(out)


def chunk_label(chunk: RetrievedChunk) -> str:
    """`(title, date, page N)`: the chat's own source label, so citations read the same everywhere."""
    return f"({source_label(chunk)})"


def numbered_block(chunks: list[RetrievedChunk]) -> str:
    """`[1] (title)\\ntext` blocks: the numbers are what the model cites."""
    return "\n\n".join(f"[{n}] {chunk_label(c)}\n{c.text}" for n, c in enumerate(chunks, 1))


def single_block(chunk: RetrievedChunk) -> str:
    """One labelled chunk without a number: a worked example, not a source to cite."""
    return f"{chunk_label(chunk)}\n{chunk.text}"
