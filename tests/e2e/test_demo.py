"""The demo corpus indexed end to end: sources, metadata, retrieval quality, filters, a real answer."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from assistant.components import DEMO_CORPUS, DEMO_QUESTIONS, Components, Viewer
from assistant.config import load_settings
from indexing.loaders import is_supported
from indexing.metadata import is_metadata_file
from tests.conftest import run_cli


def corpus_files() -> list[Path]:
    return sorted(p for p in DEMO_CORPUS.rglob("*") if p.is_file() and not is_metadata_file(p) and is_supported(p))


def questions() -> list[dict]:
    return [json.loads(line) for line in DEMO_QUESTIONS.read_text().splitlines() if line.strip()]


def test_corpus_and_questions_meet_the_brief() -> None:
    files = corpus_files()
    assert len(files) >= 25
    assert {p.suffix for p in files} >= {".pdf", ".docx", ".md", ".html", ".txt", ".csv"}
    qs = questions()
    assert len(qs) >= 40
    unanswerable = [q for q in qs if q["answerable"] is False]
    assert len(unanswerable) >= 5 and all(q["reference"] == "" and not q["reference_sources"] for q in unanswerable)
    for q in qs:
        for src in q["reference_sources"]:
            assert (DEMO_CORPUS / src).is_file(), src


def test_sources_list_every_file_with_its_metadata(demo_home: Path) -> None:
    res = run_cli("sources", "--json", home=demo_home)
    listed = {s["source"]: s for s in json.loads(res.stdout)}
    assert set(listed) == {str(p) for p in corpus_files()}
    for path in corpus_files():
        meta = listed[str(path)]["metadata"]
        folder = yaml.safe_load((path.parent / "_meta.yaml").read_text())
        sidecar_path = path.with_name(path.name + ".meta.yaml")
        sidecar = yaml.safe_load(sidecar_path.read_text()) if sidecar_path.exists() else {}
        expected = {**folder, **sidecar}
        for key, value in expected.items():
            got = meta[key]
            assert got == ([g.lower() for g in value] if key == "groups" else value), (path.name, key)
        assert meta["file_name"] == path.name
        assert listed[str(path)]["chunks"] > 0
        if meta["doc_type"] == "bid":
            assert meta["outcome"] in ("won", "lost") and meta["itt"] and meta["sector"]
    assert any(s["metadata"].get("groups") for s in listed.values()), "the demo needs a restricted document"


def test_retrieve_finds_the_right_file(demo_home: Path, tmp_path: Path) -> None:
    answerable = [q for q in questions() if q["answerable"]]
    queries = tmp_path / "q.jsonl"
    queries.write_text("\n".join(json.dumps({"query": q["question"]}) for q in answerable))
    res = run_cli("retrieve", "--queries", str(queries), "--top-k", "5", "--json", home=demo_home)
    assert res.returncode == 0, res.stderr
    batch = json.loads(res.stdout)
    assert [b["query"] for b in batch] == [q["question"] for q in answerable]
    hits = 0
    for q, b in zip(answerable, batch, strict=True):
        assert len(b["results"]) == 5
        r = b["results"][0]
        assert set(r) == {"source", "page", "text", "score", "metadata"} and r["metadata"]["file_name"]
        hits += bool({str(DEMO_CORPUS / s) for s in q["reference_sources"]} & {x["source"] for x in b["results"]})
    hit_rate = hits / len(answerable)
    print(f"demo hit@5 = {hit_rate:.2f} over {len(answerable)} answerable questions")
    assert hit_rate >= 0.85


def test_pdf_results_carry_page_numbers(demo_home: Path) -> None:
    res = run_cli("retrieve", "revenue and operating profit in the financial review", "--where",
                  "doc_type=annual_report", "--json", home=demo_home)
    results = json.loads(res.stdout)["results"]
    assert results and all(r["source"].endswith(".pdf") and isinstance(r["page"], int) for r in results)


def test_filters_and_groups_apply_inside_the_search(demo_home: Path) -> None:
    svc = Components(load_settings(demo_home))
    restricted = {s.source: s.metadata["groups"] for s in svc.sources() if s.metadata.get("groups")}
    assert restricted
    probe = [q["question"] for q in questions() if any(str(DEMO_CORPUS / s) in restricted
                                                       for s in q["reference_sources"])]
    assert probe, "questions about the restricted documents are part of the demo set"
    public = svc.retrieve(probe, top_k=10, viewer=Viewer("staff", groups=[]))
    for results in public:
        assert len(results) == 10, "filtering inside the search still fills top-k"
        assert not {r.source for r in results} & set(restricted)
    for source, groups in restricted.items():
        member = svc.retrieve(probe, top_k=10, viewer=Viewer("member", groups=list(groups)))
        assert any(r.source == source for results in member for r in results)

    bids = svc.retrieve(["our approach to data security"], top_k=8, where={"doc_type": "bid", "sector": "justice"})[0]
    assert len(bids) == 8
    assert all(r.metadata["doc_type"] == "bid" and r.metadata["sector"] == "justice" for r in bids)


def test_ask_answers_with_sources(demo_home: Path) -> None:
    res = run_cli("ask", "How many people did the company employ at the end of the latest financial year?",
                  "--json", home=demo_home)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert set(out) == {"answer", "engine", "found", "sources"}
    assert out["engine"] == "base" and out["answer"].strip()
    if out["found"]:
        assert out["sources"] and all(Path(s["source"]).is_file() for s in out["sources"])


def test_demo_no_serve_answers_a_question(demo_home: Path) -> None:
    res = run_cli("demo", "--no-serve", "--question", "Where is the company's head office?", home=demo_home)
    assert res.returncode == 0, res.stderr
    assert "Where is the company's head office?" in res.stdout
    assert str(DEMO_CORPUS) in res.stdout  # the cited sources are printed as file paths


def test_demo_main_job_serves_the_web_app_with_demo_accounts(demo_home: Path, tmp_path: Path) -> None:
    """The README's first command: the demo home, its accounts, and the web app a newcomer signs in to."""
    import shutil
    import subprocess
    import time

    import httpx

    from tests.conftest import ASSISTANT, ROOT, free_port

    home = tmp_path / "home"
    shutil.copytree(demo_home, home, symlinks=True)
    port = free_port()
    log = tmp_path / "demo.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*ASSISTANT, "demo", "--home", str(home), "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        printed = log.read_text()
        password = printed.split("user staff")[1].split("password")[1].split()[0]
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/", follow_redirects=False).status_code == 303  # signed out: to the sign-in page
            resp = http.post("/login", data={"username": "staff", "password": password}, follow_redirects=False)
            assert resp.status_code == 303, resp.text
            assert http.get("/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_reports_every_corpus_file(demo_home: Path) -> None:
    res = run_cli("demo", "--no-serve", "--json", home=demo_home)
    assert json.loads(res.stdout)["sources"] == len(corpus_files())
