"""The paper-output subcommands, one per module of this package: a module that sets `COMMAND, HELP = ...` and
defines `arguments(parser)` and `run(...)` is a subcommand, found by reading the package's files (a new table
is one new file; README "Adding a paper table"). `run` is called with the parsed arguments as keywords, named
as the arguments are (`--out-md` -> `out_md`), so it is also the module's Python entry point. Only the module
of the command being run is imported."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = "bitnet_repro.paper"


def commands() -> dict[str, tuple[str, str]]:
    """command -> (module name, help), from each module's `COMMAND, HELP = "...", "..."` line."""
    found = {}
    for path in sorted(Path(__file__).parent.glob("[!_]*.py")):
        for node in ast.parse(path.read_text()).body:
            if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
                    and [t.id for t in node.targets[0].elts] == ["COMMAND", "HELP"]):  # fmt: skip
                command, help = ast.literal_eval(node.value)
                found[command] = (path.stem, help)
    return found


def register(add, command: str | None = None) -> None:
    """Add one subcommand per output module (`add(name, fn, help)` returns the subparser); the arguments of
    `command`, the one being run, are read from its module."""
    for name, (module_name, help) in commands().items():
        p = add(name, None, help)
        if name == command:
            module = importlib.import_module(f"{PACKAGE}.{module_name}")
            module.arguments(p)
            names = [a.dest for a in p._actions if a.dest != "help"]
            p.set_defaults(fn=lambda args, run=module.run: run(**{n: getattr(args, n) for n in names}))
