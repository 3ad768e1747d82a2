"""Command line: `python -m bitnet_repro <command> ...` (the Snakemake rules call these). Each area registers its
own subcommands (bitnet_repro/cli.py and <area>/cli.py); every user-facing error is a ReproError, printed as
one line with exit status 2."""

from __future__ import annotations

import argparse
import logging
import sys

from bitnet_repro import cli
from bitnet_repro.cost import cli as cost_cli
from bitnet_repro.errors import ReproError
from bitnet_repro.eval import cli as eval_cli
from bitnet_repro.export import cli as export_cli
from bitnet_repro.paper import cli as paper_cli
from bitnet_repro.ptq import cli as ptq_cli

AREAS = (cli, eval_cli, ptq_cli, export_cli, cost_cli, paper_cli)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = argparse.ArgumentParser(prog="python -m bitnet_repro", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def add(name: str, fn, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(fn=fn)
        return p

    for area in AREAS:
        area.register(add, command)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        args.fn(args)
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
