"""Checks wesar's per-matrix telemetry (src/train/telemetry.h) against its
definitions, recomputed here in float64 from the weights before and after
step 3 (tests/ref_dump rrc_tokens=N):

  update_ratio      ||W1 - W0|| / ||W0||           (stored matrices)
  update_ratio_eff  ||E1 - E0|| / ||E0||           (effective, per reference.py)
  angle             mean over rows of arccos(<a, b> / |a||b|)
  rrc               ||X (E1 - E0)^T|| / ||X E0^T||, X = the layer inputs of the
                    step's last micro-batch, rows 0, s, 2s, ... (s = M // N when
                    M > N), captured from the PyTorch forward; embedding: the
                    looked-up rows
  grad_norm         ||dL/dW0|| before clipping, by autograd
  norm, norm_eff    ||W0||, ||E0||
  gate              scalar gate, or RMS of the row gains

usage: check_telemetry.py REF_DUMP_BINARY WORKDIR rrc_tokens=N [key=value ...]"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensorfile  # noqa: E402
from reference import Reference, power_step  # noqa: E402

FIELDS = ["update_ratio", "update_ratio_eff", "angle", "rrc", "grad_norm", "norm", "norm_eff", "gate"]
# dW is ~1e-2 of W; the C side forms it from fp32 effective matrices, so the
# differences of E carry fp32 rounding of E itself (~1e-7 / 1e-2)
TOL = {"update_ratio": 1e-5, "angle": 1e-5, "norm": 1e-6, "gate": 1e-6, "grad_norm": 1e-4,
       "norm_eff": 1e-5, "update_ratio_eff": 1e-3, "rrc": 1e-3}


def main():
    binary, work = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    rrc_tokens = int([a for a in args if a.startswith("rrc_tokens=")][0].split("=")[1])
    os.makedirs(work, exist_ok=True)
    subprocess.run([binary, work] + args, check=True)
    meta = json.load(open(os.path.join(work, "meta.json")))
    init = tensorfile.read(os.path.join(work, "init.bin"))
    out = tensorfile.read(os.path.join(work, "out.bin"))
    cfg, tc = meta["model"], meta["train"]
    torch.set_num_threads(2)
    torch.set_default_dtype(torch.float64)

    names = [k for k in init if k not in ("scales", "tokens", "targets") and not k.startswith("buf.")]
    consts = {n: float(s) for n, s in zip(names, init["scales"])}
    # buffers as they were before step 3; sigma-Reparam runs its power step first
    bufs = {k[len("buf.before3."):]: torch.tensor(out[k].astype(np.float64)).reshape(-1)
            for k in out if k.startswith("buf.before3.")}
    if cfg["reparam"] == "sigmareparam":
        for k in [k[:-2] for k in bufs if k.endswith(".u")]:
            u, v, sg = power_step(torch.tensor(out["before3." + k], dtype=torch.float64), bufs[k + ".u"])
            bufs[k + ".u"], bufs[k + ".v"], bufs[k + ".sigma"] = u, v, sg
    p0 = {n: torch.tensor(out["before3." + n].astype(np.float64), requires_grad=True) for n in names}
    p1 = {n: torch.tensor(out["after." + n].astype(np.float64)) for n in names}
    ref0, ref1 = Reference(cfg, p0, consts, bufs), Reference(cfg, p1, consts, bufs)

    # step 3's gradient over its micro-batches; inputs of the last one
    tokens = torch.tensor(init["tokens"]).long()
    targets = torch.tensor(init["targets"]).long()
    A = tokens.shape[1]
    captured = {}
    lin = ref0.lin

    def capture(x, name):
        captured[name] = x.detach().reshape(-1, x.shape[-1])
        return lin(x, name)

    ref0.lin = capture
    for a in range(A):
        captured.clear()
        ce, z = Reference.losses(ref0.forward(tokens[2, a]), targets[2, a])
        ((ce + tc["zloss"] * z) / A).backward()
    tok_last = tokens[2, A - 1].reshape(-1)

    failures, worst = [], {}
    matrices = [n for n in names if init[n].ndim == 2 and not n.endswith((".g", ".gate", ".alpha"))]
    for n in matrices:
        got = dict(zip(FIELDS, out["tel." + n]))
        W0, W1 = p0[n].detach(), p1[n]
        with torch.no_grad():
            E0, E1 = ref0.eff(n), ref1.eff(n)
        dW, dE = W1 - W0, E1 - E0
        cos = (W0 * W1).sum(1) / (W0.norm(dim=1) * W1.norm(dim=1))
        M = tok_last.numel()
        stride = M // rrc_tokens if M > rrc_tokens else 1
        rows = torch.arange(min(M, rrc_tokens)) * stride
        if n == "embed.W_e":
            picked = tok_last[rows]
            rrc = dE[picked].norm() / E0[picked].norm()
        else:
            X = captured[n][rows]
            rrc = (X @ dE.t()).norm() / (X @ E0.t()).norm()
        gate = math.nan
        for suffix in (".gate", ".alpha", ".g"):
            if n + suffix in p1:
                g = p1[n + suffix]
                gate = float(g.reshape(-1)[0]) if g.numel() == 1 else float(g.pow(2).mean().sqrt())
        want = {"update_ratio": dW.norm() / W0.norm(), "update_ratio_eff": dE.norm() / E0.norm(),
                "angle": torch.arccos(cos.clamp(-1, 1)).mean(), "rrc": rrc,
                "grad_norm": p0[n].grad.norm(), "norm": W0.norm(), "norm_eff": E0.norm(), "gate": gate}
        for f in FIELDS:
            w, g = float(want[f]), float(got[f])
            if math.isnan(w) and math.isnan(g):
                continue
            err = abs(g - w) / max(abs(w), 1e-30)
            if not err < TOL[f]:
                failures.append(f"{n}.{f}: wesar {g:.8g}, reference {w:.8g}")
            worst[f] = max(worst.get(f, 0.0), err)
    print("  " + ", ".join(f"{f} {worst.get(f, 0):.1e}" for f in FIELDS) + f" ({len(matrices)} matrices)")
    if failures:
        print("  FAILED: " + "; ".join(failures[:8]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
