"""Check a Snakemake HTML report the way a reader sees it: rendered by headless Chromium.

    python workflows/report/check_report.py results/cpu/report.html --profile cpu \
        --screenshot results/cpu/report_screenshot.png --table-screenshot results/cpu/report_table.png

1. The report as it opens: the page is not blank (the app has rendered its menu with every result category and
   the workflow description), no caption has a reStructuredText error, and a PNG of the first screen is saved.
   The menu lists the categories numbered 1, 2, ... in that order, the claims ledger first. The front page opens
   with the claims ledger as a table (when the profile has one): every column header within the window's width,
   the verdict column's on the first screen, and the rule graph under the ledger, not beside or above it.
2. A table page: the ledger opened from its category with its eye button, as a reader opens it, fills the
   content pane (a PNG of that screen is saved); the page itself, at the pane's size, is no wider than the pane
   and shows its verdict column on the first screen.
3. The report clicked through: every category (and subcategory) is opened as a reader would open it, from the
   menu, and the rows it lists are collected from the rendered page. Every result the report holds must be
   listed under its category with a caption and a title numbered within its category ("4.2 ..."), in that
   order; and (unless --partial) every table (`tables/*.html`, `results/energy/table*.html`) and figure
   (`figures/*.png`, `results/energy/*.png`) of the profile on disk must be among them: those are the files
   the workflow wraps in report().

Needs `chromium` (Debian: `apt-get install -y chromium`); exits with status 2 when it is missing, 1 when a check
fails.
"""

from __future__ import annotations

import argparse
import base64
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


# Measures the front page once it has rendered: the menu's categories in order, the first table of the workflow
# description (the claims ledger) with its column headers, and where the rule graph is.
FRONT_PAGE = """<script>
(function measure(tries) {
  if (typeof app === "undefined" || !app || !document.querySelector("nav li")) {
    return setTimeout(() => measure(tries), 50);
  }
  const table = document.querySelector("#app .prose .paper-table table");
  if (!table && tries > 0) { return setTimeout(() => measure(tries - 1), 50); }
  setTimeout(function () {
    const box = (el) => { if (!el) { return null; } const r = el.getBoundingClientRect();
                          return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
    const heading = table ? table.closest(".paper-table").querySelector("h1") : null;
    const out = document.createElement("pre");
    out.id = "report-layout";
    out.style.display = "none";
    out.textContent = JSON.stringify({
      window: [window.innerWidth, window.innerHeight],
      menu: Array.from(document.querySelectorAll("nav li a span")).map((s) => s.textContent.trim()),
      ledger: heading ? heading.textContent.trim() : "",
      table: box(table),
      headers: table ? Array.from(table.querySelectorAll("th")).map((th) => [th.textContent.trim(), box(th)]) : [],
      rulegraph: box(document.querySelector("#rulegraph")),
    });
    document.body.appendChild(out);
  }, 500);
})(40);
</script>
"""
# Opens a table page as a reader does: its category from the menu, then the eye button of its row.
OPEN_TABLE = """<script>
(function openTable() {
  if (typeof app === "undefined" || !app || !document.querySelector("nav")) { return setTimeout(openTable, 20); }
  ReactDOM.flushSync(() => app.showCategory(CATEGORY));
  const row = Array.from(document.querySelectorAll("nav tbody tr")).find((r) => r.textContent.includes(TITLE));
  if (row) { ReactDOM.flushSync(() => row.querySelector("a").click()); }
  setTimeout(function () {
    const frame = document.querySelector("iframe");
    const r = frame ? frame.getBoundingClientRect() : null;
    const out = document.createElement("pre");
    out.id = "report-table";
    out.style.display = "none";
    out.textContent = JSON.stringify({row: !!row, window: [window.innerWidth, window.innerHeight],
                                      frame: r ? [r.left, r.top, r.width, r.height] : null});
    document.body.appendChild(out);
  }, 500);
})();
</script>
"""
# Measures a table page on its own: its width against the window's, and its column headers.
TABLE_PAGE = """<script>
window.addEventListener("load", function () {
  const table = document.querySelector("table");
  const out = document.createElement("pre");
  out.id = "table-layout";
  out.style.display = "none";
  out.textContent = JSON.stringify({
    window: [window.innerWidth, window.innerHeight],
    scroll_width: document.documentElement.scrollWidth,
    table: table ? table.getBoundingClientRect().right : null,
    headers: table ? Array.from(table.querySelectorAll("th")).map((th) => {
      const r = th.getBoundingClientRect(); return [th.textContent.trim(), r.right, r.top]; }) : [],
  });
  document.body.appendChild(out);
});
</script>
"""
VERDICT = "here"  # the ledger's verdict column: holds, does not hold, untested here


class NoChromium(RuntimeError):
    pass


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary: str, url: str, *action: str, timeout: float = 120, window: str | None = None) -> str:
    """Run headless Chromium on a page (timers run to completion: --virtual-time-budget); its stdout."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [binary, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={profile}", window or f"--window-size={WINDOW[0]},{WINDOW[1]}",
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
    """Every table (its HTML page) and figure of the profile on disk, as paths relative to the repository root."""
    patterns = [f"results/{profile}/tables/*.html", f"results/{profile}/figures/*.png",
                "results/energy/table*.html", "results/energy/*.png"]
    return sorted({p.relative_to(root).as_posix() for pat in patterns for p in root.glob(pat)})


def is_blank_png(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    return colours is not None and len(colours) < 8


def driven(page: str, script: str, tmp: str, name: str = "report.html") -> Path:
    """The page with `script` run in it (before </body>), saved under `tmp`."""
    head, _, tail = page.rpartition("</body>")
    path = Path(tmp, name)
    path.write_text(head + script + "</body>" + tail, encoding="utf-8")
    return path


def measured(dom: str, name: str) -> dict | None:
    """The JSON a driven page wrote into <pre id="<name>">."""
    m = re.search(rf'<pre id="{name}"[^>]*>(.*?)</pre>', dom, re.S)
    return json.loads(html.unescape(m.group(1))) if m else None


def number(name: str) -> int | None:
    """The number a category or a title starts with: "4. PTQ baselines" -> 4, "4.2 Table 3 ..." -> 2."""
    m = re.match(r"^\d+\.(\d+)? ", name)
    if not m:
        return None
    return int(m.group(1)) if m.group(1) else int(name.split(".", 1)[0])


def title(result: dict) -> str | None:
    """The title a result is listed under: its first label."""
    labels = result.get("labels") or {}
    return next(iter(labels.values()), None)


def check_front_page(binary: str, page: str, results: dict, categories: dict, ledger: str | None,
                     tmp: str) -> list[str]:  # fmt: skip
    """The menu's categories in order; the claims ledger opening the front page, readable, the rule graph under it."""
    errors = []
    dom = chromium(binary, driven(page, FRONT_PAGE, tmp, "front.html").as_uri(), "--dump-dom")
    layout = measured(dom, "report-layout")
    if layout is None:
        return ["the front page could not be measured (the report's menu did not render)"]
    menu = [m for m in layout["menu"] if m in categories]
    if sorted(menu) != sorted(categories):
        errors.append(f"the menu lists {menu}, not every category of {sorted(categories)}")
    numbers = [number(c) for c in menu]
    if numbers != list(range(1, len(menu) + 1)):
        errors.append(f"the menu's categories are not numbered 1, 2, ... in the order shown: {menu}")
    if menu and "Claims ledger" not in menu[0]:
        errors.append(f"the first category is {menu[0]!r}, not the claims ledger")
    if ledger is None:
        return errors
    width, height = layout["window"]
    if layout["table"] is None:
        errors.append("the front page shows no table: the claims ledger does not open the report")
    elif not layout["ledger"].startswith("Claims ledger"):
        errors.append(f"the front page's first table is {layout['ledger']!r}, not the claims ledger")
    headers = dict((name, box) for name, box in layout["headers"])
    cut = [name for name, box in layout["headers"] if box["left"] < 0 or box["right"] > width]
    if cut:
        errors.append(f"the ledger on the front page is cut off: column(s) {cut} outside the {width}-pixel window")
    verdict = headers.get(VERDICT)
    if verdict is None:
        errors.append(f"the ledger on the front page has no verdict column {VERDICT!r}")
    elif verdict["top"] >= height:
        errors.append(f"the ledger's verdict column starts at {verdict['top']:.0f} px, below the first screen")
    graph = layout["rulegraph"]
    if graph is not None and layout["table"] is not None and graph["top"] < layout["table"]["bottom"]:
        errors.append("the rule graph is beside or above the claims ledger, not under it")
    return errors


def check_table_page(binary: str, page: str, results: dict, categories: dict, ledger: str, tmp: str,
                     screenshot: Path | None) -> list[str]:  # fmt: skip
    """The ledger opened with its eye button fills the content pane; the page, at the pane's size, is not cut off."""
    category = next(c for c, subs in categories.items() for files in subs.values() if ledger in files)
    script = OPEN_TABLE.replace("CATEGORY", json.dumps(category)).replace("TITLE", json.dumps(title(results[ledger])))
    opened = driven(page, script, tmp, "table.html")
    state = measured(chromium(binary, opened.as_uri(), "--dump-dom"), "report-table")
    if state is None or not state["row"]:
        return [f"the ledger's row was not found under {category!r}"]
    if state["frame"] is None:
        return ["the ledger's eye button opens no page (no <iframe> in the content pane)"]
    left, top, width, height = state["frame"]
    window_width, _ = state["window"]
    errors = []
    if width < window_width / 2 or left + width > window_width + 1:
        errors.append(f"the ledger's page is {width:.0f} px wide at {left:.0f} px in a {window_width}-pixel window")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        chromium(binary, opened.as_uri(), f"--screenshot={screenshot.resolve()}")
        if not screenshot.is_file() or is_blank_png(screenshot):
            errors.append(f"the table screenshot {screenshot} is missing or blank")
    # The page as the report embeds it, alone in a window the size of the pane
    uri = results[ledger]["data_uri"]
    text = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8") if uri.startswith("data:") else ""
    if "<table" not in text:
        return errors + [f"{ledger} is not embedded in the report as an HTML table"]
    alone = driven(text, TABLE_PAGE, tmp, "ledger.html")
    size = f"--window-size={int(width)},{int(height)}"
    layout = measured(chromium(binary, alone.as_uri(), "--dump-dom", window=size), "table-layout")
    if layout is None:
        return errors + ["the ledger's page could not be measured"]
    pane, screen = layout["window"]
    if layout["scroll_width"] > pane or (layout["table"] or 0) > pane:
        errors.append(f"the ledger's page is cut off: {layout['scroll_width']} px wide in a {pane}-pixel pane")
    verdict = next((h for h in layout["headers"] if h[0] == VERDICT), None)
    if verdict is None or verdict[1] > pane or verdict[2] >= screen:
        errors.append(f"the ledger's verdict column {VERDICT!r} is not on the page's first screen")
    return errors


def check(report: Path, profile: str, screenshot: Path | None, partial: bool, root: Path,
          table_screenshot: Path | None = None) -> list[str]:  # fmt: skip
    binary = find_chromium()
    if binary is None:
        raise NoChromium(f"no Chromium ({', '.join(CHROMIUM_NAMES)}) on PATH: apt-get install -y chromium")
    page = report.read_text(encoding="utf-8")
    results, categories = embedded(page, "results"), embedded(page, "categories")
    ledger = f"results/{profile}/tables/claims.html"
    ledger = ledger if ledger in results else None
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
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        errors += check_front_page(binary, page, results, categories, ledger, tmp)

        # 2. A table page.
        if ledger is not None:
            errors += check_table_page(binary, page, results, categories, ledger, tmp, table_screenshot)
        elif table_screenshot is not None:
            errors.append(f"no claims ledger in the report ({profile}): no table page to screenshot")

        # 3. Clicked through.
        dom = chromium(binary, driven(page, CLICK_THROUGH, tmp).as_uri(), "--dump-dom")
    listing = measured(dom, "report-check")
    if listing is None:
        return errors + ["clicking through the categories failed (no listing in the rendered page)"]
    listed: dict[str, list[str]] = {}
    for key, rows in listing.items():
        listed.setdefault(key.split("\0")[0], []).extend(row[0] for row in rows if row)
    for category, titles in listed.items():
        if number(category) is None:
            continue  # the menu's check names it
        want = [f"{number(category)}.{n} " for n in range(1, len(titles) + 1)]
        if [t[: len(w)] for t, w in zip(titles, want)] != want:
            errors.append(f"the results of {category!r} are not numbered {category.split('.')[0]}.1, "
                          f"{category.split('.')[0]}.2, ... in the order listed: {titles}")  # fmt: skip
    for path, result in results.items():
        category = next((c for c, subs in categories.items() for files in subs.values() if path in files), None)
        name = title(result)
        if not name:
            errors.append(f"{path} has no title (labels in its report())")
        elif name not in listed.get(category, []):
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
    ap.add_argument("--table-screenshot", type=Path,
                    help="save a PNG of a table page (the claims ledger opened with its eye button) here")
    ap.add_argument("--partial", action="store_true",
                    help="a report of some targets only (e.g. the default job): do not require every table and "
                         "figure on disk")
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    args = ap.parse_args(argv)
    try:
        errors = check(args.report, args.profile, args.screenshot, args.partial, args.root.resolve(),
                       args.table_screenshot)
    except NoChromium as e:
        print(e, file=sys.stderr)
        return 2
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
