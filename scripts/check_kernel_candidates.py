#!/usr/bin/env python
"""Check every launch candidate of the chunkwise mLSTM kernels on this GPU, one at a time.

For each head-dim pair and each kernel, every candidate of ``xlstm_ts_kernels._tuning`` is
pinned alone (the other kernels keep their defaults) and forward + backward are compared with
the fp64 parallel reference (bf16 inputs, B=1, H=2, S=1024, chunk 64). A candidate that
produces wrong numbers, or crashes the CUDA context (illegal address), is marked failed; the
checks run in a worker process that is restarted after a crash. Writes JSON with every error
and the candidates that passed at every dims (``--out``).

    python scripts/check_kernel_candidates.py --out cand.json

Needs CUDA; run from the repository root with ``xlstm_ts_kernels`` importable.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

DIMS = [(256, 512), (64, 64)]
TOL = 6e-2  # bf16 inputs and matmul operands; the defaults reach 0.02 at these shapes
NAMES = ["h", "dq", "dk", "dv", "di", "df"]


DEV = os.environ.get("XTS_CHECK_DEVICE", "cuda")  # "cpu" with TRITON_INTERPRET=1: a dry run of this script
SEQ = int(os.environ.get("XTS_CHECK_SEQ", "1024"))


def worker(jobs_path: str, log_path: str) -> None:
    os.environ["XLSTM_TS_KERNELS_AUTOTUNE"] = "0"  # the kernels not pinned run their defaults, untuned
    import torch
    from xlstm_ts_kernels import _tuning, mlstm_chunkwise

    from xlstm_ts.nn.functional import mlstm_parallel

    jobs = json.load(open(jobs_path))
    refs = {}

    def run(fn, xs, dh):
        xs = [x.detach().clone().requires_grad_() for x in xs]
        h = fn(*xs)
        return [h.detach(), *torch.autograd.grad((h.double() * dh).sum(), xs)]

    for job in jobs:
        Dqk, Dv = job["dims"]
        with open(log_path, "a") as fh:
            fh.write(json.dumps(dict(job, status="started")) + "\n")
        if (Dqk, Dv) not in refs:
            g = torch.Generator(device=DEV).manual_seed(Dqk)
            S = SEQ
            xs = [torch.randn(1, 2, S, d, device=DEV, generator=g, dtype=torch.float64)
                  for d in (Dqk, Dqk, Dv)]
            xs += [torch.randn(1, 2, S, device=DEV, generator=g, dtype=torch.float64),
                   torch.randn(1, 2, S, device=DEV, generator=g, dtype=torch.float64) + 3.0]
            xs = [x.to(torch.bfloat16) for x in xs]
            dh = torch.randn(1, 2, S, Dv, device=DEV, generator=g, dtype=torch.float64)
            ref = run(lambda q, k, v, i, f: mlstm_parallel(q, k, v, i, f)[0], [x.double() for x in xs], dh)
            refs[(Dqk, Dv)] = (xs, dh, ref)
        xs, dh, ref = refs[(Dqk, Dv)]
        pin = {job["kernel"]: tuple(job["cand"])} if job["kernel"] else {}
        with _tuning.forced_configs(**pin):
            out = run(lambda q, k, v, i, f: mlstm_chunkwise(q, k, v, i, f, chunk_size=64)[0], xs, dh)
        if DEV == "cuda":
            torch.cuda.synchronize()
        errs = [((a.double() - r).abs().max() / r.abs().max()).item() for a, r in zip(out, ref, strict=True)]
        ok = all(e < TOL for e in errs)  # NaN fails too
        with open(log_path, "a") as fh:
            fh.write(json.dumps(dict(job, status="ok" if ok else "wrong", errs=dict(zip(NAMES, errs, strict=True))))
                     + "\n")
        print(f"{Dqk}x{Dv} {job['kernel'] or 'defaults':10s} {job['cand']}: {'ok' if ok else 'WRONG'} "
              + " ".join(f"{n}={e:.3g}" for n, e in zip(NAMES, errs, strict=True)), flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="kernel_candidates.json")
    ap.add_argument("--dims", default="256x512,64x64", help="comma-separated DqkxDv pairs")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    global DIMS
    DIMS = [tuple(int(x) for x in d.split("x")) for d in args.dims.split(",")]
    if args.worker:
        worker(*args.worker)
        return
    from xlstm_ts_kernels import _tuning

    jobs = []
    for dims in DIMS:
        jobs.append(dict(dims=dims, kernel=None, cand=None))
        for name in _tuning.CANDIDATES:
            for cand in _tuning.fitted(name, *dims)[1:]:
                jobs.append(dict(dims=dims, kernel=name, cand=list(cand)))
    log = args.out + ".log.jsonl"
    if os.path.exists(log):
        os.remove(log)
    done: list[dict] = []
    while len(done) < len(jobs):
        todo = jobs[len(done):]
        with open(args.out + ".jobs.json", "w") as fh:
            json.dump(todo, fh)
        rc = subprocess.call([sys.executable, __file__, "--dims", args.dims, "--worker", args.out + ".jobs.json", log])
        lines = [json.loads(x) for x in open(log)] if os.path.exists(log) else []
        done = [x for x in lines if x["status"] != "started"]
        started = [x for x in lines if x["status"] == "started"]
        if rc != 0 and len(started) > len(done):  # the job that was running crashed the worker
            crashed = dict(started[len(done)], status="crashed")
            print(f"{crashed['dims']} {crashed['kernel']} {crashed['cand']}: CRASHED (worker rc {rc})", flush=True)
            with open(log, "a") as fh:
                fh.write(json.dumps(crashed) + "\n")
            done.append(crashed)
        elif rc != 0:
            sys.exit(f"worker failed before any job (rc {rc})")
    defaults_ok = all(d["status"] == "ok" for d in done if d["kernel"] is None)
    status = {(d["kernel"], tuple(d["dims"]), tuple(d["cand"])): d["status"] for d in done if d["kernel"]}
    passed = {}
    for name, cands in _tuning.CANDIDATES.items():
        # A candidate passes when, at every dims, its fitted form is the default (checked by the
        # defaults job) or was checked alone and came out "ok".
        passed[name] = [list(c) for c in cands if all(
            (_tuning.fit(c, *dims) == _tuning.fit(cands[0], *dims) and defaults_ok)
            or status.get((name, tuple(dims), _tuning.fit(c, *dims))) == "ok"
            for dims in DIMS)]
    import torch

    json.dump(dict(device=torch.cuda.get_device_name() if DEV == "cuda" else DEV, tol=TOL, results=done, passed=passed),
              open(args.out, "w"), indent=1)
    print("passed:", json.dumps(passed))


if __name__ == "__main__":
    main()
