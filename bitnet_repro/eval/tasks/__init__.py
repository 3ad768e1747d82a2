"""lm-eval task files that read the local data directory (see loaders.py and README, "Evaluation").

The task files are also where the suite reads facts about its tasks: each task's `metadata.canonical_n` (the
items in the stock task's scored split) and the Table 3 group's columns (`_table3.yaml`: metric, the paper's
short name, chance level).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

TASKS_DIR = Path(__file__).parent


class _TaskLoader(yaml.SafeLoader):
    """YAML with lm-eval's `!function` tags read as plain strings."""


_TaskLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


@cache
def task_file(name: str) -> dict[str, Any]:
    """A task or group file of this folder, with `include:` resolved (the including file wins)."""
    doc = yaml.load((TASKS_DIR / f"{name}.yaml").read_text(), Loader=_TaskLoader)
    if "include" in doc:
        doc = {**task_file(Path(doc.pop("include")).stem), **doc}
    return doc


def canonical_counts() -> dict[str, int]:
    """Task name -> items in the stock task's scored split, from each task file's metadata."""
    names = sorted(p.stem for p in TASKS_DIR.glob("[!_]*.yaml"))
    return {n: task_file(n)["metadata"]["canonical_n"] for n in names}


def group_tasks(group: str) -> list[str]:
    """The tasks of a group file (`_table3.yaml` -> table3), in its order."""
    return list(task_file(f"_{group}")["task"])


def table3_columns() -> list[dict[str, Any]]:
    """Table 3's task columns in the paper's order: task, metric, short name, chance (from `_table3.yaml`)."""
    return list(task_file("_table3")["metadata"]["columns"])
