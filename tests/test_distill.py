"""BitDistill's losses against hand-computed values, and the q/k/v capture on a grouped-query model."""

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from bitnet_repro.config import ModelConfig
from bitnet_repro.distill import capture_qkv, logits_kd, relation_kd, relations
from bitnet_repro.model import Transformer


def test_logits_kd_is_the_tempered_kl():
    torch.manual_seed(0)
    s, t = torch.randn(2, 3, 7), torch.randn(2, 3, 7)
    assert logits_kd(t, t, 2.0).abs() < 1e-6
    expected = 0.0
    for row_s, row_t in zip(s.reshape(-1, 7), t.reshape(-1, 7)):
        p, q = F.softmax(row_t / 2.0, -1), F.softmax(row_s / 2.0, -1)
        expected += float((p * (p.log() - q.log())).sum())
    torch.testing.assert_close(logits_kd(s, t, 2.0), torch.tensor(4.0 * expected / 6), rtol=1e-5, atol=1e-6)


def test_relations_by_hand():
    """One head, two positions: row 0 relates only to itself, row 1 is a softmax over both."""
    x = torch.tensor([[[1.0, 0.0], [2.0, 1.0]]])  # (B=1, T=2, C=2)
    r = relations(x, heads=1).exp()[0, 0]
    assert torch.allclose(r[0], torch.tensor([1.0, 0.0]))
    s = torch.tensor([2.0, 5.0]) / math.sqrt(2)  # x1.x0 = 2, x1.x1 = 5
    assert torch.allclose(r[1], F.softmax(s, -1))
    with pytest.raises(ValueError, match="relation heads"):
        relations(torch.zeros(1, 2, 3), heads=2)


def test_relation_kd_zero_on_itself_causal_and_differentiable():
    torch.manual_seed(0)
    t = {n: torch.randn(2, 5, 12) for n in "qkv"}
    s = {n: torch.randn(2, 5, 8, requires_grad=True) for n in "qkv"}  # the student may be narrower
    assert relation_kd(t, t, heads=4).abs() < 1e-6
    loss = relation_kd(s, t, heads=4)
    loss.backward()
    assert loss > 0 and all(torch.isfinite(v.grad).all() for v in s.values())
    # causal: the last position does not enter the relations of earlier rows
    r1 = relations(s["q"].detach(), 4)
    changed = s["q"].detach().clone()
    changed[:, -1] += 10
    assert torch.equal(relations(changed, 4)[:, :, :-1, :-1], r1[:, :, :-1, :-1])


def test_capture_qkv_of_one_block():
    cfg = ModelConfig(vocab_size=50, d_model=48, n_layers=3, n_heads=6, n_kv_heads=2, d_ff=64, max_seq_len=16)
    model = Transformer(cfg)
    ids = torch.randint(0, 50, (2, 9))
    with capture_qkv(model, -1) as qkv:
        model(ids)
    assert qkv["q"].shape == (2, 9, 48) and qkv["k"].shape == (2, 9, 16) and qkv["v"].shape == (2, 9, 16)
    h = model.embed_tokens(ids)
    cos, sin = model.rope_cos[:9], model.rope_sin[:9]
    for block in model.layers[:-1]:
        h = block(h, cos, sin)
    last = model.layers[-1]
    x = last.attn_quant(last.input_layernorm(h))
    torch.testing.assert_close(qkv["k"], last.self_attn.k_proj(x))
    model(ids)  # hooks are gone after the block
    assert not any(m._forward_hooks for m in model.modules())


# --- the distillation training mode (train.train with a `distill` section) ------------------------------------


def _teacher(tmp_path, tied=False):
    """A tiny FP16 teacher checkpoint of the smoke profile's tiny-1 shape (a tied head as SmolLM2's, or not)."""
    from bitnet_repro.checkpoint import save_model_dir

    run = _student_run("unused", variant="fp16", tied=tied)
    torch.manual_seed(1)
    teacher = Transformer(run.model)
    with torch.no_grad():
        for p in teacher.parameters():
            p.mul_(5.0)  # a teacher with opinions: far from the uniform distribution
    save_model_dir(tmp_path / "teacher", teacher.state_dict(), run, {})
    return tmp_path / "teacher"


def _student_run(teacher, variant="bitnet_b158", tied=False, **distill):
    from bitnet_repro.config import DataConfig, DistillConfig
    from bitnet_repro.profile import load_profile, make_run

    t = dict(steps=8, warmup_steps=2, eval_every=4, ckpt_every=2, eval_tokens=512)
    run = make_run(load_profile("smoke"), DataConfig(vocab_size=512), "tiny-1", variant, {"tie_embeddings": tied}, t)
    if variant == "fp16":
        return run
    d = dict(teacher=str(teacher), logit_weight=1.0, relation_weight=10.0, temperature=2.0, cpt_steps=2)
    return replace(run, distill=DistillConfig(**{**d, **distill}))


def _kl_to_teacher(student_dir, teacher_dir, tokens):
    from bitnet_repro.checkpoint import load_model_dir

    student, teacher = load_model_dir(student_dir)[0].eval(), load_model_dir(teacher_dir)[0].eval()
    x = torch.as_tensor(tokens[:4 * 64].astype("int64")).view(4, 64)
    with torch.no_grad():
        return float(logits_kd(student(x)[0], teacher(x)[0]))


@pytest.mark.parametrize("tied", [False, True])
def test_distillation_run_starts_from_the_teacher_resumes_bitwise_and_pulls_towards_it(token_dir, tmp_path, tied):
    import json

    import numpy as np
    from safetensors.torch import load_file

    from bitnet_repro.distill import init_student, load_teacher
    from bitnet_repro.train import train

    teacher_dir = _teacher(tmp_path, tied)
    run = _student_run(teacher_dir, tied=tied)
    assert run.run_id != replace(run, distill=None).run_id  # the distillation settings are part of the run id
    teacher = load_teacher(str(teacher_dir))
    student = init_student(run.model, teacher)
    assert torch.equal(student.layers[0].mlp.up_proj.weight, teacher.layers[0].mlp.up_proj.weight)

    summary = train(run, token_dir, tmp_path / "full", progress=False)
    assert summary["status"] == "completed" and summary["teacher"] == str(teacher_dir)
    assert summary["teacher_val_c4_loss"] > 0 and summary["teacher_val_c4_loss"] != summary["val_c4_loss"]
    records = [json.loads(line) for line in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    assert "logits_kd" not in records[1] and {"ce", "logits_kd", "relation_kd"} <= set(records[2])  # cpt_steps=2
    train(run, token_dir, tmp_path / "resumed", progress=False, stop_after=5)
    train(run, token_dir, tmp_path / "resumed", progress=False)
    a = load_file(str(tmp_path / "full/model/model.safetensors"))
    b = load_file(str(tmp_path / "resumed/model/model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)

    qat = replace(run, distill=replace(run.distill, logit_weight=0, relation_weight=0))
    train(qat, token_dir, tmp_path / "qat", progress=False)  # the same start and steps, no distillation terms
    tokens = np.fromfile(token_dir / "val_c4.bin", dtype=np.uint16)
    assert _kl_to_teacher(tmp_path / "full/model", teacher_dir, tokens) < _kl_to_teacher(
        tmp_path / "qat/model", teacher_dir, tokens)


def test_bad_teachers_and_students_stop_clearly(token_dir, tmp_path):
    from bitnet_repro.config import ConfigError
    from bitnet_repro.distill import DistillError, init_student, load_teacher
    from bitnet_repro.train import train

    with pytest.raises(DistillError, match="neither a pretrained model"):
        train(_student_run(tmp_path / "nowhere"), token_dir, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint").exists()
    teacher_dir = _teacher(tmp_path)
    ternary = tmp_path / "b158"
    train(_student_run(teacher_dir, logit_weight=0, relation_weight=0), token_dir, ternary, progress=False)
    with pytest.raises(DistillError, match="a teacher is full precision"):
        load_teacher(str(ternary / "model"))
    wide = ModelConfig(vocab_size=512, d_model=64, n_layers=2, n_heads=4, d_ff=96, linear="bitnet_b158", arch="subln")
    with pytest.raises(DistillError, match="d_model: student 64"):
        init_student(wide, load_teacher(str(teacher_dir)))
    with pytest.raises(ConfigError, match="a BitNet model"):
        replace(_student_run(teacher_dir), model=_student_run("x", "fp16").model)


def test_bitdistill_table_reads_students_against_the_teacher(tmp_path):
    import json

    from bitnet_repro.paper import bitdistill

    files = []
    for arm, (w, loss) in {"bitdistill": (1.0, 4.0), "qat": (0.0, 4.5)}.items():
        d = tmp_path / arm
        d.mkdir()
        summary = {"name": f"bitdistill-{arm}", "run_id": f"bitdistill-{arm}-x", "tokens": 1000, "status": "completed",
                   "wall_time_s": 10.0, "device": "cpu", "teacher": "smollm2-135m",
                   **{f"val_{n}_loss": loss for n in ("c4", "indomain", "wikitext2")},
                   **{f"val_{n}_bpb": loss / 2 for n in ("c4", "indomain", "wikitext2")},
                   **{f"teacher_val_{n}_loss": 3.0 for n in ("c4", "indomain", "wikitext2")}}  # fmt: skip
        config = {"distill": {"logit_weight": w, "relation_weight": w, "temperature": 5.0, "cpt_steps": 2}}
        (d / "summary.json").write_text(json.dumps(summary))
        (d / "config.json").write_text(json.dumps(config))
        files.append(d)
    ngram = {"train_tokens": 10, "models": {"kn3": {f"{n}_train": {"loss": 1.0, "ppl": 2.7, "bpb": 1.9}
                                                    for n in ("c4", "indomain", "wikitext2")}}}  # fmt: skip
    rows = bitdistill.run([f / "summary.json" for f in files], [f / "config.json" for f in files],
                          tmp_path / "t.csv", tmp_path / "t.md", "test", ngram)  # fmt: skip
    assert rows[0]["val_c4_bpb"] == 1.5  # the teacher's bits per byte from the students' bytes per token
    md = (tmp_path / "t.md").read_text()
    assert "BitDistill beats ternary QAT without distillation at equal tokens (1,000): yes" in md
    assert "+0.500 / +0.500 / +0.500" in md and "bitdistill +1.000 nats" in md
    assert "| Kneser-Ney trigram (count model, the profile's own tokens) | - |  | - (1.900) |" in md
    assert "bitdistill n-gram level; qat n-gram level" in md  # bpb 2.0 and 2.25 against the floor's 1.9


def test_bitdistill_sweep_table_ranks_the_weight_pairs(tmp_path):
    import json

    from bitnet_repro.paper import bitdistill_sweep

    files = []
    for (lw, rw), loss in {(1, 1): 6.0, (10, 1): 5.5, (1, 10): 6.2}.items():
        d = tmp_path / f"{lw}-{rw}"
        d.mkdir()
        summary = {"run_id": f"distill-sweep-{lw}-{rw}-x", "tokens": 1000, "status": "completed",
                   "wall_time_s": 10.0, "device": "cpu",
                   **{f"val_{n}_loss": loss for n in ("c4", "indomain", "wikitext2")},
                   **{f"teacher_val_{n}_loss": 3.0 for n in ("c4", "indomain", "wikitext2")}}  # fmt: skip
        config = {"train": {"steps": 8}, "distill": {"logit_weight": lw, "relation_weight": rw, "temperature": 5.0,
                                                    "layer": -1, "cpt_steps": 4}}  # fmt: skip
        (d / "summary.json").write_text(json.dumps(summary))
        (d / "config.json").write_text(json.dumps(config))
        files.append(d)
    rows = bitdistill_sweep.run([f / "summary.json" for f in files], [f / "config.json" for f in files], [1.0, 1.0],
                                tmp_path / "t.csv", tmp_path / "t.md", "test")  # fmt: skip
    assert [(r["logit_weight"], r["relation_weight"]) for r in rows] == [(10, 1), (1, 1), (1, 10)]
    md = (tmp_path / "t.md").read_text()
    assert "Lowest mean validation loss: logits 10, relations 1 (5.500 nats); the settings span 0.700 nats" in md
    assert "The profile's weights (1, 1) rank 2 of 3, +0.500 nats from the best." in md
    row = "| 1, 1 (profile's choice) | 6.000 | 6.000 | 6.000 | 6.000 | +0.500 | +3.000 / +3.000 / +3.000 | - |  | 10 |"
    assert row in md  # no bits per byte in these summaries and no count models given: no level


def test_the_kd_terms_switching_on_is_not_a_divergence(token_dir, tmp_path):
    """At cpt_steps the objective gains its weighted KD terms, far above the cross-entropy alone; divergence is
    judged on the cross-entropy, so the run goes on (the loss weights of a sweep were stopped here as diverged)."""
    import json

    from bitnet_repro.train import train

    run = _student_run(_teacher(tmp_path), logit_weight=100.0, relation_weight=100.0, cpt_steps=2)
    run = replace(run, train=replace(run.train, steps=4, eval_every=4))
    summary = train(run, token_dir, tmp_path / "run", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert rows[2]["loss"] > run.train.diverge_factor * min(r["loss"] for r in rows[:2])  # the jump is there
    assert summary["status"] == "completed" and "diverged_at_step" not in summary


def test_sigkill_of_a_distillation_run_then_resume(token_dir, tmp_path):
    """A real SIGKILL of a distillation run (teacher loaded, relation and logits terms on) past its continued
    pre-training; the rerun resumes from its checkpoint and ends bitwise where an uninterrupted run ends."""
    from bitnet_repro.checks import kill_and_resume

    run = _student_run(_teacher(tmp_path, tied=True), tied=True, cpt_steps=10)
    run = replace(run, train=replace(run.train, steps=300, ckpt_every=20, eval_every=300))
    result = kill_and_resume(run, token_dir, tmp_path / "work", tmp_path / "resume.json")
    assert result["resumed_from_step"] >= 20 and result["killed_after_step"] >= result["resumed_from_step"]
    assert result["final_weights_bitwise_equal"] and result["max_abs_weight_difference"] == 0.0
