"""``python -m benchmarks`` brings docs/benchmarks.md up to date: the tables a run makes
replace their own, and what people wrote under them, and the tables it did not make, stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import __main__ as cli
from benchmarks.report import MARK, Table, updated

HEADER = "# m0 benchmarks (full)\n\nMachine: old\n\nMade by `python -m benchmarks` in 700 s.\n"


def table(title: str, value: str, note: str = "best of 3") -> Table:
    return Table(title, ["command", "seconds"], [["m0 analyze", value]], [note])


def report() -> str:
    """A report as a full run wrote it, with notes written by hand since."""
    old = updated(None, HEADER, [table("Decode routes, 60 min 720p VOD (1.42 GB)", "4.59"),
                                 table("Detection: F1 per file", "0.86", "cells: F1 / P@N")],
                  every_suite=True)
    old = old.replace(f"- best of 3\n{MARK}\n", f"- best of 3\n{MARK}\n\n- re-run by hand: 4.6 s\n")
    return old + "\n### Written by hand\n\n| a |\n|---|\n| 1 |\n\n- a note under no mark\n"


def test_a_partial_run_replaces_its_tables_and_keeps_everything_else():
    old = report()
    new = updated(old, "# m0 benchmarks (partial)\n",
                  [table("Decode routes, 60 min 720p VOD (1.43 GB)", "4.20", "best of 5")],
                  every_suite=False)

    assert new.startswith(HEADER)  # only a run of every suite writes a header
    assert "| m0 analyze | 4.20 |" in new and "4.59" not in new
    assert "### Decode routes, 60 min 720p VOD (1.43 GB)" in new  # the size is not the title
    assert "(1.42 GB)" not in new and "- best of 3\n" not in new
    assert new.count("- re-run by hand: 4.6 s") == 1
    assert new.index("- best of 5") < new.index(MARK) < new.index("- re-run by hand")
    # the tables it did not make, with their notes, as they were
    detection = old[old.index("### Detection"):]
    assert new.endswith(detection)


def test_new_tables_go_at_the_end_and_a_run_of_every_suite_writes_the_header():
    new = updated(report(), "# m0 benchmarks (full)\n\nMachine: new\n",
                  [table("Batch: 4 equal 10 min 720p VODs", "12.0")], every_suite=True)

    assert new.startswith("# m0 benchmarks (full)\n\nMachine: new\n\n### Decode routes")
    assert new.rstrip().endswith(f"| m0 analyze | 12.0 |\n\n- best of 3\n{MARK}")
    assert "- re-run by hand: 4.6 s" in new and "| 4.59 |" in new


def test_a_section_without_the_mark_keeps_every_line_under_its_rows():
    new = updated(report(), HEADER, [Table("Written by hand", ["a"], [["2"]], ["made"])],
                  every_suite=False)

    section = new[new.index("### Written by hand"):]
    assert "| 2 |" in section and "| 1 |" not in section
    assert section.index("- made") < section.index(MARK) < section.index("- a note under no mark")


def test_making_the_same_tables_again_changes_nothing():
    tables = [table("Decode routes, 60 min 720p VOD (1.42 GB)", "4.59"),
              table("Detection: F1 per file", "0.86", "cells: F1 / P@N")]
    once = updated(report(), HEADER, tables, every_suite=False)

    assert updated(once, HEADER, tables, every_suite=False) == once
    assert once.count(MARK) == 2  # the section written by hand was not made: no mark


@pytest.fixture
def one_suite(monkeypatch):
    """The decode suite made quickly: one table whose value each run counts up."""
    runs = iter(range(1, 100))
    monkeypatch.setitem(cli.FULL, "decode",
                        [lambda: table("Decode routes, 60 min 720p VOD (1.42 GB)",
                                       f"{next(runs)}.00")])
    monkeypatch.setitem(cli.QUICK, "decode", cli.FULL["decode"])


def test_the_command_updates_the_report_in_place(one_suite, tmp_path: Path, capsys):
    out = tmp_path / "benchmarks.md"
    out.write_text(report())

    assert cli.main(["--only", "decode", "--out", str(out)]) == 0
    assert cli.main(["--only", "decode", "--out", str(out)]) == 0

    text = out.read_text()
    assert "| 2.00 |" in text and "| 1.00 |" not in text and "| 4.59 |" not in text
    assert text.count("made by `python -m benchmarks --only decode` on ") == 1
    assert "- re-run by hand: 4.6 s" in text and "### Detection: F1 per file" in text
    assert text.startswith(HEADER)
    assert f"updated {out}" in capsys.readouterr().err


def test_a_quick_run_writes_no_report_unless_given_one(one_suite, monkeypatch, tmp_path: Path,
                                                       capsys):
    docs = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setattr(cli, "DOCS", docs)

    assert cli.main(["--quick", "--only", "decode"]) == 0
    assert not docs.exists()
    assert "not written" in capsys.readouterr().err

    assert cli.main(["--only", "decode"]) == 0
    assert docs.read_text().count("| 2.00 |") == 1
