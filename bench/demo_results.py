"""The README's results table: base, base + RAG, fine-tuned and fine-tuned + RAG on the demo questions.

    python bench/demo_results.py                     # builds a demo home in a temporary folder first
    python bench/demo_results.py --home HOME         # an indexed demo home (`assistant demo --no-serve`)
    python bench/demo_results.py --report DIR        # only print the table of an existing report

Runs what a user would (each an `assistant` command):
    assistant datagen sft                            # golden answers from the index (the demo questions
                                                     #   are kept out of the training prompts)
    assistant train sft --data HOME/datasets/sft.jsonl --engine company
    assistant eval --questions assistant/demo/questions.jsonl --engines base,company --modes norag,rag
then prints the report's numbers as a Markdown table (stdout) for the README.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, log, run_assistant

QUESTIONS = ROOT / "assistant" / "demo" / "questions.jsonl"

# (results.json name, column title): what a reader of the README compares across the four set-ups.
COLUMNS = [
    ("answered", "answerable answered"),
    ("declined", "unanswerable declined"),
    ("rouge_l", "ROUGE-L"),
    ("chrf", "chrF"),
    ("string_similarity", "string sim."),
    ("house_style", "house style"),
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("ref_context_recall", "context recall"),
]


def table(results: dict[str, Any], engine: str) -> str:
    summary = results["summary"]
    rows = [("base", "norag", "base"), ("base", "rag", "base + RAG"),
            (engine, "norag", "fine-tuned"), (engine, "rag", "fine-tuned + RAG")]
    lines = ["| set-up | " + " | ".join(title for _, title in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for name, mode, label in rows:
        cells = []
        for metric, _ in COLUMNS:
            cell = summary.get(name, {}).get(mode, {}).get(metric)
            if not cell or cell.get("status") != "ok" or cell.get("mean") is None:
                cells.append("n/a")
            else:
                cells.append(f"{cell['mean']:.2f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    settings = results["settings"]
    lines.append("")
    lines.append(f"{settings.get('questions_n', '?')} questions; engines {json.dumps(settings['engines'])}; "
                 f"max_new_tokens {settings['max_new_tokens']}; top_k {settings['top_k']}; judge: none.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="an indexed demo home (default: a new one in a temporary folder)")
    parser.add_argument("--report", type=Path, help="print the table of this report folder, run nothing")
    parser.add_argument("--engine", default="company", help="name of the fine-tuned engine")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    args = parser.parse_args()
    if args.report:
        print(table(json.loads((args.report / "results.json").read_text()), args.engine))
        return
    tmp = Path(tempfile.mkdtemp(prefix="demo-results-"))
    try:
        home = args.home or tmp / "home"
        if args.home is None:
            run_assistant(home, "demo", "--no-serve")
        data = run_assistant(home, "datagen", "sft")
        run_assistant(home, "train", "sft", "--data", data["out"], "--engine", args.engine)
        evaluate = ["eval", "--questions", str(QUESTIONS), "--engines", f"base,{args.engine}", "--modes", "norag,rag"]
        if args.limit:
            evaluate += ["--limit", str(args.limit)]
        doc = run_assistant(home, *evaluate, ok=(0, 3))  # 3: partly done, the report says what was not scored
        log(f"report: {doc['report']}")
        print(table(json.loads((Path(doc["report"]) / "results.json").read_text()), args.engine))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
