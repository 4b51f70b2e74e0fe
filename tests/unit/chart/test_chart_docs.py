"""The chart's values reference: every value documented, the README's table current."""

from __future__ import annotations

from pathlib import Path

from infra import chart_docs


def test_every_value_is_documented_in_values_yaml() -> None:
    assert chart_docs.undocumented() == []


def test_the_readme_table_is_the_one_values_yaml_gives() -> None:
    readme = (chart_docs.CHART / "README.md").read_text()
    between = readme.split(chart_docs.BEGIN, 1)[1].split(chart_docs.END, 1)[0]
    assert between.strip() == chart_docs.table(), "run `python -m infra.chart_docs`"


def test_a_comment_documents_the_key_below_it_and_continues_over_plain_comment_lines(
    tmp_path: Path,
) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "# A heading that documents nothing.\n"
        "db:\n"
        "  # -- Where the database is,\n"
        "  # and how to reach it.\n"
        "  host: x\n"
        "  port: 5432\n"
        "  # -- A flag | with a pipe.\n"
        "  tls: {enabled: false}\n"
    )
    assert chart_docs.descriptions(values.read_text()) == {
        "db.host": "Where the database is, and how to reach it.",
        "db.tls": "A flag | with a pipe.",
    }
    assert chart_docs.undocumented(values) == ["db.port"]
    rows = chart_docs.table(values).splitlines()[2:]
    assert rows == [
        '| `db.host` | `"x"` | Where the database is, and how to reach it. |',
        "| `db.port` | `5432` |  |",
        r"| `db.tls.enabled` | `false` | (see `db.tls`) |",
    ]
