"""Figure 7 and the look the figures share (bitnet_repro/paper/plotstyle.py): the standard error of a task
average, the count labels of a parameter axis, and the Kneser-Ney floor scored on the rows' own windows."""

import math

import pandas as pd

from bitnet_repro.paper import figure7
from bitnet_repro.paper.plotstyle import TABLE3_CHANCE, count_label, mean_se


def test_the_average_of_independent_tasks_has_a_smaller_standard_error():
    assert math.isclose(mean_se([0.02, 0.02, 0.02, 0.02]), 0.01)
    assert mean_se([0.02, None]) is None and mean_se([]) is None
    assert TABLE3_CHANCE == 0.4375  # WG, WGe, SC 50%, HS 25%


def test_counts_read_as_a_reader_would_say_them():
    assert [count_label(n) for n in (106816, 1_300_000, 6.7e9, 512)] == ["107K", "1.3M", "6.7B", "512"]


def test_the_floor_is_the_trigram_scored_on_the_rows_windows():
    """The rows' C4 bytes per token (loss over bits per byte) tell which scoring of the count model they match."""
    scoring = {"train": (100, 240, 36.0, 48.0), "whole": (300, 750, 35.0, 50.0)}  # tokens, bytes, C4 and WT2 PPL
    kn3 = {}
    for protocol, (tokens, n_bytes, c4, wt2) in scoring.items():
        kn3[f"c4_{protocol}"] = {"tokens": tokens, "bytes": n_bytes, "ppl": c4}
        kn3[f"wikitext2_{protocol}"] = {"tokens": tokens, "bytes": n_bytes, "ppl": wt2}
    ngram = {"models": {"kn3": kn3}}
    for protocol, (tokens, n_bytes, c4, wt2) in scoring.items():
        ppl = 50.0
        bpb = math.log(ppl) * tokens / (math.log(2) * n_bytes)  # a model scored on those windows
        rows = pd.DataFrame([{"ppl_c4": ppl, "bpb_c4": bpb}])
        assert figure7.trigram_ppl(ngram, rows) == (c4 + wt2) / 2, protocol
    assert figure7.trigram_ppl(ngram, pd.DataFrame([{"ppl_c4": 50.0, "bpb_c4": 1.0}])) is None  # another tokenizer
    assert figure7.trigram_ppl(None, pd.DataFrame([{"ppl": 50.0}])) is None
