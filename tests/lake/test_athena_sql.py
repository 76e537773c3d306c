"""The Athena DDL and saved queries: valid Athena SQL, and in step with schema.py and the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from chalicelib.lake.schema import CLICK_COLUMNS, PARTITION_COLUMNS, TABLES
from rebound.query import DDL_DIR, QUERIES_DIR, QueryError, ddl_statements

ROOT = Path(__file__).resolve().parents[2]
DDL = sorted(DDL_DIR.glob("*.sql"))
QUERIES = sorted(QUERIES_DIR.glob("*.sql"))


def parse(path: Path) -> exp.Expression:
    statements = sqlglot.parse(path.read_text(), read="athena")
    assert len(statements) == 1, f"{path.name}: one statement per file (Athena runs one at a time)"
    return statements[0]


@pytest.mark.parametrize("path", DDL + QUERIES, ids=lambda p: p.name)
def test_every_ddl_and_saved_query_parses_as_athena_sql(path):
    assert parse(path) is not None


def table_ddl() -> dict[str, exp.Create]:
    found = {}
    for path in DDL:
        statement = parse(path)
        assert isinstance(statement, exp.Create)
        if statement.kind == "TABLE":
            found[statement.this.this.name] = statement
        else:
            assert statement.kind == "DATABASE" and statement.this.name == "rebound"
    return found


def test_ddl_declares_every_table_with_the_columns_of_schema_py():
    tables = table_ddl()
    assert sorted(tables) == sorted(TABLES)
    for name, (prefix, columns) in TABLES.items():
        statement = tables[name]
        assert statement.this.this.db == "rebound"
        declared = [
            (c.name, c.args["kind"].sql("hive").lower().replace(" ", ""))
            for c in statement.this.expressions
        ]
        assert declared == [(c.name, c.hive) for c in columns], name
        props = {type(p).__name__: p for p in statement.args["properties"].expressions}
        partitions = [c.name for c in props["PartitionedByProperty"].this.expressions]
        assert partitions == [c.name for c in PARTITION_COLUMNS]
        assert props["LocationProperty"].this.name == f"s3://${{LAKE_BUCKET}}/{prefix}/"
        settings = {
            p.name: p.args["value"].name
            for p in statement.args["properties"].expressions
            if type(p) is exp.Property
        }
        assert settings["projection.enabled"] == "true"
        assert settings["projection.dt.type"] == "date"
        assert settings["projection.dt.format"] == "yyyy-MM-dd"
        assert (settings["projection.hour.range"], settings["projection.hour.digits"]) == (
            "0,23",
            "2",
        )
        assert settings["storage.location.template"] == (
            f"s3://${{LAKE_BUCKET}}/{prefix}/dt=${{dt}}/hour=${{hour}}/"
        )
        stored_as = "PARQUET" if prefix.endswith("_parquet") else "JsonSerDe"
        assert stored_as in statement.sql("hive")


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: p.name)
def test_saved_queries_are_one_select_over_the_raw_tables(path):
    statement = parse(path)
    assert isinstance(statement, exp.Select | exp.Union)
    ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
    tables = {t.name for t in statement.find_all(exp.Table)} - ctes
    assert tables and tables <= {"clicks_raw", "conversions_raw"}
    assert path.read_text().startswith("-- ")


def test_ddl_statements_fill_in_the_bucket_only():
    statements = ddl_statements("rebound-dev-lake-123456789012")
    assert len(statements) == len(DDL)
    assert "s3://rebound-dev-lake-123456789012/clicks/dt=${dt}/hour=${hour}/" in statements[1]
    assert not any("${LAKE_BUCKET}" in s for s in statements)
    with pytest.raises(QueryError):
        ddl_statements("x'; DROP TABLE y; --")


def test_docs_describe_every_click_field_in_order():
    docs = (ROOT / "docs" / "clicks.md").read_text()
    section = docs.split("## Click record v1", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert rows == [c.name for c in CLICK_COLUMNS]
