"""README's generated blocks (findings, contents, paper artefacts, measured numbers) equal what the committed
results give now, and every artefact the map calls built has its file committed."""

import subprocess
import sys
from pathlib import Path

from bitnet_repro.paper import readme

ROOT = Path(__file__).resolve().parent.parent


def test_readme_blocks_are_current():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "README is stale: python -m bitnet_repro readme"


def test_built_artefacts_are_committed():
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    for name, _, target, outputs, status, _ in readme.ARTEFACTS:
        if status in ("built", "partly"):
            assert outputs and target != "-", name
            missing = [o for o in outputs if o not in tracked]
            assert not missing, f"{name} is marked {status} but {missing} are not committed"
        else:
            assert not outputs, name


def test_readme_check_fails_on_a_stale_block(tmp_path):
    stale = tmp_path / "README.md"
    stale.write_text((ROOT / "README.md").read_text().replace("<!-- generated:findings -->\n",
                                                              "<!-- generated:findings -->\nold text\n", 1))
    proc = subprocess.run([sys.executable, "-m", "bitnet_repro", "readme", "--readme", str(stale), "--check"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "stale (findings" in proc.stderr, proc.stderr
