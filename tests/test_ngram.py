"""Kneser-Ney count baselines: hand-computed values, a loop-by-loop reference, normalisation, the protocol."""

from collections import defaultdict

import numpy as np
import pytest

from bitnet_repro.eval.ngram import KneserNey


def test_bigram_hand_computed():
    # Corpus 0 1 0 1 2, V = 3. Bigram counts {01: 2, 10: 1, 12: 1}: n1 = 2, n2 = 1, D2 = 2 / (2 + 2) = 0.5.
    # Unigram continuation counts (distinct left neighbours): 0 <- {1}, 1 <- {0}, 2 <- {1}: all 1, so
    # n1 = 3, n2 = 0, D1 = 1 and P1(w) = 0 + 1 * 3/3 * 1/3 = 1/3.
    # P(1|0) = (2 - 0.5)/2 + 0.5 * 1/2 * 1/3 = 0.75 + 1/12;  P(0|0) = P(2|0) = 1/12
    # P(0|1) = (1 - 0.5)/2 + 0.5 * 2/2 * 1/3 = 0.25 + 1/6;   P(1|1) = 1/6
    # P(w|2): context never seen -> P1(w) = 1/3
    lm = KneserNey(np.array([0, 1, 0, 1, 2]), order=2, vocab=3)
    assert lm.levels[2].discount == 0.5 and lm.levels[1].discount == 1.0
    ctx = np.array([[0], [0], [0], [1], [1], [1], [2]])
    tgt = np.array([1, 0, 2, 0, 1, 2, 0])
    want = [0.75 + 1 / 12, 1 / 12, 1 / 12, 0.25 + 1 / 6, 1 / 6, 0.25 + 1 / 6, 1 / 3]
    np.testing.assert_allclose(lm.prob(ctx, tgt), want, rtol=1e-12)


def test_unigram_hand_computed():
    # Order 1 uses raw counts: c = {0: 2, 1: 2, 2: 1}, n1 = 1, n2 = 2, D = 1/5; V = 4 (id 3 never seen).
    # P(w) = max(c - 0.2, 0)/5 + 0.2 * 3/5 * 1/4
    lm = KneserNey(np.array([0, 1, 0, 1, 2]), order=1, vocab=4)
    p = lm.prob(np.zeros((4, 0)), np.arange(4))
    np.testing.assert_allclose(p, [1.8 / 5 + 0.03, 1.8 / 5 + 0.03, 0.8 / 5 + 0.03, 0.03], rtol=1e-12)
    assert p.sum() == pytest.approx(1.0)


def reference_kn(tokens, order, vocab):
    """Interpolated Kneser-Ney written with dicts and loops, as in the textbook."""
    counts = {k: defaultdict(float) for k in range(1, order + 1)}
    for i in range(len(tokens) - order + 1):
        counts[order][tuple(tokens[i : i + order])] += 1
    for k in range(order - 1, 0, -1):
        left = defaultdict(set)
        for gram in counts[k + 1]:
            left[gram[1:]].add(gram[0])
        counts[k] = defaultdict(float, {g: float(len(s)) for g, s in left.items()})
    disc = {}
    for k, c in counts.items():
        n1 = sum(1 for v in c.values() if v == 1)
        n2 = sum(1 for v in c.values() if v == 2)
        disc[k] = n1 / (n1 + 2 * n2) if n1 else 0.5

    def prob(ctx, w):
        p = 1.0 / vocab
        for k in range(1, order + 1):
            h = tuple(ctx[len(ctx) - (k - 1) :]) if k > 1 else ()
            if len(h) < k - 1:
                break
            total = sum(v for g, v in counts[k].items() if g[:-1] == h)
            if total == 0:
                continue
            types = sum(1 for g, v in counts[k].items() if g[:-1] == h and v > 0)
            p = max(counts[k].get(h + (w,), 0.0) - disc[k], 0) / total + disc[k] * types / total * p
        return p

    return prob


def test_trigram_matches_reference_and_normalises():
    rng = np.random.default_rng(0)
    tokens = rng.choice(5, size=300, p=[0.4, 0.3, 0.15, 0.1, 0.05])
    lm = KneserNey(tokens, order=3, vocab=6)
    ref = reference_kn(list(tokens), 3, 6)
    contexts = [(a, b) for a in range(6) for b in range(6)]
    for a, b in contexts:
        p = lm.prob(np.array([[a, b]] * 6), np.arange(6))
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        np.testing.assert_allclose(p, [ref([a, b], w) for w in range(6)], rtol=1e-10)
    # a shortened context (first targets of a window) is the bigram level
    p = lm.prob(np.array([[4, 1]] * 6), np.arange(6), ctx_len=np.ones(6, dtype=int))
    np.testing.assert_allclose(p, [ref([1], w) for w in range(6)], rtol=1e-10)
    assert p.sum() == pytest.approx(1.0)


def test_windows_follow_the_training_protocol():
    tokens = np.arange(20) % 4
    lm = KneserNey(tokens, order=3, vocab=4)
    nll, n, targets = lm.score_windows(tokens, seq_len=5, max_tokens=12)
    assert n == 10  # two windows of 5, the remainder dropped
    np.testing.assert_array_equal(targets, tokens[1:11])
    # the first target of each window sees one token: a deterministic cycle is then still predicted well
    assert 0 < nll < np.log(4)
