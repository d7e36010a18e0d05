"""`[logging]` settings applied by assistant.logs: JSON lines with their fields, plain lines, the level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.config import ConfigError, LoggingSettings, load_settings
from assistant.logs import QUIET_LIBRARIES, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put it back as pytest had it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)


def lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_fields_and_the_extras() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(json=True, level="DEBUG"), stream=out)
    log = logging.getLogger("assistant.test")
    log.info("answered %s in %d ms", "GET /v1/models", 12, extra={"request_id": "abc-1", "status": 200})
    log.debug("plain one")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("it failed")

    first, second, third = (json.loads(line) for line in lines(out))  # every line is one JSON document
    assert first["message"] == "answered GET /v1/models in 12 ms"
    assert (first["level"], first["logger"]) == ("INFO", "assistant.test")
    assert first["time"].endswith("Z") and first["time"][:4].isdigit() and "T" in first["time"]
    assert (first["request_id"], first["status"]) == ("abc-1", 200)
    assert set(second) == {"time", "level", "logger", "message"}  # no request id when none was given
    assert second["level"] == "DEBUG"
    assert third["level"] == "ERROR" and "ValueError: broken" in third["exc_info"]


def test_the_level_applies() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(json=True, level="warning"), stream=out)
    log = logging.getLogger("assistant.test")
    log.info("not shown")
    log.warning("shown")
    assert [json.loads(line)["message"] for line in lines(out)] == ["shown"]
    assert logging.getLogger().level == logging.WARNING

    configure_logging(LoggingSettings(level="DEBUG"), stream=out)
    assert logging.getLogger("httpx").level == logging.WARNING  # library chatter stays out even at DEBUG


def test_applying_again_replaces_the_handler_and_plain_lines_are_not_json() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(LoggingSettings(json=True), stream=first)
    configure_logging(LoggingSettings(json=False), stream=second)
    logging.getLogger("assistant.test").warning("once")
    assert lines(first) == []
    (line,) = lines(second)  # one handler, not two
    assert line.endswith("WARNING assistant.test: once")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_logging_settings_from_config_toml_and_the_environment(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[logging]\nlevel = "debug"\njson = true\naccess_log = false\n')
    settings = load_settings(home).logging
    assert (settings.level, settings.json_lines, settings.access_log) == ("DEBUG", True, False)

    monkeypatch.setenv("ASSISTANT_LOGGING__JSON", "false")
    assert load_settings(home).logging.json_lines is False

    (home / "config.toml").write_text('[logging]\nlevel = "loud"\n')
    with pytest.raises(ConfigError, match=r"logging\.level.*unknown level 'loud'"):
        load_settings(home)
    assert LoggingSettings().level == "INFO" and LoggingSettings().access_log is True
