"""The application database's schema migrations (alembic), shipped with the package and run
programmatically: users need no alembic.ini.

    env.py                         migrates the connection `assistant.appdb.AppDB.upgrade` hands it
    versions/0001_initial.py       the schema as it was when migrations began
    versions/0002_job_workers.py   jobs: payload, worker, lease_expires, heartbeat, attempts, resume; (state, kind)

`AppDB(url)` brings a database to head at start-up; `assistant db upgrade|current` do it explicitly.
A schema change is a new file here, `NNNN_what.py` with `revision = "NNNN"` and `down_revision` the
previous head, AND the same change to the Tables in `assistant/appdb.py` (tests/assistant/test_migrations.py
checks that a migrated database matches them). Developers may draft one with the alembic command and a
two-line ini (`[alembic]`, `script_location = assistant/migrations`): `alembic -c dev.ini -x url=URL revision
--autogenerate -m what`, then rename it to the next number.
"""
