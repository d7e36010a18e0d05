"""Evaluation benchmark: what scoring costs next to producing the answers it scores.

    python bench/eval.py --home HOME                 # an indexed home (e.g. one built by `assistant demo`)
    python bench/eval.py                             # builds a demo home in a temporary folder first
    python bench/eval.py --home HOME --judge local --limit 2 --modes rag   # the LLM-judged path too (slow)

One `assistant eval` run (the same code: assistant.evaluation.run_eval) over the first --limit demo
questions × engines × modes, then prints (a human summary on stderr, one JSON line on stdout):
  answers            rows answered, seconds, seconds per row (retrieval + generation: the raw cost)
  non-LLM scoring    rows scored per second by the non-LLM path (retrieval metrics, RAGAS ROUGE/BLEU/chrF/
                     string/exact, context recall/precision against reference contexts, answerability,
                     house style): rows / seconds; models are loaded and RAGAS imported before (warm_up_s)
  ratio              scoring rows/s ÷ answering rows/s: how many times faster scoring is than answering
  per family         seconds per question of each family (retrieval, classic, style, judge)
  judge              with --judge: calls, the share whose answer held parseable JSON, timeouts
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import assistant  # noqa: F401  (first: it sets the OpenMP wait policy before torch loads)
from assistant.components import DEMO_QUESTIONS, Components
from assistant.config import load_settings
from assistant.evaluation import EvalOptions, run_eval
from bench.common import log


def bench(home: Path, args: argparse.Namespace) -> dict[str, object]:
    svc = Components(load_settings(home))
    svc.settings.llm.max_new_tokens = args.tokens
    svc.pipeline.max_new_tokens = args.tokens
    opts = EvalOptions(
        questions=args.questions, engines=args.engines.split(","), modes=args.modes.split(","), judge=args.judge,
        judge_max_tokens=args.judge_max_tokens, limit=args.limit, out=Path(tempfile.mkdtemp(prefix="bench-eval-")),
    )
    # Load the models first (embedder, index, LLM), so that both sides are measured warm: loading is a
    # one-off cost of the process, not of scoring or answering a row.
    loaded = time.perf_counter()
    svc.retrieve(["warm-up question"])
    svc.ask(["Say hello."], "base", use_rag=False)
    from eval.ragas_env import import_ragas

    import_ragas()
    load_s = time.perf_counter() - loaded
    started = time.perf_counter()
    run, report = run_eval(svc, opts)
    wall = time.perf_counter() - started
    t = run.timings
    rows = len(run.rows)
    questions = len(run.request.questions)
    scoring = t["retrieval_search"] + t["retrieval"] + t["classic"] + t["style"]
    answer_rate = rows / t["answers"] if t["answers"] else float("inf")
    score_rate = rows / scoring if scoring else float("inf")
    result: dict[str, object] = {
        "rows": rows, "questions": questions, "engines": run.request.engines, "modes": run.request.modes,
        "max_new_tokens": args.tokens, "wall_s": round(wall, 2),
        "answer_s": round(t["answers"], 2), "answer_s_per_row": round(t["answers"] / rows, 3),
        "nonllm_score_s": round(scoring, 3), "nonllm_rows_per_s": round(score_rate, 2),
        "answer_rows_per_s": round(answer_rate, 3),
        "ratio_scoring_vs_answering": round(score_rate / answer_rate, 1) if answer_rate else None,
        "warm_up_s": round(load_s, 2),
        "per_question_s": {
            "retrieval": round((t["retrieval_search"] + t["retrieval"]) / questions, 3),
            **{family: round(t[family] / questions, 3) for family in ("classic", "style", "judge") if family in t},
        },
        "judge": run.judge.get("calls"), "report": str(report),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an indexed home; default: build the demo in a temporary folder")
    parser.add_argument("--questions", type=Path, default=DEMO_QUESTIONS)
    parser.add_argument("--limit", type=int, default=8, help="first N questions (default 8)")
    parser.add_argument("--engines", default="base")
    parser.add_argument("--modes", default="rag,norag")
    parser.add_argument("--tokens", type=int, default=32, help="max new tokens per answer (default 32)")
    parser.add_argument("--judge", default="none", help="none (default), local or an OpenAI-compatible URL")
    parser.add_argument("--judge-max-tokens", type=int, default=256)
    args = parser.parse_args()
    if args.home is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-eval-home-"))
        log(f"Building the demo home in {tmp} …")
        Components(load_settings(tmp)).build_demo()
        args.home = tmp
    result = bench(args.home, args)
    log(f"answers:        {result['rows']} rows in {result['answer_s']} s ({result['answer_s_per_row']} s/row, "
        f"{result['max_new_tokens']} tokens max)")
    log(f"non-LLM scoring: {result['nonllm_rows_per_s']} rows/s ({result['nonllm_score_s']} s; model loads and "
        f"RAGAS import, {result['warm_up_s']} s, done before and not counted)")
    log(f"ratio:          scoring is {result['ratio_scoring_vs_answering']}x faster than answering, per row")
    log(f"per question:   {result['per_question_s']}")
    if result["judge"]:
        log(f"judge:          {result['judge']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
