"""sigma-Reparam's spectral-norm estimate against torch.linalg: after enough
power-iteration steps s = u^T W v must equal the largest singular value of
every reparameterized matrix.  usage: check_power.py REF_DUMP WORKDIR"""
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensorfile  # noqa: E402


def worst(binary, work, steps):
    subprocess.run([binary, work, "reparam=sigmareparam", f"power_steps={steps}"], check=True)
    t = tensorfile.read(os.path.join(work, "power.bin"))
    errs = []
    for k in t:
        if k.startswith("buf.") and k.endswith(".sigma"):
            W = torch.tensor(t[k[4:-6]], dtype=torch.float64)
            true = torch.linalg.matrix_norm(W, ord=2).item()
            errs.append((abs(float(t[k][0]) - true) / true, k[4:-6]))
    return max(errs), len(errs)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    (e0, name0), n = worst(binary, work, 0)
    (e1, name1), _ = worst(binary, work, 2000)
    print(f"  {n} matrices: after 15 init iterations worst rel.err {e0:.2e} ({name0}); "
          f"after 2000 more {e1:.2e} ({name1})")
    # power iteration converges at rate (s2/s1)^k; random matrices have close s1, s2
    return 0 if e1 < 1e-4 and e0 < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
