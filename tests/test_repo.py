"""Repository promises: README's two set-up commands, CI calls the test command, torch is pinned."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_has_two_setup_commands_with_pinned_torch():
    readme = (ROOT / "README.md").read_text()
    setup = [line for line in readme.splitlines() if line.startswith("python3 -m venv .venv")]
    assert len(setup) == 2
    assert all("pip install torch==2.13.0" in line for line in setup)
    assert any("snakemake all" in line for line in setup) and any("pytest" in line for line in setup)


def test_ci_runs_readme_test_command_and_smoke():
    ci = (ROOT / ".ci/run").read_text()
    assert "<!-- test-command -->" in ci and 'eval "$test_cmd"' in ci
    for step in ("snakemake --lint", "profile=paper -n", "profile=cpu -n", "snakemake smoke"):
        assert step in ci


def test_baselines_package_exists():
    assert (ROOT / "bitnet_repro/ptq/baselines/__init__.py").exists()
