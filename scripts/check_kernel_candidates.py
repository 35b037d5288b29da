#!/usr/bin/env python
"""Check every launch candidate of the chunkwise mLSTM kernels on this GPU, one at a time.

For each head-dim pair and each kernel, every candidate of ``xlstm_ts_kernels._tuning`` is
pinned alone (the other kernels keep their defaults) and forward + backward are compared with
the fp64 parallel reference (bf16 inputs, B=1, H=2, S=1024, chunk 64). A candidate that
produces wrong numbers, or crashes the CUDA context (illegal address), is marked failed; the
checks run in a worker process that is restarted after a crash. A candidate also fails when the
backward changes the forward output h in place, or when the shared inputs differ from the
reference's afterwards (``clobbered``; writes outside the kernel's own buffers). Writes JSON with
every error and the candidates that passed at every dims (``--out``). For a harder check of
stray writes, run it with ``PYTORCH_NO_CUDA_MEMORY_CACHING=1 CUDA_LAUNCH_BLOCKING=1`` (every
tensor its own allocation, so a far stray write faults at the kernel that made it), or under
``compute-sanitizer`` where the CUDA toolkit is installed.

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
        """Outputs and gradients, plus whether the backward changed h or the inputs in place.

        h is copied right after the forward: the session-3 H200 run saw h's error depend on the
        backward candidate that ran after it, i.e. something wrote into memory it did not own.
        The copies tell which pass did it (h clobbered = the backward; the next job's inputs =
        an earlier job)."""
        ins = [x.detach().clone().requires_grad_() for x in xs]
        h = fn(*ins)
        h0 = h.detach().clone()
        grads = torch.autograd.grad((h.double() * dh).sum(), ins)
        pairs = [("h", h.detach(), h0)] + [(f"x{i}", a.detach(), x) for i, (a, x) in enumerate(zip(ins, xs, strict=True))]
        return [h0, *grads], [n for n, a, b in pairs if not torch.equal(a, b)]

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
            ref, _ = run(lambda q, k, v, i, f: mlstm_parallel(q, k, v, i, f)[0], [x.double() for x in xs], dh)
            xs_pristine = [x.clone() for x in xs]
            refs[(Dqk, Dv)] = (xs, xs_pristine, dh, ref)
        xs, xs_pristine, dh, ref = refs[(Dqk, Dv)]
        # the shared inputs must still be what the reference saw (an earlier job may have written over them)
        stale = [i for i, (x, x0) in enumerate(zip(xs, xs_pristine, strict=True)) if not torch.equal(x, x0)]
        if stale:
            for x, x0 in zip(xs, xs_pristine, strict=True):
                x.copy_(x0)
        pin = {job["kernel"]: tuple(job["cand"])} if job["kernel"] else {}
        with _tuning.forced_configs(**pin):
            out, clobbered = run(lambda q, k, v, i, f: mlstm_chunkwise(q, k, v, i, f, chunk_size=64)[0], xs, dh)
        if DEV == "cuda":
            torch.cuda.synchronize()
        errs = [((a.double() - r).abs().max() / r.abs().max()).item() for a, r in zip(out, ref, strict=True)]
        ok = all(e < TOL for e in errs) and not clobbered  # NaN fails too
        status = "ok" if ok else ("clobbers" if clobbered else "wrong")
        with open(log_path, "a") as fh:
            fh.write(json.dumps(dict(job, status=status, errs=dict(zip(NAMES, errs, strict=True)),
                                     clobbered=clobbered, inputs_stale_before=stale)) + "\n")
        print(f"{Dqk}x{Dv} {job['kernel'] or 'defaults':10s} {job['cand']}: {status.upper() if not ok else 'ok'} "
              + " ".join(f"{n}={e:.3g}" for n, e in zip(NAMES, errs, strict=True))
              + (f" clobbered={clobbered}" if clobbered else "") + (f" inputs_stale_before={stale}" if stale else ""),
              flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="kernel_candidates.json")
    ap.add_argument("--dims", default="256x512,64x64", help="comma-separated DqkxDv pairs")
    ap.add_argument("--include-removed", action="store_true",
                    help="also check the candidates removed after the last GPU check (_tuning.REMOVED)")
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
            cands = _tuning.fitted(name, *dims)[1:]
            if args.include_removed:
                cands += [c for c in (_tuning.fit(r, *dims) for r in _tuning.REMOVED.get(name, []))
                          if c not in cands and c != _tuning.fitted(name, *dims)[0]]
            for cand in cands:
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

    def passing(name, cands):
        # A candidate passes when, at every dims, its fitted form is the default (checked by the
        # defaults job) or was checked alone and came out "ok".
        return [list(c) for c in cands if all(
            (_tuning.fit(c, *dims) == _tuning.default(name, *dims) and defaults_ok)
            or status.get((name, tuple(dims), _tuning.fit(c, *dims))) == "ok"
            for dims in DIMS)]

    passed = {name: passing(name, cands) for name, cands in _tuning.CANDIDATES.items()}
    removed = ({name: passing(name, cands) for name, cands in _tuning.REMOVED.items()}
               if args.include_removed else {})
    import torch

    json.dump(dict(device=torch.cuda.get_device_name() if DEV == "cuda" else DEV, tol=TOL, results=done, passed=passed,
                   removed_passed=removed), open(args.out, "w"), indent=1)
    print("passed:", json.dumps(passed))
    if args.include_removed:
        print("removed candidates that passed:", json.dumps(removed))


if __name__ == "__main__":
    main()
