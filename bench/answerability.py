"""Answerability: does the assistant answer what the documents contain and decline what they do not?

    python bench/answerability.py                      # the demo corpus and questions.jsonl
    python bench/answerability.py --home H --questions F.jsonl --corpus DIR

Runs `ask` (hybrid retrieval, evidence gate, the base engine) over every question and prints, side
by side: the share of answerable questions answered (found = true) and of unanswerable ones
declined (found = false), with how many were declined by the evidence gate before any generation.
Baseline in the same run: the same questions with the gate off (min_relevance = 0), so the figure
shows what the gate adds over the engine's own refusals.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import load_settings
from assistant.services import DEMO_CORPUS, DEMO_QUESTIONS, AssistantService


def shares(svc: AssistantService, rows: list[dict]) -> dict[str, float]:
    started = time.perf_counter()
    answers = svc.ask([r["question"] for r in rows])
    answerable = [(r, a) for r, a in zip(rows, answers, strict=True) if r.get("answerable", True)]
    unanswerable = [(r, a) for r, a in zip(rows, answers, strict=True) if not r.get("answerable", True)]
    gated = sum(1 for _, a in unanswerable if not a.found and not a.sources and a.answer.startswith("The documents"))
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered_share": round(sum(a.found for _, a in answerable) / max(1, len(answerable)), 3),
        "declined_share": round(sum(not a.found for _, a in unanswerable) / max(1, len(unanswerable)), 3),
        "declined_by_gate": gated,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an indexed home (default: the demo corpus in a temporary home)")
    parser.add_argument("--questions", type=Path, default=DEMO_QUESTIONS)
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-answerability-") as tmp:
        home = args.home
        if home is None:
            home = Path(tmp) / "home"
            home.mkdir()
            if args.models:
                (home / "models").symlink_to(args.models.resolve(), target_is_directory=True)
            AssistantService(load_settings(home)).index([DEMO_CORPUS])
        result = {}
        for label, gate in (("with_gate", None), ("without_gate", 0.0)):
            settings = load_settings(home)
            settings.llm.max_new_tokens = args.max_new_tokens
            if gate is not None:
                settings.chat.min_relevance = gate
            result[label] = shares(AssistantService(settings), rows)
    for label, r in result.items():
        print(f"{label:13s} answerable answered {r['answered_share']:.2f} ({r['answerable']})   "
              f"unanswerable declined {r['declined_share']:.2f} ({r['unanswerable']}, "
              f"{r['declined_by_gate']} by the gate)   {r['seconds']} s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
