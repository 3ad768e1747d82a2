"""lm-eval task files that read the local data directory (see loaders.py and README, "Evaluation")."""

from pathlib import Path

TASKS_DIR = Path(__file__).parent
