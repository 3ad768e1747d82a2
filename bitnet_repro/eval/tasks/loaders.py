"""Local datasets for the task files of this folder, in the schema of the Hugging Face dataset each stock
lm-eval task reads, so that the stock prompt functions apply unchanged.

lm-eval calls a task's `custom_dataset` with the task metadata (which carries `data_dir`, set by
`bitnet_repro.evaluate.task_manager`) and gets a `datasets.DatasetDict`. Every file is checked against its
published sha256 (`checksums.json`, from SOURCES.md / SOURCES-extra.md of the data directory) before use.

Where the local copy differs from the dataset the stock task reads, the function says how; README
("Evaluation: deviations") lists the same.
"""

from __future__ import annotations

import bz2
import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import datasets

from bitnet_repro import data
from bitnet_repro.config import DataConfig
from bitnet_repro.data import DataError, resolve_data_dir

# lm_eval is imported where used: heavy (seconds to import) and needed by few commands

CHECKSUMS: dict[str, str] = json.loads((Path(__file__).with_name("checksums.json")).read_text())


def data_root(data_dir: str | None = None) -> Path:
    """The data directory: the task metadata's `data_dir`, else $BITNET_REPRO_DATA, else ../shared/data (the
    training data's resolver, `data.resolve_data_dir`)."""
    return resolve_data_dir(DataConfig(data_dir=data_dir))


def verified(rel: str, data_dir: str | None) -> Path:
    """`data.verified` against the evaluation files' checksums."""
    return data.verified(data_root(data_dir), rel, CHECKSUMS)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _dd(**splits: list[dict[str, Any]]) -> datasets.DatasetDict:
    return datasets.DatasetDict({name: datasets.Dataset.from_list(rows) for name, rows in splits.items()})


# ------------------------------------------------------------------------------------------------------
# One function per dataset
# ------------------------------------------------------------------------------------------------------


def winogrande(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """winogrande_xl validation, the exact rows. No train_xl: few-shot examples come from validation."""
    return _dd(validation=_jsonl(verified("winogrande/winogrande_xl.validation.jsonl", data_dir)))


def wsc273(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """The first 273 schemas of WSCollection.xml, parsed into `winograd_wsc/wsc273`'s fields the way that
    dataset's builder does (whitespace collapsed, pronoun location after the left text)."""

    def clean(s: str | None) -> str:
        return " ".join((s or "").split())

    rows = []
    root = ET.parse(verified("wsc273/WSCollection.xml", data_dir)).getroot()
    for schema in list(root)[:273]:
        text, quote = schema.find("text"), schema.find("quote")
        left, right, pron = clean(text.findtext("txt1")), clean(text.findtext("txt2")), clean(text.findtext("pron"))
        q_left, q_right = clean(quote.findtext("quote1")), clean(quote.findtext("quote2"))
        loc = len(left) + 1 if left else 0
        rows.append({
            "text": " ".join([left, pron, right]).strip(), "pronoun": pron, "pronoun_loc": loc,
            "quote": " ".join([q_left, pron, q_right]).strip(), "quote_loc": loc - (len(q_left) + 1 if q_left else 0),
            "options": [clean(a.text) for a in schema.find("answers").findall("answer")],
            "label": int("B" in clean(schema.findtext("correctAnswer"))), "source": clean(schema.findtext("source")),
        })  # fmt: skip
    return _dd(test=rows)


def storycloze_2016(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """Story Cloze 2016 validation and test, original CSVs, renamed to `LSDSem/story_cloze`'s fields."""

    def read(rel: str) -> list[dict[str, Any]]:
        with open(verified(rel, data_dir), encoding="utf-8", newline="") as f:
            return [{"story_id": r["InputStoryid"],
                     **{f"input_sentence_{i}": r[f"InputSentence{i}"] for i in range(1, 5)},
                     "sentence_quiz1": r["RandomFifthSentenceQuiz1"], "sentence_quiz2": r["RandomFifthSentenceQuiz2"],
                     "answer_right_ending": int(r["AnswerRightEnding"])} for r in csv.DictReader(f)]  # fmt: skip

    return _dd(validation=read("storycloze/cloze_test_val__spring2016.csv"),
               test=read("storycloze/cloze_test_test__spring2016.csv"))  # fmt: skip


def hellaswag(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """HellaSwag validation from the 6-lines-per-item text file ("activity: ctx", gold, 4 endings), already
    cleaned upstream the way the stock `preprocess` cleans. ctx_a and ctx_b arrive joined, so the whole
    context goes to ctx_a and ctx_b is empty: the stock query then differs only in that ctx_b's first letter
    is not capitalised. The stock `process_docs` (query, choices, gold) is applied once here rather than on
    every access, which saves seconds per run. No train split: few-shot examples come from validation."""
    from lm_eval.tasks.hellaswag.utils import process_docs

    with bz2.open(verified("hellaswag/hellaswag_val_full.txt.bz2", data_dir), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    rows = []
    for i in range(0, len(lines) - 5, 6):
        label, ctx = lines[i].split(": ", 1)
        rows.append({"ind": i // 6, "activity_label": label, "ctx_a": ctx, "ctx_b": "", "ctx": ctx,
                     "endings": lines[i + 2 : i + 6], "label": lines[i + 1], "split": "val"})  # fmt: skip
    return datasets.DatasetDict({"validation": process_docs(datasets.Dataset.from_list(rows))})


def _mosaic_mc(rel: str, data_dir: str | None, prefix: str) -> list[dict[str, Any]]:
    rows = []
    for r in _jsonl(verified(rel, data_dir)):
        labels = [chr(ord("A") + i) for i in range(len(r["choices"]))]
        if not r["query"].startswith(prefix):
            raise DataError(f"{rel}: query {r['query'][:60]!r} does not start with {prefix!r}")
        rows.append({"question": r["query"][len(prefix) :], "choices": {"text": r["choices"], "label": labels},
                     "answerKey": labels[r["gold"]]})  # fmt: skip
    return rows


def arc_easy(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """ARC-Easy test from MosaicML's reformatted copy: `Question: ` stripped from the query, answer labels
    rebuilt as A, B, C, ... (the prompt uses only the texts). No train split: few-shot from test."""
    return _dd(test=_mosaic_mc("llmfoundry_icl/arc_easy.jsonl", data_dir, "Question: "))


def arc_challenge(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """ARC-Challenge test, as `arc_easy`."""
    return _dd(test=_mosaic_mc("llmfoundry_icl/arc_challenge.jsonl", data_dir, "Question: "))


def openbookqa(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """OpenBookQA main test: stems and choices from MosaicML's JSONL, checked against the answer keys of the
    official test.tsv. No train split: few-shot from test."""
    rows = [{"question_stem": r["question"], "choices": r["choices"], "answerKey": r["answerKey"]}
            for r in _mosaic_mc("llmfoundry_icl/openbook_qa.jsonl", data_dir, "")]  # fmt: skip
    with open(verified("openbookqa/test.tsv", data_dir), encoding="utf-8", newline="") as f:
        keys = [r["Answer Key"].strip() for r in csv.DictReader(f, delimiter="\t")]
    if keys != [r["answerKey"] for r in rows]:
        raise DataError("openbook_qa.jsonl and test.tsv disagree on the answer keys")
    return _dd(test=rows)


def boolq(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """SuperGLUE BoolQ validation; labels arrive as "true"/"false" strings and become 1/0."""
    rows = [{"question": r["question"], "passage": r["passage"], "idx": r["idx"],
             "label": {"true": 1, "false": 0}[str(r["label"]).lower()]}
            for r in _jsonl(verified("boolq/val.jsonl", data_dir))]  # fmt: skip
    return _dd(validation=rows)


def piqa(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """PIQA validation: the original valid.jsonl with valid-labels.lst."""
    docs = _jsonl(verified("piqa/valid.jsonl", data_dir))
    labels = verified("piqa/valid-labels.lst", data_dir).read_text().split()
    if len(docs) != len(labels):
        raise DataError(f"piqa: {len(docs)} questions but {len(labels)} labels")
    return _dd(validation=[{"goal": d["goal"], "sol1": d["sol1"], "sol2": d["sol2"], "label": int(y)}
                           for d, y in zip(docs, labels)])  # fmt: skip


def sciq(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """SciQ. Deviation: only the validation split (1000 questions) is held, so it is scored in place of the
    stock task's test split (also 1000); few-shot examples come from the same split."""
    return _dd(validation=_jsonl(verified("sciq/sciq.validation.jsonl", data_dir)))


def lambada_openai(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """LAMBADA, OpenAI's detokenized test file (byte-identical to the one lm-eval's task reads)."""
    return _dd(test=_jsonl(verified("lambada/lambada_test.jsonl", data_dir)))


def wikitext(data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """WikiText-2 raw test as documents (`wikitext_document_level`'s `page`). Deviation: the local file holds
    only the non-empty rows (CRLF endings, restored to LF here), so each page is its rows concatenated from
    one top-level heading row (` = Title = `) to the next (62 pages, as the stock dataset), without the empty
    rows between paragraphs; word counts
    are unchanged, byte counts and the text the model sees differ slightly from the stock dataset."""
    rows = data.wikitext2_test(data_root(data_dir)).splitlines(keepends=True)
    pages: list[list[str]] = []
    for row in rows:
        if (row.startswith(" = ") and row.endswith(" = \n") and not row.startswith(" = = ")) or not pages:
            pages.append([])
        pages[-1].append(row)
    return _dd(test=[{"page": "".join(p)} for p in pages])


def blimp(paradigm: str, data_dir: str | None = None, **_: Any) -> datasets.DatasetDict:
    """One BLiMP paradigm (1000 minimal pairs), the original JSONL of the BLiMP repository."""
    return _dd(train=_jsonl(verified(f"blimp/{paradigm}.jsonl", data_dir)))


def blimp_loader(**kwargs: Any) -> datasets.DatasetDict:
    """`custom_dataset` of the BLiMP task files: the paradigm comes from `dataset_kwargs`."""
    return blimp(**kwargs)
