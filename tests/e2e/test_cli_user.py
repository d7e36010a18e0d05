"""`assistant retrieve --user NAME`: the command line applies an account's groups like the web app does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

QUESTION = "What is Project Kestrel?"
KESTREL_FILE = "2024-06-17-memo-project-kestrel-confidential.md"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Path:
    """A copy of the demo home (the shared one must stay without accounts) with two staff users."""
    home = tmp_path_factory.mktemp("cli-user") / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    for name, groups in (("sam", None), ("lena", "leadership")):
        args = ["users", "add", name, "--role", "staff", "--password-stdin", "--json"]
        res = run_cli(*args, *(["--groups", groups] if groups else []), home=home, input=f"{name}-password-1\n")
        assert res.returncode == 0, res.stderr
    return home


def retrieve(home: Path, *args: str) -> list[dict]:
    res = run_cli("retrieve", QUESTION, *args, "--json", home=home)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # exactly one JSON document on stdout
    assert doc["query"] == QUESTION and doc["results"], doc
    return doc["results"]


def is_kestrel(result: dict) -> bool:
    return Path(result["source"]).name == KESTREL_FILE or "Orrin" in result["text"]


def test_staff_user_never_gets_the_restricted_memo(home: Path) -> None:
    plain = retrieve(home, "--user", "sam", "--top-k", "20")
    assert not any(is_kestrel(r) for r in plain), [r["source"] for r in plain]
    # Narrowed to the memo's own document type, where it would be the best match if it were visible.
    narrowed = retrieve(home, "--user", "sam", "--where", "doc_type=internal_comms", "--top-k", "20")
    assert not any(is_kestrel(r) for r in narrowed), [r["source"] for r in narrowed]
    assert all(r["metadata"]["doc_type"] == "internal_comms" for r in narrowed)


def test_leadership_user_gets_the_memo(home: Path) -> None:
    results = retrieve(home, "--user", "lena")
    assert Path(results[0]["source"]).name == KESTREL_FILE, [r["source"] for r in results]
    assert "leadership" in results[0]["metadata"]["groups"]  # a list, or the flattened "a,b" form


def test_unknown_user_is_a_usage_error_on_one_line(home: Path) -> None:
    res = run_cli("retrieve", QUESTION, "--user", "nobody", "--json", home=home)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == ""  # no half-written JSON for a script to misread
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no user named 'nobody'" in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def evaluate_as(home: Path, tmp_path: Path, user: str) -> tuple[dict, str]:
    questions = tmp_path / f"q-{user}.jsonl"
    # With a reference the row is scored, so the report's "worst answers" quote its contexts.
    questions.write_text(json.dumps({"question": QUESTION, "reference": "A confidential project."}) + "\n",
                         encoding="utf-8")
    res = run_cli("eval", "--questions", str(questions), "--modes", "rag", "--no-style", "--user", user,
                  "--out", str(tmp_path / user), "--json", home=home, env={"ASSISTANT_LLM__MAX_NEW_TOKENS": "8"})
    assert res.returncode == 0, res.stderr
    report = Path(json.loads(res.stdout)["report"])
    return json.loads((report / "results.json").read_text()), (report / "report.html").read_text(encoding="utf-8")


def test_eval_as_a_user_quotes_only_what_that_user_may_read(home: Path, tmp_path: Path) -> None:
    """A report shows retrieved passages to whoever opens it: `eval --user` retrieves with that account's
    groups, and the report says whose view it is."""
    results, html = evaluate_as(home, tmp_path, "sam")
    (row,) = results["rows"]
    assert row["retrieved_sources"] and not any(Path(s).name == KESTREL_FILE for s in row["retrieved_sources"])
    assert "Orrin" not in html and KESTREL_FILE not in html
    assert results["settings"]["retrieved_as"] == "sam (groups: none)"

    results, html = evaluate_as(home, tmp_path, "lena")
    (row,) = results["rows"]
    assert Path(row["retrieved_sources"][0]).name == KESTREL_FILE and "Orrin" in html
    assert results["settings"]["retrieved_as"] == "lena (groups: leadership)"
