"""Write a run to its report folder: results.json, report.html (self-contained) and plots/*.png.

The folder is built beside its final place (a hidden temporary folder in the same parent) and renamed
in one step, so a killed run leaves either a whole report or none. The HTML embeds its plots as base64
PNG and its CSS inline, and links nothing outside itself: it opens offline, from a file or an archive.
Every number in its summary table comes from the same `summary` as results.json (each cell also
carries the exact value in `data-value`, which the tests compare).
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
from pathlib import Path
from typing import Any

from eval.catalog import METRICS
from eval.model import Row
from eval.plots import make_plots
from eval.runner import EvalRun

WORST_PER_COMBO = 3
RANKING_METRICS = ("factual_correctness", "faithfulness", "accuracy", "rouge_l", "chrf", "house_style")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.unreliable{color:#b00;font-weight:600}.skipped{color:#999}.ci{color:#666;font-size:.85em}
.note{background:#fff8e1;border-left:3px solid #f0b400;padding:4px 8px;margin:4px 0}
img{max-width:100%;border:1px solid #eee;margin:4px 0}pre{white-space:pre-wrap;background:#f7f7f7;padding:6px}
details{margin:4px 0}summary{cursor:pointer}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cell_html(engine: str, mode: str, name: str, c: dict[str, Any] | None) -> str:
    attrs = f'data-engine="{_e(engine)}" data-mode="{_e(mode)}" data-metric="{_e(name)}"'
    if not c or c["status"] == "skipped":
        reasons = "; ".join(c["skip_reasons"]) if c else "not run"
        return f'<td class="num skipped" {attrs} data-status="skipped" title="{_e(reasons)}">n/a</td>'
    fails = f" · {c['failures']} failed" if c["failures"] else ""
    if c["status"] == "unreliable":
        why = ", ".join(f"{k}: {v}" for k, v in c["failure_reasons"].items())
        return (f'<td class="num unreliable" {attrs} data-status="unreliable" title="{_e(why)}">unreliable'
                f'<br><span class="ci">{c["failures"]}/{c["failures"] + c["n"]} failed</span></td>')
    ci = c.get("ci95")
    ci_text = f"[{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]" if ci and ci[0] is not None else ""
    return (f'<td class="num" {attrs} data-status="ok" data-value="{c["mean"]!r}" data-n="{c["n"]}">'
            f'{_fmt(c["mean"])}<br><span class="ci">{ci_text} n={c["n"]}{fails}</span></td>')


def summary_table(summary: dict[str, Any]) -> str:
    combos = [(e, m) for e, modes in summary.items() for m in modes]
    names: list[str] = []
    for e, m in combos:
        names += [n for n in summary[e][m] if n not in names]
    head = "".join(f"<th>{_e(e)}<br>{_e(m)}</th>" for e, m in combos)
    body = []
    for name in names:
        info = METRICS.get(name)
        label = f'<td title="{_e(info.description) if info else ""}">{_e(name)}</td>'
        family = f"<td>{_e(info.family) if info else ''}</td>"
        cells = "".join(_cell_html(e, m, name, summary[e][m].get(name)) for e, m in combos)
        body.append(f"<tr>{label}{family}{cells}</tr>")
    return (f'<table id="summary"><thead><tr><th>metric</th><th>family</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _kv_table(pairs: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)

    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(show(v))}</td></tr>" for k, v in pairs.items())
    return f"<table>{rows}</table>"


def _row_rank(row: Row) -> float | None:
    for name in RANKING_METRICS:
        if name in row.scores:
            return row.scores[name]
    return None


def worst_answers(rows: list[Row], summary: dict[str, Any]) -> str:
    parts = []
    for engine, modes in summary.items():
        for mode in modes:
            ranked = [(r, _row_rank(r)) for r in rows if r.engine == engine and r.mode == mode]
            ranked = sorted([x for x in ranked if x[1] is not None or x[0].error],
                            key=lambda x: -1.0 if x[1] is None else x[1])[:WORST_PER_COMBO]
            for row, score in ranked:
                contexts = "".join(f"<li><b>{_e(c.source)}</b><br>{_e(c.text[:600])}</li>" for c in row.contexts)
                scores = ", ".join(f"{k} {v:.3f}" for k, v in sorted(row.scores.items()))
                failures = ", ".join(f"{k}: {v}" for k, v in sorted(row.failures.items()))
                parts.append(
                    f"<details><summary>{_e(engine)} · {_e(mode)} · line {row.question.line} · "
                    f"{_e(row.question.question)} ({'error' if row.error else _fmt(score)})</summary>"
                    f"<p><b>Answer</b></p><pre>{_e(row.error or row.answer)}</pre>"
                    f"<p><b>Reference</b></p><pre>{_e(row.question.reference or '(none)')}</pre>"
                    f"<p><b>Sources given</b></p><ol>{contexts or '<li>(none)</li>'}</ol>"
                    f"<p><b>Scores</b> {_e(scores or '–')}</p>"
                    + (f"<p><b>Failures</b> {_e(failures)}</p>" if failures else "")
                    + "</details>"
                )
    return "".join(parts) or "<p>No scored answers.</p>"


def classification_html(classification: dict[str, Any]) -> str:
    parts = []
    for engine, modes in classification.items():
        for mode, block in modes.items():
            head = "".join(f"<th>{_e(c)}</th>" for c in block["columns"])
            body = "".join(
                f"<tr><th>{_e(label)}</th>{''.join(f'<td class=num>{v}</td>' for v in row)}</tr>"
                for label, row in zip(block["labels"], block["confusion"], strict=True)
            )
            scores = ", ".join(f"{k} {v:.3f}" for k, v in block["scores"].items())
            parts.append(f"<h3>{_e(engine)} · {_e(mode)}</h3><p>{_e(scores)}; n={block['n']}, "
                         f"unmapped answers {block['unmapped']}</p>"
                         f"<table class=confusion><tr><th>gold \\ predicted</th>{head}</tr>{body}</table>")
    return "".join(parts)


def render_html(run: EvalRun, plots: list[Path]) -> str:
    data = run.to_json()
    settings = data["settings"]
    notes = "".join(f'<div class="note">{_e(n)}</div>' for n in run.notes) or "<p>None.</p>"
    judge = run.judge
    judge_html = _kv_table({k: v for k, v in judge.items() if k != "note"})
    style = run.style.get("calibration")
    style_html = _kv_table(style) if style else f"<p>{_e(run.style.get('note', 'Not scored.'))}</p>"
    plots_html = "".join(f"<figure>{_img(p)}<figcaption>{_e(p.name)}</figcaption></figure>" for p in plots)
    gate_html = _kv_table(run.gate) if run.gate else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {_e(run.id)}</title><style>{CSS}</style></head>
<body>
<h1>Evaluation report {_e(run.id)}</h1>
<p>{_e(run.created)} · {len(run.request.questions)} questions · engines {_e(', '.join(run.request.engines))} ·
modes {_e(', '.join(run.request.modes))} · judge {_e(run.request.judge.kind)}</p>
{'<h2>Gate</h2>' + gate_html if gate_html else ''}
<h2>Summary</h2>
<p>Mean per engine × mode, with the 95% bootstrap interval and the number of scored rows. "unreliable": more
than {run.request.unreliable_above:.0%} of the rows failed (e.g. the judge gave no parseable answer), so no
number is given. "n/a": the metric does not apply (hover for why).</p>
{summary_table(run.summary)}
<h2>Notes</h2>{notes}
<h2>Plots</h2>{plots_html or '<p>No plots.</p>'}
<h2>Judge</h2>{judge_html}
<h2>House style calibration</h2>{style_html}
{'<h2>Classification</h2>' + classification_html(run.classification) if run.classification else ''}
<h2>Worst answers</h2>{worst_answers(run.rows, run.summary)}
<h2>Settings</h2>{_kv_table(settings)}
<h2>Timings (seconds)</h2>{_kv_table(data['timings'])}
</body></html>
"""


def write_report(run: EvalRun, parent: Path) -> Path:
    """Write the report folder parent/ID atomically; returns its path."""
    parent.mkdir(parents=True, exist_ok=True)
    final = parent / run.id
    staging = parent / f".{run.id}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        plots = make_plots(run.summary, run.rows, run.classification, staging / "plots")
        (staging / "results.json").write_text(
            json.dumps(run.to_json(), indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        (staging / "report.html").write_text(render_html(run, plots), encoding="utf-8")
        for f in (staging / "results.json", staging / "report.html"):
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
