"""Check a Snakemake HTML report the way a reader sees it: rendered by headless Chromium.

    python workflows/report/check_report.py results/cpu/report.html --profile cpu \
        --screenshot results/cpu/report_screenshot.png

1. The report as it opens: the page is not blank (the app has rendered its menu with every result category and
   the workflow description), no caption has a reStructuredText error, and a PNG of the first screen is saved.
2. The report clicked through: every category (and subcategory) is opened as a reader would open it, from the
   menu, and the rows it lists are collected from the rendered page. Every result the report holds must be
   listed under its category with a caption, and (unless --partial) every table (`tables/*.md`,
   `results/energy/table*.md`) and figure (`figures/*.png`, `results/energy/*.png`) of the profile on disk must be
   among them: those are the files the workflow wraps in report().

Needs `chromium` (Debian: `apt-get install -y chromium`); exits with status 2 when it is missing, 1 when a check
fails.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1440, 900)
# Opens every category from the menu, as a reader clicks, and writes the rows each one lists into the page.
CLICK_THROUGH = """<script>
(function clickThrough() {
  if (typeof app === "undefined" || !app) { return setTimeout(clickThrough, 20); }
  const listed = {};
  for (const category of Object.keys(categories)) {
    for (const subcategory of Object.keys(categories[category])) {
      ReactDOM.flushSync(() => app.setView({navbarMode: "menu"}));
      ReactDOM.flushSync(() => app.showCategory(category));
      if (!isSingleSubcategory(category)) {
        ReactDOM.flushSync(() => app.setView({navbarMode: "subcategory", category, subcategory}));
      }
      listed[category + "\\u0000" + subcategory] = Array.from(document.querySelectorAll("nav tbody tr"))
        .map((row) => Array.from(row.querySelectorAll("td")).map((cell) => cell.textContent.trim()));
    }
  }
  ReactDOM.flushSync(() => app.setView({navbarMode: "menu"}));
  const out = document.createElement("pre");
  out.id = "report-check";
  out.textContent = JSON.stringify(listed);
  document.body.appendChild(out);
})();
</script>
"""


class NoChromium(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary: str, url: str, *action: str, timeout: float = 120) -> str:
    """Run headless Chromium on a page (timers run to completion: --virtual-time-budget); its stdout."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--virtual-time-budget=10000", *action, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}")
    return proc.stdout


def embedded(page: str, name: str) -> dict:
    """The JSON a Snakemake report embeds as `var <name> = {...};` in <script id="<name>">."""
    m = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', page, re.S)
    if not m:
        raise ValueError(f"no <script id=\"{name}\"> in the report: not a Snakemake HTML report?")
    return json.loads(m.group(1))


def visible_text(dom: str) -> str:
    """The text of the rendered app (#app), tags and scripts removed."""
    start = dom.find('<div id="app">')
    body = dom[start:] if start >= 0 else dom
    body = re.sub(r"<script\b.*?</script>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip()


def expected_on_disk(profile: str, root: Path) -> list[str]:
    """Every table and figure of the profile on disk, as paths relative to the repository root."""
    patterns = [f"results/{profile}/tables/*.md", f"results/{profile}/figures/*.png",
                "results/energy/table*.md", "results/energy/*.png"]
    return sorted({p.relative_to(root).as_posix() for pat in patterns for p in root.glob(pat)})


def is_blank_png(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is not None and len(colours) < 8


def check(report: Path, profile: str, screenshot: Path | None, partial: bool, root: Path) -> list[str]:
    binary = find_chromium()
    if binary is None:
        raise NoChromium(f"no Chromium ({', '.join(CHROMIUM_NAMES)}) on PATH: apt-get install -y chromium")
    page = report.read_text(encoding="utf-8")
    results, categories = embedded(page, "results"), embedded(page, "categories")
    errors = []

    # 1. As it opens.
    url = report.resolve().as_uri()
    text = visible_text(chromium(binary, url, "--dump-dom"))
    if len(text) < 200 or "Snakemake" not in text:
        errors.append(f"the rendered page is blank or not the report ({len(text)} characters of text)")
    errors += [f"category {c!r} is not in the rendered menu" for c in categories if c not in text]
    if f"profile {profile}" not in text:
        errors.append(f"the workflow description (workflows/report/workflow.rst) for profile {profile} is not shown")
    if "system-message" in page:
        errors.append("a caption has a reStructuredText error (docutils system-message in the report)")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        chromium(binary, url, f"--screenshot={screenshot.resolve()}")
        if not screenshot.is_file() or is_blank_png(screenshot):
            errors.append(f"the screenshot {screenshot} is missing or blank")

    # 2. Clicked through.
    head, _, tail = page.rpartition("</body>")
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        driven = Path(tmp, "report.html")
        driven.write_text(head + CLICK_THROUGH + "</body>" + tail, encoding="utf-8")
        dom = chromium(binary, driven.as_uri(), "--dump-dom")
    m = re.search(r'<pre id="report-check">(.*?)</pre>', dom, re.S)
    if not m:
        return errors + ["clicking through the categories failed (no listing in the rendered page)"]
    listed = {}
    for key, rows in json.loads(html.unescape(m.group(1))).items():
        category = key.split("\0")[0]
        for row in rows:
            for cell in row:
                listed.setdefault(cell, set()).add(category)
    for path, result in results.items():
        category = next((c for c, subs in categories.items() for files in subs.values() if path in files), None)
        if category not in listed.get(path, set()):
            errors.append(f"{path} is not listed under its category {category!r} in the rendered report")
        if not result.get("caption"):
            errors.append(f"{path} has no caption")
    if not partial:
        errors += [f"{path} (on disk) is not in the report" for path in expected_on_disk(profile, root)
                   if path not in results]
    print(f"{report}: {len(results)} results in {len(categories)} categories, all listed as rendered"
          if not errors else f"{report}: {len(errors)} problem(s)")
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=Path, help="the report (snakemake --report <file>.html)")
    ap.add_argument("--profile", default="cpu", help="the profile the report was built for (default: cpu)")
    ap.add_argument("--screenshot", type=Path, help="save a PNG of the report's first screen here")
    ap.add_argument("--partial", action="store_true",
                    help="a report of some targets only (e.g. the default job): do not require every table and "
                         "figure on disk")
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = ap.parse_args(argv)
    try:
        errors = check(args.report, args.profile, args.screenshot, args.partial, args.root.resolve())
    except NoChromium as e:
        print(e, file=sys.stderr)
        return 2
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
