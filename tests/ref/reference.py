"""An independent PyTorch implementation of wesar's decoder, written from the
model description (README / src/model/model.h), not from the C code:
Hugging Face Llama conventions (rotate_half RoPE, RMSNorm with gain, untied
head), exact-erf GELU MLP or SwiGLU, grouped-query attention, z-loss."""
import math

import torch
import torch.nn.functional as F


def rmsnorm(x, g, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, theta):
    # x: [B, T, nh, hd]
    T, hd = x.shape[1], x.shape[3]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos = emb.cos().to(x.dtype)[None, :, None, :]
    sin = emb.sin().to(x.dtype)[None, :, None, :]
    return x * cos + rotate_half(x) * sin


def power_step(W, u):
    """one power-iteration step (Miyato et al.): v = W^T u / |.|, u = W v / |.|,
    sigma = u^T W v"""
    v = W.t() @ u
    v = v / v.norm()
    u = W @ v
    u = u / u.norm()
    return u, v, u @ W @ v


class Reference:
    """params: dict name -> tensor (requires_grad), gates included;
    buffers: dict name -> tensor (sigma-Reparam's u, v, sigma); consts: dict
    name -> float, the constant multiplier of each plain matrix (embedding
    1/sigma_e, Residual Scaling's 1/sqrt(2N))."""

    def __init__(self, cfg, params, consts, buffers=None):
        self.c = cfg
        self.p = params
        self.k = consts
        self.b = buffers or {}

    def eff(self, name):
        """the effective matrix, per the WeSaR paper's reparameterizations"""
        W, p, rule = self.p[name], self.p, self.c["reparam"]
        if rule == "wesar":
            return p[name + ".gate"] * W
        if rule == "weightnorm":
            return p[name + ".g"][:, None] * W / W.norm(dim=1, keepdim=True)
        if rule == "sigmareparam" and name + ".alpha" in p:
            return p[name + ".alpha"] * W / self.b[name + ".sigma"]  # no gradient through sigma
        return self.k[name] * W

    def lin(self, x, name):
        return x @ self.eff(name).t()

    def forward(self, tok):
        c, p = self.c, self.p
        B, T = tok.shape
        d, H, Hkv = c["d_model"], c["n_heads"], c["n_kv_heads"]
        hd = d // H
        eps = c["norm_eps"]
        h = self.eff("embed.W_e")[tok]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        for l in range(c["n_layers"]):
            pre = f"layers.{l}."
            n = rmsnorm(h, p[pre + "attn_norm.g"], eps)
            q = self.lin(n, pre + "attn.W_q").view(B, T, H, hd)
            k = self.lin(n, pre + "attn.W_k").view(B, T, Hkv, hd)
            v = self.lin(n, pre + "attn.W_v").view(B, T, Hkv, hd)
            q, k = rope(q, c["rope_theta"]), rope(k, c["rope_theta"])
            rep = H // Hkv
            k = k.repeat_interleave(rep, dim=2)
            v = v.repeat_interleave(rep, dim=2)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, T, hd]
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
            att = att.masked_fill(mask, float("-inf")).softmax(-1)
            o = (att @ v).transpose(1, 2).reshape(B, T, H * hd)
            h = h + self.lin(o, pre + "attn.W_o")
            n = rmsnorm(h, p[pre + "mlp_norm.g"], eps)
            if c["mlp"] == "swiglu":
                a = F.silu(self.lin(n, pre + "mlp.W_gate")) * self.lin(n, pre + "mlp.W_u")
            else:
                a = F.gelu(self.lin(n, pre + "mlp.W_u"))  # exact erf GELU
            h = h + self.lin(a, pre + "mlp.W_d")
        h = rmsnorm(h, p["final_norm.g"], eps)
        return self.lin(h, "head.W_p")

    @staticmethod
    def losses(logits, targets):
        """mean cross-entropy and mean lse^2 over rows whose target is >= 0"""
        logits = logits.reshape(-1, logits.shape[-1])
        targets = targets.reshape(-1)
        keep = targets >= 0
        ce = F.cross_entropy(logits, targets.long(), ignore_index=-1)
        lse = torch.logsumexp(logits[keep], dim=-1)
        return ce, (lse * lse).mean()


def lr_at(step, total, warmup, peak, min_frac):
    """linear warmup, then cosine to min_frac*peak at the last step (0-based step)"""
    if step < warmup:
        return peak * (step + 1) / warmup
    span = total - warmup
    if span <= 1:
        return peak
    prog = min(1.0, (step - warmup) / (span - 1))
    lo = peak * min_frac
    return lo + 0.5 * (1 + math.cos(math.pi * prog)) * (peak - lo)
