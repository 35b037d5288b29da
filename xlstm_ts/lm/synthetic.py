"""Synthetic tasks: multi-query associative recall (MQAR) and parity (state tracking).

Both train on short sequences and test on longer ones. ``python -m xlstm_ts.lm synthetic`` trains
an mLSTM-only xLSTM, an sLSTM-containing xLSTM and a parameter-matched Transformer (rotary
positions, so it runs at any length) on each task and writes ``synthetic.md`` / ``synthetic.json``.

- MQAR (Zoology): ``k1 v1 k2 v2 ... kN vN | q1 a1 q2 a2 ...``; keys and values come from disjoint
  vocabularies, keys are distinct, each query is one of the keys and the model must emit its
  value at the query position. Trained with 4..16 pairs (as many queries), tested with 16 pairs
  (in distribution), 16 pairs followed by 112 queries (4x longer, same memory load: length
  generalisation alone) and 64 pairs (4x longer and 4x more pairs to hold).
- Parity: a random bit string; at every position the label is the parity of the bits so far.
  Trained on length 32 (every prefix is supervised), tested on length 32 and on positions
  33..256 of length-256 strings (chance: 50%).
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset

from xlstm_ts._atomic import atomic_write_json, atomic_write_text
from xlstm_ts.nn import MLSTMLayerConfig, SLSTMLayerConfig, XLSTMStackConfig

from ._checks import check_positive, check_subset
from .base import LanguageModel
from .parity import machine
from .training import train_lm
from .transformer import TransformerLanguageModel, match_transformer
from .xlstm_lm import XLSTMLanguageModel, XLSTMLMConfig

IGNORE = -100


# ----------------------------------------------------------------------------- task generators
def mqar_batch(batch: int, num_pairs: int, num_queries: int, num_keys: int, g: torch.Generator):
    """``(x, y)`` of shape ``(batch, 2 * (num_pairs + num_queries))``; vocabulary ``2 * num_keys``
    (keys ``0..K-1``, values ``K..2K-1``); ``y`` is ``IGNORE`` except at query positions."""
    if num_pairs > num_keys:
        raise ValueError(f"{num_pairs} pairs need at least as many keys; num_keys={num_keys}")
    keys = torch.argsort(torch.rand(batch, num_keys, generator=g), dim=1)[:, :num_pairs]
    values = num_keys + torch.randint(0, num_keys, (batch, num_pairs), generator=g)
    pick = torch.stack([torch.randperm(num_pairs, generator=g)[:num_queries] if num_queries <= num_pairs
                        else torch.randint(0, num_pairs, (num_queries,), generator=g) for _ in range(batch)])
    q, a = keys.gather(1, pick), values.gather(1, pick)
    x = torch.cat([torch.stack([keys, values], 2).flatten(1), torch.stack([q, a], 2).flatten(1)], 1)
    y = torch.full_like(x, IGNORE)
    qpos = 2 * num_pairs + 2 * torch.arange(num_queries)
    y[:, qpos] = a
    return x, y


def parity_batch(batch: int, length: int, g: torch.Generator, score_from: int = 0):
    """Bits ``x (batch, length)`` and running parities ``y``; positions before ``score_from`` are ignored."""
    x = torch.randint(0, 2, (batch, length), generator=g)
    y = x.cumsum(1) % 2
    if score_from:
        y[:, :score_from] = IGNORE
    return x, y


class _Stream(IterableDataset):
    def __init__(self, fn, seed: int):
        self.fn, self.seed = fn, seed

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed)
        while True:
            yield self.fn(g)


@dataclass
class TaskSpec:
    name: str
    vocab_size: int
    steps: int
    batch_size: int
    train_fn: object  # (generator) -> (x, y)
    tests: dict  # label -> (generator) -> (x, y)
    tokens_per_step: int


def make_tasks(spec: SyntheticSpec) -> dict[str, TaskSpec]:
    K, B = spec.mqar_keys, spec.batch_size

    def mqar_train(g):
        n = int(torch.randint(spec.mqar_train_pairs[0], spec.mqar_train_pairs[1] + 1, (1,), generator=g))
        return mqar_batch(B, n, n, K, g)

    n_id, n_ood = spec.mqar_train_pairs[1], spec.mqar_test_pairs
    tasks = {
        "mqar": TaskSpec("mqar", 2 * K, spec.steps or spec.mqar_steps, B, mqar_train, {
            f"{n_id} pairs (len {4 * n_id}, in distribution)": lambda g: mqar_batch(spec.test_size, n_id, n_id, K, g),
            f"{n_id} pairs, {n_ood * 2 - n_id} queries (len {4 * n_ood})":
                lambda g: mqar_batch(spec.test_size, n_id, 2 * n_ood - n_id, K, g),
            f"{n_ood} pairs (len {4 * n_ood})": lambda g: mqar_batch(spec.test_size, n_ood, n_ood, K, g),
        }, B * 4 * n_id),
        "parity": TaskSpec("parity", 2, spec.steps or spec.parity_steps, B,
                           lambda g: parity_batch(B, spec.parity_train_len, g), {
            f"len {spec.parity_train_len} (in distribution)":
                lambda g: parity_batch(spec.test_size, spec.parity_train_len, g),
            f"positions {spec.parity_train_len + 1}-{spec.parity_test_len} of len {spec.parity_test_len}":
                lambda g: parity_batch(spec.test_size, spec.parity_test_len, g, score_from=spec.parity_train_len),
        }, B * spec.parity_train_len),
    }
    return {k: tasks[k] for k in spec.tasks}


# ----------------------------------------------------------------------------- models
SYNTHETIC_TASKS = ("mqar", "parity")


@dataclass
class SyntheticSpec:
    tasks: list[str] = field(default_factory=lambda: ["mqar", "parity"])
    models: list[str] = field(default_factory=lambda: ["mLSTM xLSTM[1:0]", "sLSTM xLSTM[1:1]", "Transformer"])
    embedding_dim: int = 64
    num_blocks: int = 2
    num_heads: int = 4
    batch_size: int = 32
    steps: int | None = None  # overrides the per-task defaults below
    mqar_steps: int = 1500
    parity_steps: int = 1000
    learning_rate: float = 3e-3
    mqar_keys: int = 64
    mqar_train_pairs: tuple[int, int] = (4, 16)
    mqar_test_pairs: int = 64
    parity_train_len: int = 32
    parity_test_len: int = 256
    test_size: int = 256
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        check_positive(self, ints=("embedding_dim", "num_blocks", "num_heads", "batch_size", "steps", "mqar_steps",
                                   "parity_steps", "mqar_keys", "mqar_test_pairs", "parity_train_len",
                                   "parity_test_len", "test_size", "threads"),
                       floats=("learning_rate",), optional=("steps",))
        check_subset(self, "tasks", SYNTHETIC_TASKS)
        if not self.models:
            raise ValueError("SyntheticSpec.models is empty")

    def tiny(self) -> SyntheticSpec:
        """A smoke-test version (seconds, not minutes)."""
        return replace(self, embedding_dim=32, num_blocks=2, batch_size=4, steps=3, test_size=4,
                       mqar_keys=16, mqar_train_pairs=(2, 4), mqar_test_pairs=8, parity_train_len=8,
                       parity_test_len=24)


def build_models(vocab_size: int, spec: SyntheticSpec) -> dict[str, LanguageModel]:
    torch.manual_seed(spec.seed)

    def xl(slstm_at):
        return XLSTMLanguageModel(XLSTMLMConfig(vocab_size=vocab_size, stack=XLSTMStackConfig(
            embedding_dim=spec.embedding_dim, num_blocks=spec.num_blocks, slstm_at=slstm_at,
            mlstm=MLSTMLayerConfig(num_heads=spec.num_heads, qkv_proj_blocksize=16, chunk_size=32),
            slstm=SLSTMLayerConfig(num_heads=spec.num_heads), backend="auto")))

    models: dict[str, LanguageModel] = {}
    ref = xl("1:0")
    for name in spec.models:
        if name.startswith("mLSTM"):
            models[name] = ref
        elif name.startswith("sLSTM"):
            models[name] = xl(name.split("[")[1].rstrip("]"))
        elif name == "Transformer":
            models[name] = TransformerLanguageModel(match_transformer(
                ref.num_params(), vocab_size, num_layers=spec.num_blocks, head_dim=16, positions="rotary"))
        else:
            raise ValueError(f"unknown synthetic-task model {name!r}")
    return models


@torch.no_grad()
def accuracy(model: LanguageModel, x: torch.Tensor, y: torch.Tensor, batch: int = 64) -> float:
    """Share of scored positions (``y != IGNORE``) where the argmax prediction is right."""
    model.eval()
    hit = tot = 0
    for s in range(0, x.shape[0], batch):
        logits, _ = model(x[s: s + batch])
        yy = y[s: s + batch]
        mask = yy != IGNORE
        hit += (logits.argmax(-1)[mask] == yy[mask]).sum().item()
        tot += mask.sum().item()
    return hit / max(tot, 1)


def run_synthetic(spec: SyntheticSpec, out: str | Path = "runs/lm", *, command: str = "", verbose: bool = True) -> dict:
    out = Path(out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(spec.threads)
    say = print if verbose else (lambda *a, **k: None)
    results = {"date": _dt.date.today().isoformat(), "machine": machine(), "command": command,
               "spec": asdict(spec), "tasks": {}}
    for tname, task in make_tasks(spec).items():
        models = build_models(task.vocab_size, spec)
        tests = {label: fn(torch.Generator().manual_seed(10_000 + i)) for i, (label, fn) in enumerate(task.tests.items())}
        tres = results["tasks"][tname] = {"steps": task.steps, "models": {}}
        for mname, model in models.items():
            say(f"== {tname}: {mname} ({model.num_params():,} params, {task.steps} steps)", flush=True)
            slug = f"synthetic_{tname}_{mname.split()[0].lower()}"
            (out / "logs" / f"{slug}.jsonl").unlink(missing_ok=True)
            loader = DataLoader(_Stream(task.train_fn, spec.seed), batch_size=None)
            res = train_lm(model, loader, None, steps=task.steps, tokens_per_step=task.tokens_per_step,
                           learning_rate=spec.learning_rate, weight_decay=0.0, log_every=max(1, task.steps // 10),
                           seed=spec.seed, log_path=out / "logs" / f"{slug}.jsonl", verbose=verbose, name=mname)
            t0 = time.perf_counter()
            accs = {label: accuracy(model, x, y) for label, (x, y) in tests.items()}
            tres["models"][mname] = {"params": model.num_params(), "train_seconds": res.train_seconds,
                                     "final_train_loss": res.train_curve[-1]["train_loss"] if res.train_curve else math.nan,
                                     "accuracy": accs}
            say("   " + ", ".join(f"{k}: {v:.1%}" for k, v in accs.items()) + f" (eval {time.perf_counter() - t0:.0f}s)",
                flush=True)
    atomic_write_json(out / "synthetic.json", results, indent=1)
    write_table(results, out / "synthetic.md")
    say(f"wrote {out / 'synthetic.md'}", flush=True)
    return results


def write_table(results: dict, path: Path) -> Path:
    spec = results["spec"]
    lines = ["# Synthetic tasks: accuracy (train short, test long)", "",
             f"- date: {results['date']}; machine: {results['machine']}",
             f"- command: `{results['command']}`",
             f"- models: width {spec['embedding_dim']}, {spec['num_blocks']} blocks; Transformer parameter-matched "
             f"(rotary); AdamW lr {spec['learning_rate']}, batch {spec['batch_size']}, seed {spec['seed']}", ""]
    for tname, t in results["tasks"].items():
        names = list(t["models"])
        lines += [f"## {tname} ({t['steps']} training steps)", "",
                  "| test | " + " | ".join(f"{n} ({t['models'][n]['params']:,} params)" for n in names) + " |",
                  "|---|" + "---:|" * len(names)]
        labels = list(next(iter(t["models"].values()))["accuracy"])
        for label in labels:
            lines.append(f"| {label} | " + " | ".join(f"{t['models'][n]['accuracy'][label]:.1%}" for n in names) + " |")
        lines.append("| final train loss | " + " | ".join(f"{t['models'][n]['final_train_loss']:.3f}" for n in names) + " |")
        lines.append("")
    atomic_write_text(path, "\n".join(lines))
    return path
