"""Real public corpora for `bench/real_corpora.py`: where they come from, how they are laid out, their questions.

    python bench/corpora.py fetch                      # clone each repository, lay out bench/data/<corpus>/
    python bench/corpora.py fetch --from financebench=/path/to/clone-or-bare-git-dir
    python bench/corpora.py check                      # verify the laid-out files against bench/corpora.sha256

Nothing here is committed but the checksums: `bench/data/` is ignored by git. Each corpus is a
folder `docs/` of documents exactly as a user would point `assistant index` at it (no sidecars, no
`_meta.yaml`), and beside it `questions.jsonl` with the published questions and the file(s) that answer them.

- **financebench** (company filings; patronus-ai/financebench, CC-BY-NC-4.0): 20 filings (10-K, 10-Q,
  8-K, earnings releases; PDFs of 9-150 pages, 1 407 pages in all) with their 44 published questions.
  Several are one company's filings for different periods (Adobe 2015, 2016, 2017 and 2022), so the
  document matters.
- **pubmedqa** (biomedical research; pubmedqa/pubmedqa, MIT): the 1 000 expert-labelled abstracts of
  PQA-L as text files named by PubMed id, their section labels as headings; the question (the
  article's title, as a question) is not in the file.

A repository is taken from `--from NAME=DIR` (a clone, or a bare git directory such as a mirror),
else cloned with git from its public URL. Every laid-out file is checked against `bench/corpora.sha256`;
a mismatch stops with the file named (an upstream change must not silently change the figures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CHECKSUMS = HERE / "corpora.sha256"


@dataclass(frozen=True)
class Question:
    question: str
    gold: frozenset[str]  # file names in the corpus folder


class Repo:
    """Read files from a checkout folder or a bare git directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bare = not (path / ".git").exists() and (path / "HEAD").exists()

    def read(self, name: str) -> bytes:
        if self.bare:
            return subprocess.run(["git", "--git-dir", str(self.path), "show", f"HEAD:{name}"],
                                  check=True, capture_output=True).stdout
        return (self.path / name).read_bytes()


def _clone(url: str, into: Path) -> Path:
    print(f"cloning {url} ...", file=sys.stderr)
    subprocess.run(["git", "clone", "--depth", "1", "--quiet", url, str(into)], check=True)
    return into


# ------------------------------------------------------------------------------------ corpora
FINANCEBENCH_URL = "https://github.com/patronus-ai/financebench"
PUBMEDQA_URL = "https://github.com/pubmedqa/pubmedqa"
# Twenty filings of at most 150 pages with the most published questions (ties by name), among those a
# shallow mirror of the repository carries; named here so that a clone and a mirror lay out the same corpus.
FINANCEBENCH_DOCS = (
    "ULTABEAUTY_2023Q4_EARNINGS", "BESTBUY_2023_10K", "BESTBUY_2024Q2_10Q",
    "JOHNSON_JOHNSON_2023_8K_dated-2023-08-30", "MGMRESORTS_2022Q4_EARNINGS", "PFIZER_2021_10K", "Pfizer_2023Q2_10Q",
    "VERIZON_2022_10K", "ADOBE_2022_10K", "AMAZON_2017_10K", "AMCOR_2023Q4_EARNINGS", "GENERALMILLS_2020_10K",
    "JOHNSON_JOHNSON_2022Q4_EARNINGS", "PEPSICO_2023Q1_EARNINGS", "VERIZON_2021_10K", "ADOBE_2015_10K",
    "ADOBE_2016_10K", "ADOBE_2017_10K", "AMAZON_2019_10K", "AMCOR_2022_8K_dated-2022-07-01",
)


def lay_out_financebench(repo: Repo, out: Path) -> None:
    rows = [json.loads(line) for line in repo.read("data/financebench_open_source.jsonl").decode().splitlines()
            if line.strip()]
    chosen = FINANCEBENCH_DOCS
    for doc in chosen:
        (out / "docs" / f"{doc}.pdf").write_bytes(repo.read(f"pdfs/{doc}.pdf"))
    with open(out / "questions.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            if r["doc_name"] in chosen:
                fh.write(json.dumps({"question": r["question"], "gold": [f"{r['doc_name']}.pdf"]}) + "\n")


def lay_out_pubmedqa(repo: Repo, out: Path) -> None:
    data = json.loads(repo.read("data/ori_pqal.json"))
    with open(out / "questions.jsonl", "w", encoding="utf-8") as fh:
        for pmid, item in sorted(data.items()):
            parts = []
            for label, text in zip(item["LABELS"], item["CONTEXTS"], strict=True):
                parts += [label.title(), text, ""]
            parts += ["Conclusions", item["LONG_ANSWER"], ""]
            (out / "docs" / f"{pmid}.txt").write_text("\n".join(parts), encoding="utf-8")
            fh.write(json.dumps({"question": item["QUESTION"], "gold": [f"{pmid}.txt"]}) + "\n")


CORPORA = {
    "financebench": (FINANCEBENCH_URL, lay_out_financebench),
    "pubmedqa": (PUBMEDQA_URL, lay_out_pubmedqa),
}


# ------------------------------------------------------------------------------------ checks
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_checksums() -> dict[str, str]:
    out = {}
    for line in CHECKSUMS.read_text().splitlines() if CHECKSUMS.exists() else []:
        if line.strip():
            digest, name = line.split(maxsplit=1)
            out[name] = digest
    return out


def check(names: list[str], data: Path = DATA) -> list[str]:
    """Problems with the laid-out corpora: files missing, extra or different from the checksums."""
    expected = expected_checksums()
    problems = []
    for name in names:
        folder = data / name
        want = {k: v for k, v in expected.items() if k.startswith(f"{name}/")}
        have = {str(p.relative_to(data)) for p in files(folder)} if (folder / "docs").exists() else set()
        if not want:
            problems.append(f"{name}: no checksums in {CHECKSUMS.name}")
        for rel, digest in sorted(want.items()):
            if rel not in have:
                problems.append(f"{rel}: missing (run `python bench/corpora.py fetch`)")
            elif sha256(data / rel) != digest:
                problems.append(f"{rel}: checksum differs from {CHECKSUMS.name}")
        problems += [f"{rel}: not in {CHECKSUMS.name}" for rel in sorted(have - set(want))]
    return problems


def load_questions(folder: Path) -> list[Question]:
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines() if line.strip()]
    return [Question(r["question"], frozenset(r["gold"])) for r in rows]


def documents(folder: Path) -> list[Path]:
    return sorted((folder / "docs").iterdir())


def files(folder: Path) -> list[Path]:
    return [folder / "questions.jsonl", *documents(folder)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["fetch", "check", "write-checksums"])
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated (default: all)")
    parser.add_argument("--from", dest="sources", action="append", default=[], metavar="NAME=DIR",
                        help="take a corpus's repository from a local clone or bare git directory")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    names = [n for n in args.corpora.split(",") if n]
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        parser.error(f"unknown corpus {', '.join(unknown)} (choose from {', '.join(CORPORA)})")
    sources = dict(s.split("=", 1) for s in args.sources)
    if args.action == "fetch":
        with tempfile.TemporaryDirectory(prefix="corpora-") as tmp:
            for name in names:
                url, lay_out = CORPORA[name]
                repo = Repo(Path(sources[name]) if name in sources else _clone(url, Path(tmp) / name))
                out = args.data / name
                (out / "docs").mkdir(parents=True, exist_ok=True)
                lay_out(repo, out)
                print(f"{name}: {len(documents(out))} documents, {len(load_questions(out))} questions in {out}",
                      file=sys.stderr)
    if args.action == "write-checksums":  # for maintainers, after a deliberate change of a corpus
        lines = [f"{sha256(p)}  {p.relative_to(args.data)}" for n in names for p in files(args.data / n)]
        CHECKSUMS.write_text("\n".join(lines) + "\n")
        return
    problems = check(names, args.data)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        raise SystemExit(2)
    print("checksums match", file=sys.stderr)


if __name__ == "__main__":
    main()
