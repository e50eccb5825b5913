"""Times training steps of the PyTorch reference model (tests/ref/reference.py)
with torch.optim.AdamW, eager mode, on random tokens.
usage: torch_step.py PRESET_JSON B T STEPS THREADS [RANKS]  -> prints 'ms_per_step N'
With RANKS > 1: that many processes of THREADS threads each under
DistributedDataParallel (gloo, which overlaps its bucketed all-reduce with the
backward pass), each running B / RANKS of the batch of B sequences."""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
from reference import Reference  # noqa: E402


class Wrap(torch.nn.Module):
    """The reference's parameters as a module, for DistributedDataParallel."""

    def __init__(self, model, params):
        super().__init__()
        self.model = model
        self.ps = torch.nn.ParameterList(params.values())

    def forward(self, tok):
        return self.model.forward(tok)


def main(rank=0, ranks=1, init=None):
    cfg = json.loads(sys.argv[1])
    B, T, steps, threads = (int(x) for x in sys.argv[2:6])
    B //= ranks
    torch.set_num_threads(threads)
    if ranks > 1:
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=ranks)
    torch.manual_seed(0)
    d, V, N, F = cfg["d_model"], cfg["vocab_size"], cfg["n_layers"], cfg["ffn_dim"]
    hd = d // cfg["n_heads"]
    kv = cfg["n_kv_heads"] * hd
    shapes = {"embed.W_e": (V, d), "final_norm.g": (d,), "head.W_p": (V, d)}
    for l in range(N):
        p = f"layers.{l}."
        shapes.update({p + "attn_norm.g": (d,), p + "attn.W_q": (d, d), p + "attn.W_k": (kv, d),
                       p + "attn.W_v": (kv, d), p + "attn.W_o": (d, d), p + "mlp_norm.g": (d,),
                       p + "mlp.W_u": (F, d), p + "mlp.W_d": (d, F)})
        if cfg["mlp"] == "swiglu":
            shapes[p + "mlp.W_gate"] = (F, d)
    params = {n: torch.nn.Parameter(torch.randn(s) * 0.02 if len(s) == 2 else torch.ones(s))
              for n, s in shapes.items()}
    scales = {n: 1.0 for n in shapes}
    model = Reference(cfg, params, scales)
    if ranks > 1:
        model = torch.nn.parallel.DistributedDataParallel(Wrap(model, params))
    opt = torch.optim.AdamW([p for p in params.values() if p.dim() == 2], lr=1e-4,
                            betas=(0.9, 0.95), weight_decay=0.01)
    opt.add_param_group({"params": [p for p in params.values() if p.dim() == 1], "weight_decay": 0})
    times = []
    for _ in range(steps):
        tok = torch.randint(0, V, (B, T))
        tgt = torch.randint(0, V, (B, T))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        ce, z = Reference.losses(model.forward(tok), tgt)
        (ce + 1e-4 * z).backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        times.append((time.perf_counter() - t0) * 1e3)
    if rank == 0:
        print("ms_per_step %.2f" % statistics.median(times[1:] if len(times) > 1 else times), flush=True)


if __name__ == "__main__":
    ranks = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    if ranks == 1:
        main()
    else:
        import tempfile
        import torch.multiprocessing as mp
        with tempfile.TemporaryDirectory() as d:
            mp.spawn(main, args=(ranks, "file://" + os.path.join(d, "rendezvous")), nprocs=ranks)
