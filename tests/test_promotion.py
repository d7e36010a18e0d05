"""Promotion: only promoted engine versions reach staff (chat selector, /v1/models), through the gate or by force."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.accounts import User
from assistant.config import load_settings
from assistant.engines import EngineError
from assistant.llm.embedded import prepare_embedded_llm
from assistant.promotion import promote, promoted_refs
from assistant.services import InputError
from assistant.workspace import PermissionDenied, Workspace

from .llm_fixtures import make_random_adapter

pytestmark = pytest.mark.slow

ADMIN = User("ada", "admin", ("leadership",))
STAFF = User("sam", "staff", ())


@pytest.fixture
def ws(make_home, shared_models: Path, tmp_path: Path):
    base = prepare_embedded_llm(shared_models)
    home = make_home()
    make_random_adapter(base, home / "engines" / "company" / "v1", seed=1)
    shutil.copytree(home / "engines" / "company" / "v1", home / "engines" / "company" / "v2")
    record = json.loads((home / "engines" / "company" / "v2" / "engine.json").read_text())
    (home / "engines" / "company" / "v2" / "engine.json").write_text(json.dumps({**record, "version": 2}))
    workspace = Workspace(load_settings(home))
    yield workspace
    workspace.close()


def test_only_promoted_versions_reach_staff(ws: Workspace) -> None:
    assert ws.engine_names(STAFF) == ["base"]
    with pytest.raises(InputError, match="no engine named 'company'"):
        ws.check_engine(STAFF, "company")
    # No gate result yet: promotion needs force.
    with pytest.raises(EngineError, match="no evaluation gate result"):
        ws.promote_engine(ADMIN, "company@1")
    assert ws.promote_engine(ADMIN, "company@1", force=True) == "company@1"
    assert ws.engine_names(STAFF) == ["base", "company@1"]
    # A bare name means the promoted version, not the newest (v2 is not promoted).
    assert ws.check_engine(STAFF, "company") == "company@1"
    with pytest.raises(InputError):
        ws.check_engine(STAFF, "company@2")
    rows = {r["ref"]: r for r in ws.engines(ADMIN)}
    assert rows["company@1"]["promoted"] and not rows["company@2"]["promoted"]


def test_the_gate_decides_without_force(ws: Workspace) -> None:
    registry = ws.service.engines.registry
    folder = registry.record("company@2").folder
    (Path(folder) / "gate.json").write_text(json.dumps({"passed": False, "reason": "faithfulness -0.08"}))
    with pytest.raises(EngineError, match="did not pass"):
        promote(registry, "company@2")
    (Path(folder) / "gate.json").write_text(json.dumps({"passed": True}))
    promote(registry, "company@2")
    assert promoted_refs(registry) == {"company": "company@2"}


def test_staff_may_not_manage_engines(ws: Workspace) -> None:
    for action in (lambda: ws.engines(STAFF), lambda: ws.promote_engine(STAFF, "company@1", True),
                   lambda: ws.remove_engine(STAFF, "company@1"), lambda: ws.datasets(STAFF),
                   lambda: ws.datagen(STAFF, "sft"), lambda: ws.train(STAFF, "sft", "x.jsonl", "company")):
        with pytest.raises(PermissionDenied):
            action()
    assert promoted_refs(ws.service.engines.registry) == {}


def test_removing_the_promoted_version_withdraws_it(ws: Workspace) -> None:
    ws.promote_engine(ADMIN, "company@1", force=True)
    assert ws.remove_engine(ADMIN, "company@1") == ["company@1"]
    assert ws.engine_names(STAFF) == ["base"]


def test_cli_promote_refuses_without_a_gate_unless_forced(ws: Workspace) -> None:
    from tests.conftest import run_cli

    home = ws.settings.paths.home
    res = run_cli("engines", "promote", "company@1", home=home)
    assert res.returncode == 2 and "no evaluation gate result" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("engines", "promote", "company@1", "--force", "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"promoted": "company@1", "forced": True}
    assert ws.engine_names(STAFF) == ["base", "company@1"]
