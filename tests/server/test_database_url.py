"""Database URLs: which engine, and never a password in what we print."""

from __future__ import annotations

from homeport.server.database import is_postgres, redact, scrub
from homeport.server.store import SCHEMA
from homeport.server.store_pg import pg_schema, pg_sql


def test_engine_by_scheme() -> None:
    assert is_postgres("postgresql://h/db")
    assert is_postgres("POSTGRES://h/db")
    assert not is_postgres("sqlite:///x")


def test_redact_hides_passwords_only() -> None:
    assert redact("postgresql://u:p%40ss@db.lan:5433/h") == "postgresql://u:***@db.lan:5433/h"
    assert redact("postgresql://u@/h?host=/run/pg&password=pw") == (
        "postgresql://u@/h?host=/run/pg&password=***"
    )
    assert redact("postgresql://db.lan/h") == "postgresql://db.lan/h"


def test_scrub_removes_secrets_from_driver_messages() -> None:
    url = "postgresql://u:p%40ss@db.lan/h"
    text = scrub(f'connection to "{url}" failed for p@ss and p%40ss', url)
    assert "p@ss" not in text
    assert "p%40ss" not in text
    assert "postgresql://u:***@db.lan/h" in text


def test_dialect() -> None:
    assert (
        pg_sql("UPDATE z SET s = s % ? + 1 WHERE o = ?")
        == "UPDATE z SET s = s %% %s + 1 WHERE o = %s"
    )
    schema = pg_schema(SCHEMA)
    assert "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" in schema
    assert "AUTOINCREMENT" not in schema
    assert " REAL" not in schema
    assert "INTEGER" not in schema
