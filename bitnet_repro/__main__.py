"""Command line: `python -m bitnet_repro <command> ...` (the Snakemake rules call these). Each area registers its
own subcommands (bitnet_repro/cli.py and <area>/cli.py); `--help` lists them by area. Every user-facing error
is a ReproError or a bad argument, printed as one line with exit status 2."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import select
import shutil
import sys
import textwrap
import warnings
from dataclasses import dataclass

from bitnet_repro.errors import ReproError

# (group title, module): each module has `register(add, command=None)`; a new area is one line here
AREAS = (
    ("core", "bitnet_repro.cli"),
    ("data", "bitnet_repro.fetch"),
    ("evaluation", "bitnet_repro.eval.cli"),
    ("PTQ", "bitnet_repro.ptq.cli"),
    ("export", "bitnet_repro.export.cli"),
    ("cost", "bitnet_repro.cost.cli"),
    ("paper tables and figures", "bitnet_repro.paper.cli"),
)
NOISY_LIBRARIES = ("torch", "torchao", "transformers", "llmcompressor", "compressed_tensors", "datasets", "lm_eval")
PROG = "python -m bitnet_repro"
DESCRIPTION = """The suite's commands, by area (the Snakemake rules call them). A paper table or figure is named as in
the paper (table3, figure7); its older name still works. An error is one line, with exit status 2."""


@dataclass
class Command:
    """One subcommand as `--help` lists it."""

    name: str
    aliases: tuple[str, ...]
    help: str
    group: str
    parser: argparse.ArgumentParser


class HelpFormatter(argparse.HelpFormatter):
    """argparse's help, with an option's default appended where it has one and its help does not state it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help = action.help or ""
        unset = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if action.option_strings and not unset and "default" not in help:
            help += " (default: %(default)s)"
        return help


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like the suite's other errors; `commands` lists the
    subcommands added to it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, formatter_class=kwargs.pop("formatter_class", HelpFormatter), **kwargs)
        self.commands: list[Command] = []

    def error(self, message: str) -> None:
        listed = "commands" if self.commands else "options"
        self.exit(2, f"error: {message} (`{self.prog} --help` lists the {listed})\n")


def package_version() -> str:
    """The installed distribution's version, else the package's own `__version__`."""
    try:
        return importlib.metadata.version("bitnet-repro")
    except importlib.metadata.PackageNotFoundError:
        import bitnet_repro

        return getattr(bitnet_repro, "__version__", "unknown")


def command_listing(commands: list[Command], width: int) -> str:
    """The subcommands by group, one `name (aliases)  help` entry each, wrapped to `width` columns."""
    labels = {c.name: c.name + (f" ({', '.join(c.aliases)})" if c.aliases else "") for c in commands}
    column = min(max(map(len, labels.values())), 26) + 4
    lines = []
    for group in dict.fromkeys(c.group for c in commands):
        lines.append(f"{group}:")
        for c in (c for c in commands if c.group == group):
            label = f"  {labels[c.name]}"
            body = textwrap.wrap(c.help, max(width - column, 30))
            if len(label) + 2 > column:  # too long for the column: the help starts on the next line
                lines.append(label)
                label = ""
            lines.append(label.ljust(column) + body[0])
            lines.extend(" " * column + line for line in body[1:])
        lines.append("")
    return "\n".join(lines)


def build_parser(command: str | None = None) -> Parser:
    """The whole command line; `command` (the one being run) gets every argument of a paper module, which the
    others leave unread."""
    parser = Parser(prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"bitnet-repro {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", dest="verbose_logging",
                        help="debug logging, and the libraries' warnings and logging (hidden otherwise)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="command",
                                help="one of the commands below; `<command> --help` lists its options")  # fmt: skip
    for group, module in AREAS:
        # `add(name, fn, help, aliases)` as each area's `register` calls it; `group=group` keeps this area's title
        def add(name: str, fn, help: str, aliases: tuple[str, ...] = (), group: str = group) -> Parser:
            p = sub.add_parser(name, aliases=list(aliases), description=help)
            p.set_defaults(fn=fn)
            parser.commands.append(Command(name, tuple(aliases), help, group, p))
            return p

        importlib.import_module(module).register(add, command)
    width = shutil.get_terminal_size().columns - 2
    parser.epilog = command_listing(parser.commands, width)
    return parser


def ours_or_error(record: logging.LogRecord) -> bool:
    """A log record of this package, or a library's error."""
    return record.name.startswith("bitnet_repro") or record.name == "root" or record.levelno >= logging.ERROR


def configure_logging(verbose: bool) -> None:
    """Our INFO logging on stderr; unless `verbose`, the libraries' import-time warnings and their logging below
    errors are kept out of it (`verbose` also turns on DEBUG)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(ours_or_error)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        if not sys.warnoptions:  # python -W ... wins
            warnings.filterwarnings("ignore", module=r"(?!bitnet_repro)")
        for name in NOISY_LIBRARIES:  # torch and transformers log through handlers of their own
            logging.getLogger(name).setLevel(logging.ERROR)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])


def known(parser: Parser, command: str | None) -> None:
    """Refuse an unknown command with the closest names instead of argparse's list of every choice."""
    names = {n for c in parser.commands for n in (c.name, *c.aliases)}
    if command is not None and command not in names:
        import difflib

        close = difflib.get_close_matches(command, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        parser.error(f"unknown command {command!r}{hint}")


def main(argv: list[str] | None = None) -> int:
    """Run one command (`argv`, default sys.argv[1:]) and return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    known(parser, command)
    args = parser.parse_args(argv)
    configure_logging(args.verbose_logging)
    try:
        args.fn(args)
        sys.stdout.flush()  # a reader that went away shows here, not at exit
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:  # an input file that is not there
        if args.verbose_logging:
            raise
        print(f"error: {e.filename or e} not found", file=sys.stderr)
        return 2
    except BrokenPipeError:
        if not stdout_closed():
            raise
        return 141  # a shell's status for a command stopped by SIGPIPE
    return 0


def stdout_closed() -> bool:
    """Whether the reader of stdout went away (`... | head -1`), rather than some other pipe breaking: a pipe
    with no reader polls as an error. If so, stdout is pointed at /dev/null, so that the interpreter's last
    flush stays quiet."""
    poll = select.poll()
    poll.register(sys.stdout.fileno(), select.POLLOUT)
    if not any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0)):
        return False
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return True


if __name__ == "__main__":
    sys.exit(main())
