"""The paper-output subcommands, one per module of this package: a module that sets `COMMAND, HELP = ...` and
defines `arguments(parser)` and `run(...)` is a subcommand, found by reading the package's files (a new table
is one new file; README "Adding a paper table"). COMMAND is a name, or a tuple of names: the paper's artefact
first (`table3`), then the names it also answers to (`ptq-table`). `run` is called with the parsed arguments as
keywords, named as the arguments are (`--out-md` -> `out_md`), so it is also the module's Python entry point.
Only the module of the command being run is imported."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

PACKAGE = "bitnet_repro.paper"


def order(names: tuple[str, ...]) -> tuple:
    """The paper's tables, then its figures, by number; then the other outputs by name."""
    artefact = re.fullmatch(r"(table|figure)(\d+)", names[0])
    return (0, artefact[1] == "figure", int(artefact[2])) if artefact else (1, names[0])


def modules() -> list[tuple[tuple[str, ...], str, str]]:
    """(names, module name, help) of each module with a `COMMAND, HELP = ...` line, its main name first; the
    paper's artefacts first, in the paper's order."""
    found = []
    for path in sorted(Path(__file__).parent.glob("[!_]*.py")):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
                    and [t.id for t in node.targets[0].elts] == ["COMMAND", "HELP"]):  # fmt: skip
                names, help = ast.literal_eval(node.value)
                found.append(((names,) if isinstance(names, str) else tuple(names), path.stem, help))
    return sorted(found, key=lambda m: order(m[0]))


def commands() -> dict[str, tuple[str, str]]:
    """Every name a paper command answers to (main names and aliases) -> (module name, help)."""
    return {name: (module, help) for names, module, help in modules() for name in names}


def register(add, command: str | None = None) -> None:
    """Add one subcommand per output module (`add(name, fn, help, aliases)` returns the subparser); the arguments
    of `command`, the one being run, are read from its module."""
    for (name, *aliases), module_name, help in modules():
        p = add(name, None, help, aliases=tuple(aliases))
        if command in (name, *aliases):
            module = importlib.import_module(f"{PACKAGE}.{module_name}")
            module.arguments(p)
            names = [a.dest for a in p._actions if a.dest != "help"]
            p.set_defaults(fn=lambda args, run=module.run: run(**{n: getattr(args, n) for n in names}))
