"""A long-running process's logging, from the `[logging]` settings: the level, and plain lines or JSON lines
on stderr. Stdlib only.

`assistant serve` applies it once at its start (`configure_logging`); other commands keep printing to the
terminal as they do. A JSON line carries `time` (UTC, ISO 8601), `level`, `logger` and `message`, then every
extra field the call passed (`log.info("…", extra={"request_id": …})`), and `exc_info` for an exception.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from assistant.config import LoggingSettings

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose INFO lines are chatter (httpx: one line per outgoing request): held at WARNING or above.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "multipart", "python_multipart", "PIL", "matplotlib")

# What every LogRecord has: anything else on a record came from `extra=` and is written as a field.
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a logging call added with `extra=`, in the order it gave them."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")}


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the extra fields, exc_info/stack when present."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            doc.setdefault(key, value)  # an extra never overwrites the four fields above
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class _AssistantHandler(logging.StreamHandler):
    """Ours, so that applying the settings again replaces it instead of doubling every line."""


def configure_logging(settings: LoggingSettings, stream: IO[str] | None = None) -> logging.Handler:
    """Apply the settings to the root logger: its level, and one handler on `stream` (default stderr) writing
    plain or JSON lines. Idempotent: a second call replaces the handler the first one added; handlers others
    added are left alone. Returns the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _AssistantHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _AssistantHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonLines() if settings.json_lines else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    level = logging.getLevelNamesMapping()[settings.level]
    root.setLevel(level)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
