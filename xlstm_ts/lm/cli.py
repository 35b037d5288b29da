"""``xlstm-ts lm parity | synthetic | generate`` (also ``python -m xlstm_ts.lm ...``).

The main CLI wires it in with ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def _command(args: argparse.Namespace) -> str:
    return getattr(args, "command_line", None) or "xlstm-ts " + shlex.join(sys.argv[1:])


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def cmd_parity(args: argparse.Namespace) -> int:
    from .parity import ParitySpec, run_parity

    spec = ParitySpec(steps=args.steps, batch_size=args.batch_size, context=args.context,
                      learning_rate=args.lr, embedding_dim=args.embedding_dim, num_blocks=args.num_blocks,
                      gen_contexts=_ints(args.gen_contexts), gen_tokens=args.gen_tokens, gen_repeats=args.gen_repeats, corpus=args.corpus,
                      seed=args.seed, threads=args.threads, val_every=args.val_every)
    if args.models:
        spec.models = [m.strip() for m in args.models.split(",")]
    run_parity(spec, args.out, command=_command(args), train=not args.bench_only)
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    from .synthetic import SyntheticSpec, run_synthetic

    spec = SyntheticSpec(steps=args.steps, seed=args.seed, threads=args.threads)
    if args.lr is not None:
        spec.learning_rate = args.lr
    if args.tasks:
        spec.tasks = [t.strip() for t in args.tasks.split(",")]
    if args.models:
        spec.models = [m.strip() for m in args.models.split(",")]
    if args.tiny:
        spec = spec.tiny()
    run_synthetic(spec, args.out, command=_command(args))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from .persist import load

    model, tok = load(args.model)
    if tok is None:
        raise ValueError(f"{args.model} has no tokenizer")
    g = torch.Generator().manual_seed(args.seed)
    print(model.generate(args.prompt, args.max_new_tokens, args.temperature, args.top_k, tokenizer=tok, generator=g))
    return 0


def register(subparsers, prog: str | None = None) -> argparse.ArgumentParser:
    """Add the ``lm`` command (with ``parity``, ``synthetic`` and ``generate``) to a subparsers object.

    ``prog`` replaces the command's name in usage lines (``python -m xlstm_ts.lm``, which has no
    ``lm`` word)."""
    kw = {"prog": prog} if prog else {}
    lm = subparsers.add_parser("lm", help="language modelling: xLSTM vs Transformer parity study, synthetic tasks",
                               **kw)
    sub = lm.add_subparsers(dest="lm_command", required=True)

    p = sub.add_parser("parity", help="xLSTM[1:0], xLSTM[1:1], Transformer at equal params and tokens")
    p.add_argument("--steps", type=int, default=400, help="optimizer steps per model (default 400)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--context", type=int, default=256, help="training context length (default 256)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--embedding-dim", type=int, default=192)
    p.add_argument("--num-blocks", type=int, default=4)
    p.add_argument("--gen-contexts", default="256,1024,4096", help="comma-separated context lengths")
    p.add_argument("--gen-tokens", type=int, default=128, help="decoded tokens per measurement")
    p.add_argument("--gen-repeats", type=int, default=3, help="repeats per measurement (the best counts)")
    p.add_argument("--val-every", type=int, default=50)
    p.add_argument("--corpus", default="tinyshakespeare", help="bundled corpus name or a text file")
    p.add_argument("--models", help="comma-separated subset of xLSTM[1:0],xLSTM[1:1],Transformer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: on a shared, loaded "
                   "machine multi-threaded small ops stall)")
    p.add_argument("--bench-only", action="store_true", help="reuse the models saved in --out; re-evaluate and benchmark")
    p.add_argument("--out", default="runs/lm")
    p.set_defaults(func=cmd_parity)

    s = sub.add_parser("synthetic", help="multi-query associative recall and parity, longer test sequences")
    s.add_argument("--steps", type=int, default=None, help="training steps per model and task (default per task)")
    s.add_argument("--tasks", help="comma-separated subset of mqar,parity")
    s.add_argument("--models", help="comma-separated subset of 'mLSTM xLSTM[1:0]','sLSTM xLSTM[1:1]',Transformer")
    s.add_argument("--lr", type=float, default=None, help="learning rate (default 3e-3)")
    s.add_argument("--tiny", action="store_true", help="tiny models and few steps (smoke test)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--out", default="runs/lm")
    s.set_defaults(func=cmd_synthetic)

    g = sub.add_parser("generate", help="sample from a saved model directory")
    g.add_argument("--model", required=True)
    g.add_argument("--prompt", default="\n")
    g.add_argument("--max-new-tokens", type=int, default=200)
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-k", type=int, default=None)
    g.add_argument("--seed", type=int, default=0)
    g.set_defaults(func=cmd_generate)
    return lm


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m xlstm_ts.lm", description="xLSTM language modelling studies")
    register(ap.add_subparsers(dest="command", required=True), prog="python -m xlstm_ts.lm")
    # `python -m xlstm_ts.lm parity` and `xlstm-ts lm parity` both work.
    args = ap.parse_args(["lm", *argv] if not argv or argv[0] != "lm" else argv)
    args.command_line = "python -m xlstm_ts.lm " + shlex.join(argv[1:] if argv and argv[0] == "lm" else argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as e:
        print(f"xlstm_ts.lm {args.lm_command}: error: {e}", file=sys.stderr)
        return 2
