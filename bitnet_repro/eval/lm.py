"""The suite's models as an lm-evaluation-harness model type.

`SuiteLM` is an `lm_eval.api.model.TemplateLM` registered as `bitnet_repro`. It scores any causal LM through a
small engine (`SuiteLM.engine`) that knows how to tokenize and how to run the model. (Not `.backend`: that
attribute is TemplateLM's "causal"/"seq2seq" switch, and shadowing it silently tokenizes continuations apart.)

- `SuiteEngine`: a checkpoint directory of this suite (FP16, BitNet b1, BitNet b1.58, any arch) with the
  SentencePiece tokenizer it was trained with. Documents were trained as `tokens + EOS`, so EOS is both the
  end-of-text and the prefix token of an empty context (lm-eval's convention when a model has no BOS).
- `SuitePretrainedTokensEngine`: a checkpoint of this suite trained on a pretrained model's tokenizer (BitDistill's
  students of SmolLM2), tokenized as `HFEngine` tokenizes that model.
- `HFEngine`: any `transformers` causal LM, e.g. SmolLM2-135M-Instruct loaded from its GGUF file, or an FP16
  checkpoint converted to `LlamaForCausalLM`. Its tokenization and prefix token follow lm-eval's stock `hf`
  model type exactly, so both model types give the same scores (tests/test_eval.py).

Scoring follows lm-eval's `hf` model type: each request is `(context + continuation)[-(max_length + 1):][:-1]`,
requests are sorted longest first and right-padded into batches, and only the continuation positions go
through the output head (a saving of ~20% on SmolLM2, whose head is a fifth of its weights).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # everything is local: never reach for the hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import lm_eval.models  # noqa: E402, F401  # registers the stock model types first (else `hf` can go missing)
import sentencepiece as spm
from lm_eval.api.model import TemplateLM  # noqa: E402
from lm_eval.api.registry import register_model  # noqa: E402
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window  # noqa: E402

from bitnet_repro.checkpoint import load_model_dir
from bitnet_repro.data import cache_key
from bitnet_repro.precision import autocast as precision_autocast
from bitnet_repro.precision import resolve_precision
from bitnet_repro.pretrained import PRETRAINED, ModelLoadError, load_hf_gguf, load_pretrained_tokenizer, package_dir

# transformers is imported where used: heavy (seconds to import) and needed by few commands

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------------
# Engines: tokenizer + forward pass
# ------------------------------------------------------------------------------------------------------


class SuiteEngine:
    """A checkpoint directory of this suite and its SentencePiece tokenizer."""

    kind = "bitnet_repro"

    def __init__(self, model, sp, name: str, run_config=None, max_length: int | None = None) -> None:
        if max_length:
            model.extend_context(max_length)
        self.model, self.sp, self.name, self.run_config = model.eval(), sp, name, run_config
        self.max_length = model.cfg.max_seq_len
        self.vocab_size = model.cfg.vocab_size
        if sp is not None:
            self.eot_id = self.prefix_id = sp.eos_id()

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode(ids)

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        m = self.model
        T = idx.shape[1]
        x = m.embed_tokens(idx)
        for block in m.layers:
            x = block(x, m.rope_cos[:T], m.rope_sin[:T])
        return m.norm(x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(h)


class HFTokens:
    """Tokenization of a `transformers` tokenizer the way lm-eval's `hf` model type does it."""

    def use_tokenizer(self, tokenizer) -> None:
        self.tok = tokenizer
        self.eot_id = tokenizer.eos_token_id
        self.prefix_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id

    def encode(self, text: str, add_special_tokens: bool | None = None) -> list[int]:
        # lm-eval's hf type: None -> the tokenizer's own default, unless the string already starts with BOS
        kwargs = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        if add_special_tokens is None and self.tok.bos_token and text.startswith(self.tok.bos_token):
            kwargs["add_special_tokens"] = False
        return self.tok.encode(text, **kwargs)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)


class HFEngine(HFTokens):
    """A `transformers` causal LM and its tokenizer, tokenized the way lm-eval's `hf` model type does."""

    kind = "hf"

    def __init__(self, model, tokenizer, name: str, max_length: int | None = None) -> None:
        self.model, self.name = model.eval(), name
        self.use_tokenizer(tokenizer)
        self.max_length = max_length or getattr(model.config, "max_position_embeddings", 2048)
        self.vocab_size = model.config.vocab_size

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model.model(input_ids=idx).last_hidden_state

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head(h)


class SuitePretrainedTokensEngine(HFTokens, SuiteEngine):
    """A checkpoint of this suite trained on a pretrained model's tokenizer (`data.tokenizer`, e.g. a BitDistill
    student of SmolLM2): our forward pass, and that tokenizer exactly as `HFEngine` uses it, so the student is
    scored as its teacher is."""

    def __init__(self, model, tokenizer, name: str, run_config=None, max_length: int | None = None) -> None:
        SuiteEngine.__init__(self, model, None, name, run_config, max_length)
        self.use_tokenizer(tokenizer)


def not_a_model(spec: str) -> str:
    """Why `--model spec` names no model: under results/<profile>/runs/<run_id>/, a run not trained yet (and the
    Snakemake target that trains it); elsewhere, neither a checkpoint directory nor a pretrained name."""
    parts = Path(spec).parts
    for i in range(len(parts) - 3):
        if parts[i] == "results" and parts[i + 2] == "runs":
            profile, run = parts[i + 1], "/".join(parts[i : i + 4])
            return (f"--model {spec}: the model is not trained yet. Train it with `snakemake {run}/summary.json "
                    f"--config profile={profile} --cores 2`, or every run of the profile with `snakemake train "
                    f"--config profile={profile} --cores 2`")  # fmt: skip
    return f"--model {spec!r} is neither a checkpoint directory nor a known pretrained name ({', '.join(PRETRAINED)})"


def load_engine(spec: str, tokenizer: str | None = None, device: str = "cpu", max_length: int | None = None):
    """A scoring engine for `spec`: a registered pretrained name (`smollm2-135m`), a checkpoint directory of
    this suite, or a Hugging Face model directory (one with a `transformers` config)."""
    if spec in PRETRAINED:
        package, gguf_file = PRETRAINED[spec]
        model, tok = load_hf_gguf(package_dir(package), gguf_file)
        return HFEngine(model.to(device), tok, spec, max_length)
    path = Path(spec)
    if not path.is_dir():
        raise ModelLoadError(not_a_model(spec))
    config = path / "config.json"
    if config.is_file() and '"model_type"' in config.read_text():  # a transformers directory
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        return HFEngine(model.to(device), AutoTokenizer.from_pretrained(path), str(path), max_length)

    model, cfg = load_model_dir(path, device=device)
    if cfg.data.tokenizer and not tokenizer:  # trained on a pretrained model's tokenizer (BitDistill)
        return SuitePretrainedTokensEngine(model, load_pretrained_tokenizer(cfg.data.tokenizer), str(path), cfg,
                                           max_length)  # fmt: skip
    tok_path = Path(tokenizer) if tokenizer else find_tokenizer(path, cfg)
    return SuiteEngine(model, spm.SentencePieceProcessor(model_file=str(tok_path)), str(path), cfg, max_length)


def find_tokenizer(model_dir: Path, cfg) -> Path:
    """The SentencePiece model a checkpoint was trained with: beside the weights, else the profile's token cache
    (results/<profile>/data/<cache_key>/, two levels above runs/<run_id>/model/)."""

    candidates = [model_dir / "tokenizer.model",
                  model_dir.resolve().parents[2] / "data" / cache_key(cfg.data) / "tokenizer.model"]  # fmt: skip
    for c in candidates:
        if c.is_file():
            return c
    raise ModelLoadError(
        f"no tokenizer for {model_dir}: looked for {', '.join(map(str, candidates))}. Pass --tokenizer "
        "path/to/tokenizer.model, or rebuild it with `python -m bitnet_repro data --profile <profile>`."
    )


# ------------------------------------------------------------------------------------------------------
# The lm-eval model type
# ------------------------------------------------------------------------------------------------------


@register_model("bitnet_repro")
class SuiteLM(TemplateLM):
    """lm-eval model type for every model of the suite (and any `transformers` causal LM).

    From the command line of lm-eval: `--model bitnet_repro --model_args pretrained=<dir|smollm2-135m>`."""

    def __init__(self, engine=None, pretrained: str | None = None, batch_size: int | str = 32,
                 tokenizer: str | None = None, device: str = "cpu", max_length: int | None = None,
                 batch_tokens: int | None = None, precision: str = "fp32", **kwargs: Any) -> None:  # fmt: skip
        super().__init__()
        if engine is None:
            if pretrained is None:
                raise ValueError("SuiteLM needs an engine or pretrained=<checkpoint dir | pretrained name>")
            engine = load_engine(pretrained, tokenizer=tokenizer, device=device, max_length=max_length)
        self.engine = engine
        self.batch_size = int(batch_size) if str(batch_size).isdigit() else 32
        # With a token budget, a batch holds as many rows as fit (short BLiMP pairs: hundreds per batch).
        self.batch_tokens = int(batch_tokens) if batch_tokens else None
        self._device = next(engine.model.parameters()).device
        self.n_tokens = 0  # tokens run through the model, for throughput reports
        # fp32, or bf16 autocast (`auto`: where the device has bf16 matrix units; bitnet_repro/precision.py)
        self.precision = resolve_precision(precision, self._device.type)
        self.autocast = precision_autocast(self.precision, self._device)

    # -- TemplateLM interface --------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.engine.eot_id

    @property
    def prefix_token_id(self) -> int:
        return self.engine.prefix_id

    @property
    def max_length(self) -> int:
        return self.engine.max_length

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.engine.encode(string, add_special_tokens)

    def tok_decode(self, tokens: list[int], **kwargs) -> str:
        return self.engine.decode(tokens)

    @torch.no_grad()
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        rows = []
        for i, (_, context_enc, continuation_enc) in enumerate(requests):
            inp = (context_enc + continuation_enc)[-(self.max_length + 1) :][:-1]
            cont = continuation_enc[-len(inp) :] if len(continuation_enc) > len(inp) else continuation_enc
            rows.append((i, inp, cont))
        rows.sort(key=lambda r: -len(r[1]))  # longest first: least padding, and a too-long input fails at once
        out: list[tuple[float, bool] | None] = [None] * len(rows)
        batches, start = [], 0
        while start < len(rows):  # rows are sorted longest first: the first row of a batch sets its width
            bs = override_bs or (max(1, self.batch_tokens // len(rows[start][1])) if self.batch_tokens
                                 else self.batch_size)  # fmt: skip
            batches.append(rows[start : start + bs])
            start += bs
        for batch in tqdm(batches, desc="scoring", disable=disable_tqdm or len(batches) <= 1):
            width = len(batch[0][1])
            idx = torch.zeros(len(batch), width, dtype=torch.long)  # right-padded: causal, so harmless
            for b, (_, inp, _) in enumerate(batch):
                idx[b, : len(inp)] = torch.tensor(inp)
            self.n_tokens += sum(len(r[1]) for r in batch)
            # only the positions that predict the continuation go through the output head
            pos = torch.cat([torch.arange(len(inp) - len(cont), len(inp)) + b * width
                             for b, (_, inp, cont) in enumerate(batch)])  # fmt: skip
            with self.autocast():
                h = self.engine.hidden(idx.to(self.device))
                logits = self.engine.head(h.flatten(0, 1)[pos.to(h.device)])
            logp = F.log_softmax(logits.float(), dim=-1)
            target = torch.tensor([t for _, _, cont in batch for t in cont], device=logp.device)
            token_lp = logp.gather(1, target[:, None])[:, 0].cpu()
            missed = (logp.argmax(-1) != target).cpu()
            ends = torch.tensor([len(cont) for _, _, cont in batch]).cumsum(0)
            starts = ends - ends.diff(prepend=torch.zeros(1, dtype=ends.dtype))
            for (i, _, _), s, e in zip(batch, starts.tolist(), ends.tolist()):
                score, greedy = float(token_lp[s:e].sum()), not bool(missed[s:e].any())
                out[i] = (score, greedy)
                self.cache_hook.add_partial("loglikelihood", requests[i][0], (score, greedy))
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Sum of token log-probabilities of each whole string, in disjoint windows of `max_length` (lm-eval's
        protocol, as its `hf` model type)."""
        windows, owners = [], []
        for r, (string,) in enumerate(req.args for req in requests):
            for w in map(make_disjoint_window, get_rolling_token_windows(
                    token_list=self.tok_encode(string), prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length, context_len=1)):  # fmt: skip
                windows.append((None, *w))
                owners.append(r)
        scores = self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
        totals = [0.0] * len(requests)
        for r, (score, _) in zip(owners, scores):
            totals[r] += score
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    @torch.no_grad()
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy decoding until a stop string or `max_gen_toks` (no sampling: the paper's tasks score
        log-likelihoods; this serves generative tasks a user adds)."""
        results = []
        for req in tqdm(requests, desc="generating", disable=disable_tqdm):
            context, gen_kwargs = req.args
            until = gen_kwargs.get("until") or [self.tok_decode([self.eot_token_id])]
            until = [until] if isinstance(until, str) else list(until)
            max_gen = int(gen_kwargs.get("max_gen_toks", 256))
            ids = self.tok_encode(context)[-(self.max_length - 1) :] or [self.prefix_token_id]
            new: list[int] = []
            text = ""
            for _ in range(max_gen):
                window = (ids + new)[-self.max_length :]
                with self.autocast():
                    h = self.engine.hidden(torch.tensor([window], device=self.device))
                    nxt = int(self.engine.head(h[0, -1]).argmax())
                if nxt == self.eot_token_id:
                    break
                new.append(nxt)
                text = self.tok_decode(new)
                if any(s in text for s in until):
                    break
            for s in until:
                text = text.split(s)[0]
            results.append(text)
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
        return results
