"""Every optimizer rule against an independent implementation written from
../shared/spec/warmup-optimizers.md (and torch.optim.AdamW for adamw), in
float64: build/*/optim_dump runs the C rule for 6 steps on a 6x10 matrix
(weight decay 0.1), a 1-D gain and a gate; this redoes the same steps from
the dumped start and gradients and compares the parameters (rel. error < 1e-5).

usage: check_optim.py OPTIM_DUMP WORKDIR RULE [nesterov] [ibc] [rrc]
"""
import math
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import tensorfile  # noqa: E402

ROWS, COLS, STEPS = 6, 10, 6
# (slice, is a weight-decayed matrix, is the gate)
PARTS = [(slice(0, 60), True, False), (slice(60, 70), False, False), (slice(70, 71), False, True)]


def adamw_torch(p0, grads, nobc):
    out = []
    for sl, mat, _ in PARTS:
        p = torch.tensor(p0[sl], dtype=torch.float64, requires_grad=True)
        if not nobc:
            opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1 if mat else 0)
            for s in range(STEPS):
                for grp in opt.param_groups:
                    grp["lr"] = 0.01 * (s + 1)
                p.grad = torch.tensor(grads[s][sl], dtype=torch.float64)
                opt.step()
            out.append(p.detach().numpy())
        else:  # spec 3.2: m_hat = m, v_hat = v / (1 - b2^t), decay p -= lr*wd*p first
            q = p0[sl].astype(np.float64)
            m = np.zeros_like(q)
            v = np.zeros_like(q)
            for s in range(STEPS):
                t, lr, g = s + 1, 0.01 * (s + 1), grads[s][sl]
                m = 0.9 * m + 0.1 * g
                v = 0.95 * v + 0.05 * g * g
                q = q - lr * (0.1 if mat else 0) * q
                q = q - lr * m / (np.sqrt(v / (1 - 0.95 ** t)) + 1e-8)
            out.append(q)
    return np.concatenate(out)


def lion_family(rule, p0, grads, nesterov, ibc, rrc):
    b1, b2 = 0.9, 0.99
    out = []
    for sl, mat, gate in PARTS:
        q = p0[sl].astype(np.float64)
        m = np.zeros_like(q)
        wd = 0.1 if mat else 0.0
        norms = None
        for s in range(STEPS):
            t, lr, g = s + 1, 0.01 * (s + 1), grads[s][sl].astype(np.float64)
            if nesterov:  # 3.7: one EMA, direction from the updated momentum
                beta = b1
                m = beta * m + (1 - beta) * g
                u = np.sign(beta * m + (1 - beta) * g)
            else:  # 3.3
                beta = b2
                u = np.sign(b1 * m + (1 - b1) * g)
                m = b2 * m + (1 - b2) * g
            eta = lr
            if ibc:
                eta *= 1 - beta ** t
            if rrc:  # 3.6
                mhat = m / (1 - beta ** t)
                r = np.sum(mhat ** 2) / np.sum(g ** 2)
                c = (1 - beta) / (1 + beta)
                eta *= math.sqrt(min(max((1 - r) / (1 - c), 0.05 ** 2), 1.0))
            if rule == "lion":
                q = q * (1 - lr * wd) - eta * u
            elif rule == "liona":  # 3.4: total step renormalized to eta*sqrt(numel)
                d = u + wd * q
                nd = np.linalg.norm(d)
                if nd > 0:
                    q = q - eta * math.sqrt(q.size) * d / nd
            elif rule == "lionar":
                if not mat or gate:  # 1-D tensors and gates: Lion without decay
                    q = q - eta * u
                    continue
                W = q.reshape(ROWS, COLS)
                U = u.reshape(ROWS, COLS)
                if norms is None:
                    norms = np.linalg.norm(W, axis=1)  # frozen at the first step
                n2 = norms[:, None] ** 2
                U = U - (np.sum(U * W, axis=1, keepdims=True) / n2) * W  # radial part out
                a = np.linalg.norm(U, axis=1, keepdims=True)
                W = W - eta * norms[:, None] * U / (a + 1e-8)
                W = W * norms[:, None] / np.linalg.norm(W, axis=1, keepdims=True)
                q = W.reshape(-1)
        out.append(q)
    return np.concatenate(out)


def main():
    dump, work, rule = sys.argv[1:4]
    flags = set(sys.argv[4:])
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "optim_%s_%s.wsrt" % (rule, "_".join(sorted(flags)) or "plain"))
    subprocess.run([dump, rule, str(int("nesterov" in flags)), str(int("ibc" in flags)),
                    str(int("rrc" in flags)), path], check=True)
    d = tensorfile.read(path)
    p0, grads = d["p0"].astype(np.float64), d["grads"].astype(np.float64)
    if rule.startswith("adamw"):
        want = adamw_torch(p0, grads, rule == "adamw-nobc")
    else:
        want = lion_family(rule, p0, grads, "nesterov" in flags, "ibc" in flags, "rrc" in flags)
    got = d["p"].astype(np.float64)
    moved = np.max(np.abs(want - p0))
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    print("%s %s: max rel error %.2e (parameters moved by up to %.3g)" % (rule, sorted(flags), err, moved))
    if not (err < 1e-5 and moved > 1e-3):
        sys.exit(1)


main()
