"""Snakemake's HTML report of the cpu profile, built from the committed results and checked as a reader sees it
(headless Chromium, workflows/report/check_report.py)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_report", ROOT / "workflows/report/check_report.py")
check_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_report)

REBUILD = ("snakemake report_all --report results/cpu/report.html --config profile=cpu --cores 1 && python "
           "workflows/report/check_report.py results/cpu/report.html --screenshot results/cpu/report_screenshot.png "
           "--table-screenshot results/cpu/report_table.png")


@pytest.mark.skipif(check_report.find_chromium() is None,
                    reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
def test_cpu_report_from_committed_results(tmp_path):
    report = tmp_path / "report.html"
    cmd = [sys.executable, "-m", "snakemake", "report_all", "--report", str(report), "--config", "profile=cpu",
           "--cores", "1", "--quiet"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    errors = check_report.check(report, "cpu", tmp_path / "screenshot.png", partial=False, root=ROOT,
                                table_screenshot=tmp_path / "table.png")  # fmt: skip
    assert not errors, "\n".join(errors)

    # The committed report holds the same results, under the same categories and titles, as one built now (else:
    # rebuild it, README "Report"), and its screenshots are beside it.
    def contents(path):
        page = path.read_text(encoding="utf-8")
        results = check_report.embedded(page, "results")
        return check_report.embedded(page, "categories"), {p: check_report.title(r) for p, r in results.items()}

    committed = contents(ROOT / "results/cpu/report.html")
    assert committed == contents(report), f"results/cpu/report.html is out of date: {REBUILD}"
    for png in ("report_screenshot.png", "report_table.png"):
        assert (ROOT / "results/cpu" / png).is_file(), f"results/cpu/{png} is missing: {REBUILD}"


def test_table_pages_are_html_tables(tmp_path):
    """Every table the writer writes has its HTML page beside the Markdown (what the report shows): the title as
    its heading, the table as an HTML table with a column of numbers right-aligned, text escaped, `code` and
    **bold** kept."""
    from bitnet_repro.paper.writer import Table, html_page, write_table

    t = Table(["claim", "here", "PPL"])
    t.add("b1 < FP16 at `cpu-xs`", "**holds**", "45.16")
    t.add("b1.58 matches FP16", "untested here", "-")
    write_table(tmp_path / "t.md", "Claims ledger, profile `cpu`", "", t, "", "- a note", out_csv=tmp_path / "t.csv",
                csv_rows=[{"claim": "x"}])  # fmt: skip
    page = (tmp_path / "t.html").read_text()
    assert page == html_page((tmp_path / "t.md").read_text())
    assert "<title>Claims ledger, profile cpu</title>" in page
    assert "<h1>Claims ledger, profile <code>cpu</code></h1>" in page
    assert '<th>claim</th><th>here</th><th class="r">PPL</th>' in page
    assert '<td>b1 &lt; FP16 at <code>cpu-xs</code></td><td><strong>holds</strong></td><td class="r">45.16</td>' in page
    assert "<li>a note</li>" in page and "<script" not in page
