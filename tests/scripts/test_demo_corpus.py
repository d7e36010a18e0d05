"""scripts/make_demo_corpus.py rebuilds the committed demo corpus from scripts/demo_corpus/, byte for byte.

The corpus is committed so that the demo runs without the generator's writer libraries; this test keeps
the data files and the committed output from drifting apart.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assistant" / "demo"
SCRIPTS = ROOT / "scripts"

pytestmark = pytest.mark.slow  # runs the generator in a subprocess (about 3 s)

# The PDF writer is a dev dependency; the others are runtime dependencies of the assistant.
pytest.importorskip("fpdf")


def _generate(script: Path, out: Path) -> None:
    # A subprocess, so the run sees exactly what `python scripts/make_demo_corpus.py --out DIR` sees.
    res = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _mismatches(out: Path) -> dict[str, list[str]]:
    """Files missing from, extra in, or different in `out` compared with the committed assistant/demo."""
    want = {f"corpus/{k}": v for k, v in _tree(DEMO / "corpus").items()}
    want["questions.jsonl"] = (DEMO / "questions.jsonl").read_bytes()
    got = _tree(out)
    return {
        "missing": sorted(want.keys() - got.keys()),
        "extra": sorted(got.keys() - want.keys()),
        "different": sorted(k for k in want.keys() & got.keys() if want[k] != got[k]),
    }


def test_generator_reproduces_the_committed_corpus(tmp_path: Path) -> None:
    _generate(SCRIPTS / "make_demo_corpus.py", tmp_path)
    assert _mismatches(tmp_path) == {"missing": [], "extra": [], "different": []}


def test_a_changed_data_file_shows_as_a_difference(tmp_path: Path) -> None:
    """The comparison above can fail: one edited sentence in the data makes exactly its output file differ."""
    scripts = tmp_path / "scripts"
    shutil.copytree(SCRIPTS / "demo_corpus", scripts / "demo_corpus")
    shutil.copy2(SCRIPTS / "make_demo_corpus.py", scripts)
    leave = scripts / "demo_corpus" / "kms" / "leave-and-time-off.md"
    text = leave.read_text(encoding="utf-8")
    # A sentence no evaluation question quotes, so the generator's own checks still pass.
    old = "Book leave in the HR system, Oakline,"
    assert old in text
    leave.write_text(text.replace(old, "Book leave in the HR system, Oakline Cloud,"), encoding="utf-8")
    _generate(scripts / "make_demo_corpus.py", tmp_path / "out")
    changed = ["corpus/kms/leave-and-time-off.md"]
    assert _mismatches(tmp_path / "out") == {"missing": [], "extra": [], "different": changed}
