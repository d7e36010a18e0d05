"""Answerability: does the assistant answer what the documents contain and decline what they do not?

    python bench/answerability.py                      # the demo corpus: demo questions + synthetic set
    python bench/answerability.py --generate demo      # the engine on the demo set only (CPU time)
    python bench/answerability.py --generate none      # gate decisions only (assumes the engine answers)
    python bench/answerability.py --sweep              # also the threshold sweep on the synthetic set
    python bench/answerability.py --home H --questions F.jsonl

Prints, side by side for each question set, the share of answerable questions answered (found =
true) and of unanswerable ones declined (found = false) under three configurations:

    (a) gate off        the engine's own refusals only
    (b) relevance gate  + chat.min_relevance on the best dense similarity
    (c) + answerability + the term-coverage check (assistant/answerability.py) at the configured thresholds

Two question sets:

- demo: questions.jsonl (answerable and unanswerable questions written with the corpus), held out:
  no threshold was chosen on it.
- synthetic: an independent check set made from the corpus and the answerable questions. Answerable:
  hand-written questions on other facts (demo corpus only) and mechanical paraphrases (synonym swaps)
  of the answerable questions. Unanswerable near misses: each answerable question with its year or
  financial period moved to a year the corpus never mentions, or its first name swapped for an
  invented one absent from the corpus; attributes the documents never give asked about entities they
  describe, and hand-written near misses (demo corpus only). The thresholds were chosen on this set
  (`--sweep` shows how).

Generation runs once per question with every gate off; a configuration's answer is `found` when its
gate lets the question through and the engine does not refuse. This is exact because the gate only
decides whether to generate: the prompt is the same in every configuration.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.answerability import CorpusStats, Term, TermCoverageCheck, WordVectors
from assistant.chat import ChatPipeline, relevance
from assistant.components import DEMO_CORPUS, DEMO_QUESTIONS, Components
from assistant.config import load_settings

# --- the synthetic check set ------------------------------------------------------------------

# Demo corpus only: answerable questions on facts questions.jsonl does not ask about, phrased freely.
EXTRA_ANSWERABLE = [
    "How many offices does Calderbrook have?",
    "What was operating profit in FY2023/24?",
    "How much cash did the company hold at 31 March 2024?",
    "What was the headcount at the end of March 2023?",
    "Who is the Managing Director for the health sector?",
    "How many times did the board meet in the year to March 2024?",
    "How much did we invest in training, the bid academy and the AI lab?",
    "How many staff held SC clearance in 2024?",
    "How many apprentices did we take on in FY2023/24?",
    "What were scope 1 and 2 emissions in FY2023/24?",
    "What is the daily meal allowance when staying away overnight?",
    "Above what value must gifts be recorded in the gifts register?",
    "After how many days off sick do I need a fit note?",
    "How long is parental leave on full pay for the main carer?",
    "How many volunteering days do employees get?",
    "Which HR system do we book leave in?",
    "What is our default technology stack?",
    "How long does a typical discovery take?",
    "Who leads the Manchester office?",
    "When did the Manchester office open?",
    "What is the day rate for a data scientist in 2024-25?",
    "When does the NHS Digital Delivery Partners 2 framework expire?",
    "How many Clinical Safety Officers do we employ?",
    "Who chairs the board?",
    "How many wards use the Aldermoor discharge dashboard?",
    "How many prisons did the visits booking service roll out to?",
    "How many caseworkers did we shadow in Kelbridge?",
    "What accessibility standard does the Midland Rail app meet?",
    "How many desks does the new floor in Leeds add?",
    "Above what amount do I need a receipt for an expense?",
    "Can I use a USB memory stick on my work laptop?",
    "What was the firm's turnover in the year to March 2023?",
    "What profit before tax did we report for FY2022/23?",
    "How many employees worked in transport at 31 March 2024?",
    "Who is the Chief People Officer?",
    "How often do we send simulated phishing emails?",
    "What security classification does most of our client data have?",
    "Which bank provides our revolving credit facility?",
    "How many hours of volunteering did staff give in FY2022/23?",
    "How do users rate the prison visits booking service?",
]

# Demo corpus only: the topic is in the documents, the fact is not (checked by reading the corpus).
EXTRA_UNANSWERABLE = [
    "Who leads the Bristol office?",
    "What is the daily meal allowance for overseas trips?",
    "How many days of compassionate leave do employees get?",
    "Who is the Managing Director for the education sector?",
    "How many desks are there in the Manchester office?",
    "What is the day rate for a business analyst?",
    "When does our G-Cloud framework expire?",
    "What was the total contract value of the Kelbridge youth justice app?",
    "How much did the Aldermoor discharge dashboard cost to build?",
    "Who was the CFO before Alan Pierce?",
    "What is Calderbrook's share price?",
    "What is the phone number of the Glasgow office?",
    "Which cloud provider hosts our secure enclave?",
    "What engagement score did the January 2024 people survey give?",
    "How many research sessions did we run for Northshire County Council?",
    "What is the notice period for staff who resign?",
    "What is the limit of the cycle to work scheme?",
    "Which law firm is advising on Project Kestrel?",
    "How many people work in the central functions team in Glasgow?",
    "What was the bid win rate for the transport sector alone?",
    "How many complaints did the prison visits booking service receive?",
    "What is the policy on working from abroad?",
    "How much paid leave do employees get for jury service?",
    "What did the Midland Rail Partnership pay for the Passenger Assist app?",
]

# Demo corpus only: attributes the documents never give, about entities they describe.
ABSENT_ATTRIBUTES = {
    "office": ["the annual rent of the {} office", "the floor area of the {} office",
               "the parking arrangements at the {} office", "the number of meeting rooms in the {} office"],
    "client": ["the number of complaints {} received last year", "the insurance provider of {}",
               "the total IT budget of {}"],
    "person": ["the notice period of {}", "the home address of {}", "the professional qualifications of {}"],
}
ENTITIES = {
    "office": ["Leeds", "Manchester", "London", "Cardiff", "Glasgow"],
    "client": ["Aldermoor NHS Foundation Trust", "Kelbridge City Council", "Midland Rail Partnership",
               "Northshire County Council"],
    "person": ["Tom Whitaker", "Rachel Doyle", "Daniel Okafor", "Sophie Marsh"],
}

# Words people use for the documents' words: a paraphrase of an answerable question stays answerable.
SYNONYMS = {
    "revenue": "income", "company": "firm", "staff": "employees", "people": "employees", "win": "secure",
    "won": "secured", "bids": "proposals", "start": "begin", "contract": "deal", "holiday": "vacation",
    "laptop": "computer", "expire": "end", "charge": "bill", "client": "customer", "app": "application",
    "tender": "procurement", "most recent": "latest", "last": "previous", "office": "workplace",
    "salary": "pay", "how big": "what size", "allowed": "permitted", "grow": "increase",
}

# Invented names; each is checked absent from the corpus before use.
FAKE_NAMES = ["Wexcombe", "Harlowmere", "Tindale", "Ravensworth", "Quenby", "Ostrell", "Brackenholt", "Fennimore"]

_PERIOD = re.compile(r"\bFY(\d{4})/(\d{2})\b|\b(20\d{2})\b")
_NOT_NAMES = {"I", "Am", "Lot", "January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"}
_NAME_RUN = re.compile(r"(?<!^)(?<![.?!] )\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")


def corpus_has(db: sqlite3.Connection, word: str) -> bool:
    return db.execute("SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT 1",
                      ['"' + word.replace('"', '""') + '"']).fetchone() is not None


def absent_years(db: sqlite3.Connection) -> list[int]:
    return [y for y in range(2000, 2040) if not corpus_has(db, str(y)) and not corpus_has(db, f"fy{y}")]


def swap_period(question: str, years: list[int]) -> str | None:
    """Move every year or financial period of the question to the nearest year the corpus never mentions."""
    match = _PERIOD.search(question)
    if not match or not years:
        return None
    first = int(match.group(1) or match.group(3))
    shift = min(years, key=lambda y: (abs(y - first), y)) - first

    def move(m: re.Match) -> str:
        if m.group(1):
            start = int(m.group(1)) + shift
            return f"FY{start}/{(start + 1) % 100:02d}"
        return str(int(m.group(3)) + shift)

    return _PERIOD.sub(move, question)


def swap_name(question: str, fake: str, db: sqlite3.Connection) -> str | None:
    """The question with its first capitalised name (not its first word) replaced by an invented one."""
    if corpus_has(db, fake.lower()):
        return None
    for m in _NAME_RUN.finditer(question):
        if any(w in _NOT_NAMES for w in m.group(1).split()):
            continue
        return question[: m.start(1)] + fake + question[m.end(1):]
    return None


def paraphrase(question: str) -> str | None:
    out = question
    for word, synonym in SYNONYMS.items():
        out = re.sub(rf"\b{word}\b", synonym, out)
        out = re.sub(rf"\b{word.capitalize()}\b", synonym.capitalize(), out)
    return out if out != question else None


def synthetic_set(rows: list[dict], db: sqlite3.Connection, demo_corpus: bool) -> list[dict]:
    answerable = [r["question"] for r in rows if r.get("answerable", True)]
    out: list[dict] = []

    def add(questions: list[str | None], is_answerable: bool, kind: str) -> None:
        out.extend({"question": q, "answerable": is_answerable, "kind": kind} for q in questions if q)

    if demo_corpus:
        add(list(EXTRA_ANSWERABLE), True, "new answerable")
    add([paraphrase(q) for q in answerable], True, "paraphrase")
    years = absent_years(db)
    add([swap_period(q, years) for q in answerable], False, "period swap")
    names = FAKE_NAMES * (len(answerable) // len(FAKE_NAMES) + 1)
    add([swap_name(q, names[i], db) for i, q in enumerate(answerable)], False, "name swap")
    if demo_corpus:
        add(list(EXTRA_UNANSWERABLE), False, "near miss")
        attributes = [f"What is {templates[i % len(templates)].format(entity)}?"
                      for kind, templates in ABSENT_ATTRIBUTES.items() for i, entity in enumerate(ENTITIES[kind])]
        add(attributes, False, "absent attribute")
    return out


# --- measuring ----------------------------------------------------------------------------------

def measure(svc: Components, check: TermCoverageCheck, rows: list[dict], generate: bool) -> list[dict]:
    """Per question: relevance, the check's measured terms, and whether the engine itself answers."""
    retrieve = svc._retriever_for(True, None, None, None)
    open_pipeline = ChatPipeline(svc.settings.chat.model_copy(update={"min_relevance": 0.0}),
                                 svc.settings.llm.max_new_tokens)
    out = []
    for row in rows:
        chunks = retrieve(row["question"])
        started = time.perf_counter()
        terms = check.evidence(row["question"], chunks)
        check_ms = (time.perf_counter() - started) * 1000
        engine_found = True
        if generate:
            engine_found = open_pipeline.answer(row["question"], retrieve, svc.llm, "base").found
        out.append({**row, "relevance": relevance(chunks), "terms": terms, "engine_found": engine_found,
                    "check_ms": check_ms, "retrieved": bool(chunks)})
    return out


def shares(measured: list[dict], found: Any) -> dict[str, Any]:
    answerable = [m for m in measured if m.get("answerable", True)]
    unanswerable = [m for m in measured if not m.get("answerable", True)]
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answered_share": round(sum(found(m) for m in answerable) / max(1, len(answerable)), 3),
        "declined_share": round(sum(not found(m) for m in unanswerable) / max(1, len(unanswerable)), 3),
    }


def configurations(check: TermCoverageCheck, min_relevance: float, tau: float | None = None,
                   sigma: float | None = None) -> dict[str, Any]:
    def relevance_gate(m: dict) -> bool:
        return m["retrieved"] and m["relevance"] >= min_relevance

    def coverage_gate(m: dict) -> bool:
        terms: list[Term] = m["terms"]
        return relevance_gate(m) and check.decide(terms, tau, sigma).answerable

    return {
        "a_gate_off": lambda m: m["retrieved"] and m["engine_found"],
        "b_relevance": lambda m: relevance_gate(m) and m["engine_found"],
        "c_relevance_and_coverage": lambda m: coverage_gate(m) and m["engine_found"],
    }


def sweep(check: TermCoverageCheck, measured: list[dict], min_relevance: float) -> list[dict]:
    """Every (max_unsupported, soft_match) pair on a grid, with its shares on this set."""
    out = []
    for sigma in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 1.01):
        for tau in [x / 100 for x in range(10, 95, 5)]:
            found = configurations(check, min_relevance, tau, sigma)["c_relevance_and_coverage"]
            out.append({"soft_match": sigma, "max_unsupported": tau, **shares(measured, found)})
    return out


def by_kind(measured: list[dict], found: Any) -> dict[str, str]:
    total, declined = Counter(), Counter()
    for m in measured:
        kind = m.get("kind") or ("answerable" if m.get("answerable", True) else "unanswerable")
        total[kind] += 1
        declined[kind] += not found(m)
    return {k: f"{declined[k]}/{total[k]} declined" for k in total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="an indexed home (default: the demo corpus in a temporary home)")
    parser.add_argument("--questions", type=Path, default=DEMO_QUESTIONS)
    parser.add_argument("--models", type=Path, help="a prepared models folder to reuse")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--generate", choices=["all", "demo", "none"], default="all",
                        help="which sets run the engine for its own refusals (else assume it answers): "
                        "generation is most of the run time on a CPU")
    parser.add_argument("--sweep", action="store_true", help="print the threshold sweep on the synthetic set")
    parser.add_argument("--show", action="store_true", help="print the questions the check gets wrong, and why")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-answerability-") as tmp:
        home = args.home
        if home is None:
            home = Path(tmp) / "home"
            home.mkdir()
            if args.models:
                (home / "models").symlink_to(args.models.resolve(), target_is_directory=True)
            Components(load_settings(home)).index([DEMO_CORPUS])
        settings = load_settings(home)
        settings.llm.max_new_tokens = args.max_new_tokens
        svc = Components(settings)
        chat = settings.chat
        check = TermCoverageCheck(chat.max_unsupported, chat.soft_match, CorpusStats(svc.indexer.keyword),
                                  WordVectors(svc.indexer.embed_model))
        # The hand-written questions are about the demo corpus: used only when the home holds exactly it.
        sources = [Path(s.source) for s in svc.sources()]
        demo_corpus = args.questions == DEMO_QUESTIONS and bool(sources) and all(
            p.is_relative_to(DEMO_CORPUS.resolve()) for p in sources)
        synthetic = synthetic_set(rows, svc.indexer.keyword.db, demo_corpus)
        sets = {"demo" if args.questions == DEMO_QUESTIONS else args.questions.stem: rows, "synthetic": synthetic}
        result: dict[str, Any] = {"settings": {"min_relevance": chat.min_relevance,
                                               "max_unsupported": chat.max_unsupported,
                                               "soft_match": chat.soft_match, "generate": args.generate}}
        for name, questions in sets.items():
            started = time.perf_counter()
            generate = args.generate == "all" or (args.generate == "demo" and name != "synthetic")
            measured = measure(svc, check, questions, generate)
            configs = configurations(check, chat.min_relevance)
            result[name] = {label: shares(measured, found) for label, found in configs.items()}
            result[name]["declined_by_kind"] = by_kind(measured, configs["c_relevance_and_coverage"])
            result[name]["check_ms_p50"] = round(sorted(m["check_ms"] for m in measured)[len(measured) // 2], 1)
            result[name]["engine_ran"] = generate
            result[name]["seconds"] = round(time.perf_counter() - started, 1)
            if args.show:  # the errors of (c), with the check's reason
                for m in measured:
                    verdict = check.decide(m["terms"])
                    relevant = m["retrieved"] and m["relevance"] >= chat.min_relevance
                    if relevant and verdict.answerable != m.get("answerable", True):
                        print(f"{name}: {'declined' if not verdict.answerable else 'answered'} "
                              f"({verdict.unsupported:.2f} unsupported; missing {verdict.missing}) "
                              f"{m['question']}", file=sys.stderr)
            if args.sweep and name == "synthetic":
                result["sweep_synthetic"] = sweep(check, measured, chat.min_relevance)
    print(f"{'set':10s} {'configuration':28s} {'answerable answered':>20s} {'unanswerable declined':>22s}",
          file=sys.stderr)
    for name in sets:
        for label in ("a_gate_off", "b_relevance", "c_relevance_and_coverage"):
            r = result[name][label]
            print(f"{name:10s} {label:28s} {r['answered_share']:>14.2f} ({r['answerable']:3d}) "
                  f"{r['declined_share']:>16.2f} ({r['unanswerable']:3d})", file=sys.stderr)
        print(f"{'':10s} declined by (c), by kind: {result[name]['declined_by_kind']}; check p50 "
              f"{result[name]['check_ms_p50']} ms; engine ran: {result[name]['engine_ran']}", file=sys.stderr)
    if args.sweep:
        ok = [s for s in result["sweep_synthetic"] if s["answered_share"] >= 0.95]
        for s in sorted(ok, key=lambda s: (-s["declined_share"], -s["answered_share"]))[:10]:
            print(f"sweep: soft_match {s['soft_match']:.2f} max_unsupported {s['max_unsupported']:.2f}  "
                  f"answered {s['answered_share']:.2f} declined {s['declined_share']:.2f}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
