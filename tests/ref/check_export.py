"""`wesar export` against an independent Hugging Face Llama / Arcee forward pass.

The C model is trained 3 steps (gates move off their initial values) and
checkpointed by tests/ref_dump; `wesar export` merges it into
model.safetensors + config.json; this script reads both with its own parser
and runs the forward pass HF's LlamaForCausalLM (swiglu) or ArceeForCausalLM
(gelu up/down MLP) would, from config.json alone, then compares the logits
with those of the gated C model.

usage: check_export.py REF_DUMP WESAR WORKDIR [key=value ...]"""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tensorfile  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(
            np.frombuffer(data[base + a:base + b], np.float32).reshape(e["shape"]).copy()).double()
    assert base + max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__") == len(data)
    return out


def hf_forward(cfg, W, tok):
    """LlamaModel/ArceeModel forward (eager attention), float64"""
    B, T = tok.shape
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", cfg["hidden_size"] // H)
    eps = cfg["rms_norm_eps"]

    def norm(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def rot(x):
        return torch.cat((-x[..., hd // 2:], x[..., :hd // 2]), dim=-1)

    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).double() / hd))
    freqs = torch.arange(T).double()[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]
    mask = torch.full((T, T), float("-inf")).triu(1).double()
    x = W["model.embed_tokens.weight"][tok]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = norm(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, hd).transpose(1, 2)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k = k[:, :, None].expand(B, Hkv, H // Hkv, T, hd).reshape(B, H, T, hd)  # repeat_kv
        v = v[:, :, None].expand(B, Hkv, H // Hkv, T, hd).reshape(B, H, T, hd)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = norm(x, W[p + "post_attention_layernorm.weight"])
        up = h @ W[p + "mlp.up_proj.weight"].T
        if cfg["model_type"] == "llama":
            assert cfg["hidden_act"] == "silu"
            a = F.silu(h @ W[p + "mlp.gate_proj.weight"].T) * up
        else:
            assert cfg["model_type"] == "arcee" and cfg["hidden_act"] == "gelu"
            a = F.gelu(up)  # HF ACT2FN["gelu"]: exact erf GELU
        x = x + a @ W[p + "mlp.down_proj.weight"].T
    x = norm(x, W["model.norm.weight"])
    return x @ W["lm_head.weight"].T


def main():
    ref_dump, wesar, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    subprocess.run([ref_dump, work, "ckpt=1"] + sys.argv[4:], check=True)
    subprocess.run([wesar, "export", os.path.join(work, "ckpt.bin"), os.path.join(work, "hf")],
                   check=True, stdout=subprocess.DEVNULL)
    cfg = json.load(open(os.path.join(work, "hf", "config.json")))
    W = read_safetensors(os.path.join(work, "hf", "model.safetensors"))
    init = tensorfile.read(os.path.join(work, "init.bin"))
    out = tensorfile.read(os.path.join(work, "out.bin"))
    tok = torch.tensor(init["tokens"][0, 0]).long()
    arch = cfg["architectures"][0]
    expected = {"llama": "LlamaForCausalLM", "arcee": "ArceeForCausalLM"}[cfg["model_type"]]
    names_ok = arch == expected and not any(("gate" in k and "gate_proj" not in k) for k in W)
    logits = hf_forward(cfg, W, tok).reshape(-1, cfg["vocab_size"]).numpy()
    c = out["logits_after"].astype(np.float64)
    err = np.linalg.norm(logits - c) / np.linalg.norm(c)
    print(f"  {arch} ({len(W)} tensors, reparam {cfg['wesar']['reparam']}): "
          f"HF-semantics logits vs gated C model rel.err {err:.2e}")
    return 0 if err < 1e-5 and names_ok else 1


if __name__ == "__main__":
    sys.exit(main())
