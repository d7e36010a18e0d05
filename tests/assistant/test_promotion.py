"""Promotion: only promoted engine versions reach staff (chat selector, /v1/models), through the gate or by force."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.accounts import User
from assistant.config import load_settings
from assistant.engines import EngineError
from assistant.errors import NotFound, PermissionDenied
from assistant.llm.embedded import prepare_embedded_llm
from assistant.promotion import promote, promoted_refs
from assistant.services import Services, operator
from assistant.training import DatagenRequest, TrainRequest
from tests.llm_fixtures import make_random_adapter

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
    services = Services(load_settings(home))
    yield services
    services.close()


def add_version(ws: Services, version: int) -> None:
    """A new version folder, as a finished training run publishes it (a copy of v1 with its own record)."""
    engines = ws.settings.paths.engines / "company"
    shutil.copytree(engines / "v1", engines / f"v{version}")
    record = json.loads((engines / f"v{version}" / "engine.json").read_text())
    record.update(version=version, created=f"2026-12-02T10:00:0{version}Z")
    (engines / f"v{version}" / "engine.json").write_text(json.dumps(record))


def test_only_promoted_versions_reach_staff(ws: Services) -> None:
    assert ws.chat.engine_names(STAFF) == ["base"]
    with pytest.raises(NotFound, match="no engine named 'company'"):
        ws.chat.check_engine(STAFF, "company")
    # No gate result yet: promotion needs force.
    with pytest.raises(EngineError, match="no evaluation gate result"):
        ws.engines.promote(ADMIN, "company@1")
    assert ws.engines.promote(ADMIN, "company@1", force=True) == "company@1"
    assert ws.chat.engine_names(STAFF) == ["base", "company@1"]
    # A bare name means the promoted version, not the newest (v2 is not promoted).
    assert ws.chat.check_engine(STAFF, "company") == "company@1"
    with pytest.raises(NotFound):
        ws.chat.check_engine(STAFF, "company@2")
    rows = {r["ref"]: r for r in ws.engines.list(ADMIN)}
    assert rows["company@1"]["promoted"] and not rows["company@2"]["promoted"]


def test_the_gate_decides_without_force(ws: Services) -> None:
    registry = ws.engines.registry
    folder = registry.record("company@2").folder
    (Path(folder) / "gate.json").write_text(json.dumps({"passed": False, "reason": "faithfulness -0.08"}))
    with pytest.raises(EngineError, match="did not pass"):
        promote(registry, "company@2")
    (Path(folder) / "gate.json").write_text(json.dumps({"passed": True}))
    promote(registry, "company@2")
    assert promoted_refs(registry) == {"company": "company@2"}


def test_staff_may_not_manage_engines(ws: Services) -> None:
    for action in (lambda: ws.engines.list(STAFF), lambda: ws.engines.promote(STAFF, "company@1", True),
                   lambda: ws.engines.remove(STAFF, "company@1"), lambda: ws.engines.datasets(STAFF),
                   lambda: ws.engines.submit_datagen(STAFF, DatagenRequest("sft", None)),
                   lambda: ws.engines.submit_train(STAFF, TrainRequest("sft", Path("x.jsonl"), "company"))):
        with pytest.raises(PermissionDenied):
            action()
    assert promoted_refs(ws.engines.registry) == {}


def test_removing_the_promoted_version_withdraws_it(ws: Services) -> None:
    ws.engines.promote(ADMIN, "company@1", force=True)
    assert ws.engines.remove(ADMIN, "company@1") == ["company@1"]
    assert ws.chat.engine_names(STAFF) == ["base"]


def test_a_version_removed_and_trained_again_under_its_number_is_not_promoted(ws: Services) -> None:
    """The regression: promote company@2, remove it, train again: the new company@2 is a different model,
    never evaluated, and must not reach staff. As the operator (the CLI's path) and as an admin (the web's)."""
    for actor in (operator(), ADMIN):
        assert ws.engines.promote(actor, "company@2", force=True) == "company@2"
        assert ws.engines.remove(actor, "company@2") == ["company@2"]
        add_version(ws, 2)  # what `train` publishes next: version max + 1 = 2 again
        assert ws.chat.engine_names(STAFF) == ["base"]
        assert not {r["ref"]: r for r in ws.engines.list(actor)}["company@2"]["promoted"]


def test_a_version_replaced_behind_the_registrys_back_is_not_promoted(ws: Services) -> None:
    """Even without the service (a folder deleted by hand), a promotion names the very version it promoted."""
    ws.engines.promote(ADMIN, "company@2", force=True)
    shutil.rmtree(ws.settings.paths.engines / "company" / "v2")
    add_version(ws, 2)
    assert promoted_refs(ws.engines.registry) == {}
    assert ws.chat.engine_names(STAFF) == ["base"]


def test_cli_promote_refuses_without_a_gate_unless_forced(ws: Services) -> None:
    from tests.conftest import run_cli

    home = ws.settings.paths.home
    res = run_cli("engines", "promote", "company@1", home=home)
    assert res.returncode == 2 and "no evaluation gate result" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("engines", "promote", "company@1", "--force", "--json", home=home)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"promoted": "company@1", "forced": True}
    assert ws.chat.engine_names(STAFF) == ["base", "company@1"]
