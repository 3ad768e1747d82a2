"""Count-model baselines: interpolated Kneser-Ney n-gram models (Chen & Goodman 1999, Sec. 3.5) fitted on a
profile's training tokens and scored with the training run's validation protocol.

A transformer trained on a few million tokens has learned little if it does not beat a trigram count model
on the same tokens; these baselines are the floor every model-quality table is read against.

Order n, level k = n, n-1, ..., 1 (ctx is the last k-1 tokens of the context):

    P_k(w | ctx) = max(a_k(ctx w) - D_k, 0) / A_k(ctx) + D_k T_k(ctx) / A_k(ctx) * P_{k-1}(w | ctx[1:])
    P_0(w)       = 1 / V

a_n are the raw counts; a_k for k < n are continuation counts, the number of distinct tokens seen to the left
of the k-gram (N1+(. ctx w)). A_k(ctx) = sum_w a_k(ctx w), T_k(ctx) = #{w : a_k(ctx w) > 0}; a context never
seen (A_k = 0) leaves P_{k-1}. One discount per level, D_k = n1 / (n1 + 2 n2) from the counts of counts of a_k.

Scoring follows `train.evaluate`: non-overlapping windows of `seq_len` tokens from the start of a text, the
remainder dropped, each target predicted from the tokens of its own window only (the first target of a window
sees one token, as the transformer does). Everything is vectorised with numpy: fitting a trigram on 6M
tokens takes seconds.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm

from bitnet_repro.data import VAL_SETS, bits_per_byte, load_token_bytes, load_tokens
from bitnet_repro.eval.tasks.loaders import blimp
from bitnet_repro.train import validation_windows
from bitnet_repro.utils import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class _Level:
    """One level k of the model: sorted k-gram keys with their (continuation) counts, and per context the
    total A_k and the type count T_k (contexts as sorted keys; the empty context of k = 1 is key 0)."""

    keys: np.ndarray  # sorted int64 keys of k-grams, ctx * V + w
    counts: np.ndarray  # a_k of each key
    ctx_keys: np.ndarray  # sorted int64 keys of contexts
    ctx_total: np.ndarray  # A_k(ctx)
    ctx_types: np.ndarray  # T_k(ctx)
    discount: float


def _ngram_keys(tokens: np.ndarray, k: int, vocab: int) -> np.ndarray:
    """Key of every k-gram of the token stream: sum_i t_{j+i} V^(k-1-i), as int64."""
    t = np.asarray(tokens, dtype=np.int64)
    n = len(t) - k + 1
    key = np.zeros(n, dtype=np.int64)
    for i in range(k):
        key = key * vocab + t[i : i + n]
    return key


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int(np.sum(counts == 1)), int(np.sum(counts == 2))
    if n1 == 0:
        return 0.5
    return n1 / (n1 + 2 * n2)


def _level(keys: np.ndarray, counts: np.ndarray, vocab: int) -> _Level:
    ctx = keys // vocab
    ctx_keys, start = np.unique(ctx, return_index=True)  # keys are sorted, so contexts are contiguous runs
    total = np.add.reduceat(counts, start)
    types = np.diff(np.append(start, len(keys)))
    return _Level(keys, counts, ctx_keys, total.astype(np.float64), types.astype(np.float64), _discount(counts))


def _lookup(sorted_keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[i] where sorted_keys[i] == query, else 0."""
    if len(sorted_keys) == 0:
        return np.zeros(len(query), dtype=np.float64)
    idx = np.searchsorted(sorted_keys, query).clip(0, len(sorted_keys) - 1)
    hit = sorted_keys[idx] == query
    return np.where(hit, values[idx], 0).astype(np.float64)


def _contexts(t: np.ndarray, pos: np.ndarray, h: int) -> np.ndarray:
    """(len(pos), h): the h tokens ending at each position (clamped at 0; `ctx_len` says which are real)."""
    if h == 0:
        return np.zeros((len(pos), 0), dtype=np.int64)
    return np.stack([t[np.maximum(pos - h + 1 + i, 0)] for i in range(h)], axis=1)


class KneserNey:
    """An interpolated Kneser-Ney model of order `order` over ids 0..vocab-1."""

    def __init__(self, tokens: np.ndarray, order: int, vocab: int) -> None:
        if order < 1:
            raise ValueError(f"order={order} must be >= 1")
        if vocab**order >= 2**62:
            raise ValueError(f"vocab {vocab} ** order {order} does not fit the int64 keys")
        self.order, self.vocab = order, vocab
        self.levels: dict[int, _Level] = {}
        keys, counts = np.unique(_ngram_keys(tokens, order, vocab), return_counts=True)
        for k in range(order, 0, -1):
            self.levels[k] = _level(keys, counts.astype(np.float64), vocab)
            if k > 1:  # continuation counts of the (k-1)-grams: distinct left extensions of each
                keys, counts = np.unique(keys % vocab ** (k - 1), return_counts=True)

    def prob(self, context: np.ndarray, target: np.ndarray, ctx_len: np.ndarray | None = None) -> np.ndarray:
        """P(target | context) for a batch: context (N, order-1) ids (the most recent last), target (N,);
        ctx_len (N,) limits how many of the most recent context tokens each prediction may use."""
        target = np.asarray(target, dtype=np.int64)
        n = len(target)
        context = np.asarray(context, dtype=np.int64).reshape(n, max(0, self.order - 1))
        ctx_len = np.full(n, self.order - 1) if ctx_len is None else np.minimum(ctx_len, self.order - 1)
        p = np.full(n, 1.0 / self.vocab)
        for k in range(1, self.order + 1):
            lev = self.levels[k]
            ctx = np.zeros(n, dtype=np.int64)
            for i in range(k - 1):  # the last k-1 context tokens
                ctx = ctx * self.vocab + context[:, self.order - k + i]
            total = _lookup(lev.ctx_keys, lev.ctx_total, ctx)
            types = _lookup(lev.ctx_keys, lev.ctx_types, ctx)
            count = _lookup(lev.keys, lev.counts, ctx * self.vocab + target)
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            higher = np.maximum(count - lev.discount, 0) / safe + lev.discount * types / safe * p
            usable = seen & (ctx_len >= k - 1)
            p = np.where(usable, higher, p)
        return p

    def stream_prob(self, t: np.ndarray, pos: np.ndarray, ctx_len: np.ndarray) -> np.ndarray:
        """P(t[pos + 1] | the ctx_len tokens ending at t[pos]) for every position of `pos`."""
        return self.prob(_contexts(t, pos, self.order - 1), t[pos + 1], ctx_len=ctx_len)

    def score_windows(self, tokens: np.ndarray, seq_len: int, max_tokens: int) -> tuple[float, int, np.ndarray]:
        """(mean NLL in nats, number of targets, target ids) over the validation windows of `train.evaluate`."""

        t = np.asarray(tokens, dtype=np.int64)
        pos = np.arange(validation_windows(len(t), seq_len, max_tokens) * seq_len)  # the target is pos + 1
        p = self.stream_prob(t, pos, ctx_len=pos % seq_len + 1)  # only the tokens of its own window
        return float(-np.log(p).mean()), len(pos), t[pos + 1]


def sequence_logprob(lm: KneserNey, ids: list[int], n_context: int) -> float:
    """log P(ids[n_context:] | ids[:n_context]) in nats, each token conditioned on the tokens before it."""
    t = np.asarray(ids, dtype=np.int64)
    pos = np.arange(n_context - 1, len(t) - 1)
    return float(np.log(lm.stream_prob(t, pos, ctx_len=pos + 1)).sum())


def blimp_pairs(limit: int | None, data_dir: str | None = None) -> list[tuple[str, str]]:
    """(good, bad) sentence pairs of the 67 BLiMP paradigms, the first `limit` of each (lm-eval's `limit`)."""

    paradigms = sorted(p.stem for p in (Path(__file__).parent / "tasks" / "blimp").glob("*.yaml")
                       if not p.stem.startswith("_"))  # fmt: skip
    pairs = []
    for name in paradigms:
        rows = blimp(name, data_dir)["train"]
        n = len(rows) if limit is None else min(limit, len(rows))
        pairs += [(rows[i]["sentence_good"], rows[i]["sentence_bad"]) for i in range(n)]
    return pairs


def blimp_accuracy(lm: KneserNey, sp, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """BLiMP as lm-eval scores it (empty context -> the end-of-text token, continuation ' ' + sentence; correct
    when the good sentence is at least as likely as the bad one)."""
    eos = sp.eos_id()
    correct = [sequence_logprob(lm, [eos] + sp.encode(" " + good), 1)
               >= sequence_logprob(lm, [eos] + sp.encode(" " + bad), 1) for good, bad in pairs]  # fmt: skip
    acc = float(np.mean(correct))
    return {"acc": acc, "stderr": math.sqrt(acc * (1 - acc) / max(1, len(correct) - 1)), "n": len(correct)}


def fit_and_score(data_dir: Path, orders: list[int], seq_len: int, eval_tokens: int, out: Path,
                  profile: str = "custom", blimp_limit: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Fit each order on train.bin of `data_dir`, score every validation set under the training protocol
    (first `eval_tokens` tokens) and on the whole text (the `token_ppl` protocol of the evaluation tables);
    with `blimp_limit`, also BLiMP (that many pairs per paradigm)."""

    train = load_tokens(data_dir, "train")
    piece_bytes = load_token_bytes(data_dir)
    vocab = len(piece_bytes)
    manifest = json.loads((data_dir / "data.json").read_text())
    result: dict[str, Any] = {"profile": profile, "data": manifest.get("cache_key"), "train_tokens": int(len(train)),
                              "vocab_size": vocab, "seq_len": seq_len, "method": "interpolated Kneser-Ney "
                              "(Chen & Goodman 1999), one discount per order, numpy", "models": {}}  # fmt: skip
    sp = spm.SentencePieceProcessor(model_file=str(data_dir / "tokenizer.model"))
    pairs = blimp_pairs(blimp_limit) if blimp_limit else []
    val = {name: load_tokens(data_dir, f"val_{name}") for name in VAL_SETS}
    for order in orders:
        lm = KneserNey(train, order, vocab)
        entry: dict[str, Any] = {"discounts": {k: round(v.discount, 4) for k, v in lm.levels.items()}}
        for name, tokens in val.items():
            for protocol, cap in (("train", eval_tokens), ("whole", len(tokens))):
                nll, n, targets = lm.score_windows(tokens, seq_len, cap)
                n_bytes = int(piece_bytes[targets].sum())
                entry[f"{name}_{protocol}"] = {"loss": round(nll, 6), "ppl": round(math.exp(nll), 4),
                                               "bpb": round(bits_per_byte(nll, n, n_bytes), 6), "tokens": n,
                                               "bytes": n_bytes}  # fmt: skip
        if pairs:
            entry["blimp"] = blimp_accuracy(lm, sp, pairs)
        result["models"][f"kn{order}"] = entry
        log.info("KN order %d: %s", order, {k: v for k, v in entry.items() if k.endswith("_train")})
    atomic_write_text(out, json.dumps(result, indent=2))
    return result
