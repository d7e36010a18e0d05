"""The `assistant` command line: one module per feature, each command thin (parse the options, build the
request, call one service method, print).

    documents.py  index, sources, remove, retrieve
    chat.py       ask, chat, flow
    engines.py    engines list|show|remove|promote|export, datagen sft|dpo, train sft|dpo
    reports.py    eval
    users.py      users add|password|key|list|remove, audit
    server.py     serve, demo
    jobs.py       worker, jobs list|show|cancel|wait|retry
    db.py         db current|upgrade
    common.py     exit codes, --home/--json/--user, the services, progress, the one user-error handler

With `--json` a command prints exactly one JSON document on stdout; progress and messages go to stderr.
Exit codes: 0 done, 2 usage or user error, 3 partly done (`eval --gate`: 1 when the gate fails).
"""

from __future__ import annotations

from assistant.cli import chat, db, documents, engines, jobs, reports, server, users
from assistant.cli.common import new_app

app = new_app("Enterprise assistant: index company documents, retrieve from them, answer with citations.",
              name="assistant", no_args_is_help=True)
# In this order, the help lists the commands as it did before the package split.
users.register(app)
engines.register(app)
reports.register(app)
documents.register(app)
chat.register(app)
server.register(app)
db.register(app)
jobs.register(app)


def main() -> None:
    app()


__all__ = ["app", "main"]
