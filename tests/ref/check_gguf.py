"""`wesar export --format gguf` against llama.cpp, its consumer.

Two small swiglu models are trained a few steps: A (GPT-2 BPE, multi-head
attention, a vocabulary padded to 50304) and B (LLaMA-2's SentencePiece,
grouped-query attention, rope base 5e5, RMSNorm eps 1e-6, WeSaR gates).
Each is exported as GGUF and for Hugging Face.  Then, independently of the C
writer:
  1. this script's own GGUF reader checks the header, every hyperparameter
     against config.json, the embedded vocabulary against the tokenizer's own
     files (encoder.json / vocab.bpe, libsentencepiece), and every tensor
     against the HF export's, with W_q and W_k permuted by the formula of
     llama.cpp's convert_hf_to_gguf.py; F16 and BF16 tensors bit for bit
     against numpy's float16 and torch's bfloat16 rounding of the F32 ones;
  2. llama.cpp (node-llama-cpp's prebuilt CPU binary, tests/llama) tokenizes
     a held-out WikiText text: the ids must equal wesar's; it scores each
     token after BOS: the log-probabilities must equal `wesar eval
     --logprobs`'s within 1e-4 (F32), and stay close for F16 / BF16;
  3. a control: model A with W_q and W_k written unpermuted must fail the
     1e-4 comparison by far;
  4. the refusals: a GELU model and a byte-tokenizer model.

usage: check_gguf.py WESAR WORKDIR DATA LLAMA_DIR"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_export import read_safetensors  # noqa: E402

W, WORK, DATA, LLAMA = [os.path.abspath(a) for a in sys.argv[1:5]]
os.makedirs(WORK, exist_ok=True)
GPT2 = os.path.join(DATA, "gpt2-tokenizer")
SPM = os.path.join(DATA, "llama2-tokenizer", "tokenizer.model")
ENV = dict(os.environ, OMP_NUM_THREADS="2")


def wesar(*args, ok=True):
    r = subprocess.run([W, *args], capture_output=True, text=True, env=ENV)
    if ok and r.returncode:
        sys.exit("wesar %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


# --- the GGUF reader (spec: ggml/docs/gguf.md) -------------------------------

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
GGML = {0: (np.float32, 4), 1: (np.float16, 2), 30: (np.uint16, 2)}  # bf16 read as its bits


class Reader:
    def __init__(self, path):
        self.b, self.at = open(path, "rb").read(), 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.b, self.at)
        self.at += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.at:self.at + n].decode("utf-8")
        self.at += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def read_gguf(path):
    r = Reader(path)
    assert r.b[:4] == b"GGUF", "magic"
    r.at = 4
    assert r.take("<I") == 3, "version"
    nt, nkv = r.take("<Q"), r.take("<Q")
    meta = {}
    for _ in range(nkv):
        k = r.string()
        meta[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(nt):
        name = r.string()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    align = meta.get("general.alignment", 32)
    base = (r.at + align - 1) // align * align
    tensors, spans = {}, {}
    for name, dims, t, off in infos:
        assert off % align == 0, name
        dt, size = GGML[t]
        n = int(np.prod(dims))
        a = base + off
        tensors[name] = (t, np.frombuffer(r.b[a:a + n * size], dt).reshape(dims[::-1]))
        spans[name] = (a, n * size)
    return meta, tensors, spans


# --- what the files must hold --------------------------------------------------

def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute"""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def gguf_name(hf):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    _, _, i, rest = hf.split(".", 3)
    leaf = {"input_layernorm.weight": "attn_norm", "self_attn.q_proj.weight": "attn_q",
            "self_attn.k_proj.weight": "attn_k", "self_attn.v_proj.weight": "attn_v",
            "self_attn.o_proj.weight": "attn_output", "post_attention_layernorm.weight": "ffn_norm",
            "mlp.gate_proj.weight": "ffn_gate", "mlp.up_proj.weight": "ffn_up", "mlp.down_proj.weight": "ffn_down"}
    return "blk.%s.%s.weight" % (i, leaf[rest])


def expected(hf_dir):
    """the HF export's tensors under their GGUF names, q/k permuted, float32"""
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    out = {}
    for k, v in read_safetensors(os.path.join(hf_dir, "model.safetensors")).items():
        a = v.float().numpy()
        if k.endswith("q_proj.weight"):
            a = permute(a, H, H)
        elif k.endswith("k_proj.weight"):
            a = permute(a, H, Hkv)
        out[gguf_name(k)] = a
    return cfg, out


def check_hparams(meta, cfg, ftype):
    want = {"general.architecture": "llama", "general.file_type": ftype,
            "llama.vocab_size": cfg["vocab_size"], "llama.context_length": cfg["max_position_embeddings"],
            "llama.embedding_length": cfg["hidden_size"], "llama.block_count": cfg["num_hidden_layers"],
            "llama.feed_forward_length": cfg["intermediate_size"],
            "llama.attention.head_count": cfg["num_attention_heads"],
            "llama.attention.head_count_kv": cfg["num_key_value_heads"], "llama.rope.dimension_count": cfg["head_dim"]}
    for k, v in want.items():
        assert meta[k] == v, (k, meta.get(k), v)
    assert meta["llama.rope.freq_base"] == np.float32(cfg["rope_theta"]), meta["llama.rope.freq_base"]
    assert meta["llama.attention.layer_norm_rms_epsilon"] == np.float32(cfg["rms_norm_eps"])
    assert meta["tokenizer.ggml.add_bos_token"] is True and meta["tokenizer.ggml.add_eos_token"] is False


def check_gpt2_vocab(meta, V):
    enc = json.load(open(os.path.join(GPT2, "encoder.json")))
    toks = meta["tokenizer.ggml.tokens"]
    assert len(toks) == V and meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "gpt-2"
    assert toks[:len(enc)] == sorted(enc, key=enc.get), "tokens differ from encoder.json"
    assert toks[len(enc):] == ["[PAD%d]" % i for i in range(len(enc), V)], "padding tokens"
    types = meta["tokenizer.ggml.token_type"]
    assert types[enc["<|endoftext|>"]] == 3 and set(types[len(enc):]) == {5} and types.count(1) == len(enc) - 1
    merges = [l for l in open(os.path.join(GPT2, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:] if l]
    assert meta["tokenizer.ggml.merges"] == merges, "merges differ from vocab.bpe"
    assert meta["tokenizer.ggml.bos_token_id"] == meta["tokenizer.ggml.eos_token_id"] == enc["<|endoftext|>"]


def check_spm_vocab(meta, V):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=SPM)
    assert V == sp.get_piece_size() and meta["tokenizer.ggml.model"] == "llama"
    assert meta["tokenizer.ggml.tokens"] == [sp.id_to_piece(i) for i in range(V)]
    assert np.array_equal(np.float32(meta["tokenizer.ggml.scores"]), np.float32([sp.get_score(i) for i in range(V)]))
    ty = [2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 5 if sp.is_unused(i) else 1
          for i in range(V)]
    assert meta["tokenizer.ggml.token_type"] == ty, "token types"
    assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"],
            meta["tokenizer.ggml.unknown_token_id"]) == (sp.bos_id(), sp.eos_id(), sp.unk_id())
    assert meta["tokenizer.ggml.add_space_prefix"] is True


def check_tensors(tensors, want, dtype):
    assert set(tensors) == set(want), set(tensors) ^ set(want)
    for name, (t, a) in tensors.items():
        w = want[name]
        if w.ndim == 1 or dtype == "f32":
            assert t == 0 and np.array_equal(a, w), name
        elif dtype == "f16":
            assert t == 1 and np.array_equal(a.view(np.uint16), w.astype(np.float16).view(np.uint16)), name
        else:
            bits = torch.from_numpy(w.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
            assert t == 30 and np.array_equal(a, bits), name


# --- the models -------------------------------------------------------------------

def prepare(name, *tok):
    out = os.path.join(WORK, name)
    text = os.path.join(WORK, "train.txt")
    if not os.path.exists(text):
        open(text, "wb").write(open(os.path.join(DATA, "tinyshakespeare", "input.txt"), "rb").read()[:200000])
    wesar("prepare", *tok, text, out)
    return out


def train(name, data, *flags):
    out = os.path.join(WORK, name)
    wesar("train", "--data", data, "--preset", "tiny", "--mlp", "swiglu", "--d-model", "64", "--n-layers", "2",
          "--n-heads", "4", "--seq-len", "256", "--train-seq-len", "64", "--batch-size", "4", "--steps", "15",
          "--warmup", "3", "--lr", "3e-3", "--val-every", "0", "--log-every", "15", "--quiet", "--threads", "2",
          "--out", out, *flags)
    return out


def export(run, dtype):
    path = os.path.join(WORK, "%s.%s.gguf" % (os.path.basename(run), dtype))
    wesar("export", "--format", "gguf", "--dtype", dtype, run, path)
    return path


def wesar_logprobs(run, text):
    lines = [json.loads(l) for l in wesar("eval", run, "--logprobs", text, "--threads", "2").stdout.splitlines()]
    return [x["id"] for x in lines[:-1]], np.array([x["logprob"] for x in lines[:-1]])


def held_out(n_bytes, name):
    """whole lines of WikiText-2's test split, from its second article on"""
    raw = open(os.path.join(DATA, "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8").read()
    start = raw.index("\n = ", 100) + 1
    text = raw[start:start + n_bytes]
    text = text[:text.rindex("\n") + 1]
    path = os.path.join(WORK, name)
    open(path, "w", encoding="utf-8").write(text)
    return path


def main():
    gdata = prepare("gpt2data", "--tokenizer", "gpt2", "--tokenizer-path", GPT2)
    sdata = prepare("spmdata", "--tokenizer", "sentencepiece", "--tokenizer-path", SPM)
    A = train("A", gdata, "--vocab-size", "50304")
    B = train("B", sdata, "--vocab-size", "32000", "--n-kv-heads", "2", "--rope-theta", "500000", "--norm-eps",
              "1e-6", "--reparam", "wesar")
    for run in (A, B):
        wesar("export", run, run + "_hf")
    ggufs = {("A", "f32"): export(A, "f32"), ("B", "f32"): export(B, "f32"), ("B", "f16"): export(B, "f16"),
             ("B", "bf16"): export(B, "bf16")}
    ftype = {"f32": 0, "f16": 1, "bf16": 32}
    for (m, dt), path in ggufs.items():
        cfg, want = expected(os.path.join(WORK, m + "_hf"))
        meta, tensors, _ = read_gguf(path)
        check_hparams(meta, cfg, ftype[dt])
        (check_gpt2_vocab if m == "A" else check_spm_vocab)(meta, cfg["vocab_size"])
        check_tensors(tensors, want, dt)
        print("%s %s: header, hyperparameters, vocabulary and every tensor as expected" % (m, dt))

    # the control: A with q and k as the HF export has them (no permutation)
    control = os.path.join(WORK, "A.unpermuted.gguf")
    shutil.copy(ggufs[("A", "f32")], control)
    hf = read_safetensors(os.path.join(WORK, "A_hf", "model.safetensors"))
    _, _, spans = read_gguf(control)
    with open(control, "r+b") as f:
        for k, v in hf.items():
            if k.endswith(("q_proj.weight", "k_proj.weight")):
                a, n = spans[gguf_name(k)]
                f.seek(a)
                f.write(v.float().numpy().tobytes())
                assert v.numel() * 4 == n

    long_text, short_text = held_out(1000, "heldout.txt"), held_out(160, "heldout_short.txt")
    jobs = [(long_text, [ggufs[("A", "f32")], ggufs[("B", "f32")], control]),
            (short_text, [ggufs[("B", "f16")], ggufs[("B", "bf16")]])]
    llama = {}
    for text, models in jobs:
        r = subprocess.run(["node", os.path.join(LLAMA, "logprobs.mjs"), text, *models], capture_output=True,
                           text=True, cwd=LLAMA)
        if r.returncode:
            sys.exit("llama.cpp (node-llama-cpp) failed:\n" + r.stderr[-3000:])
        for line in r.stdout.splitlines():
            j = json.loads(line)
            llama[j["model"]] = j
    ok = True
    # (model, wesar run, text, tolerance on max |difference|; None: must exceed 1e-2)
    cases = [("A f32 (MHA, GPT-2 BPE)", ggufs[("A", "f32")], A, long_text, 1e-4),
             ("B f32 (GQA, SentencePiece, rope 5e5, eps 1e-6, WeSaR)", ggufs[("B", "f32")], B, long_text, 1e-4),
             ("B f16", ggufs[("B", "f16")], B, short_text, 2e-2), ("B bf16", ggufs[("B", "bf16")], B, short_text, 1e-1),
             ("control: A without the q/k permutation", control, A, long_text, None)]
    for label, path, run, text, tol in cases:
        ids, lp = wesar_logprobs(run, text)
        j = llama[path]
        same_ids = j["ids"] == ids
        lq = np.array([np.nan if x is None else x for x in j["logprobs"]])
        diff = np.abs(lq - lp) if same_ids else np.array([np.inf])
        worst = float(np.nanmax(diff)) if not np.isnan(diff).all() else np.inf
        if np.isnan(diff).any():
            worst = np.inf
        passed = same_ids and (worst <= tol if tol is not None else worst > 1e-2)
        ok &= passed
        print("%s %s: %d tokens, ids %s, n_ctx %d, max |logprob difference| %.3g, sum %.6f vs %.6f (%s)"
              % ("ok  " if passed else "FAIL", label, len(ids), "equal" if same_ids else "DIFFER", j["n_ctx"], worst,
                 float(np.nansum(lq)), float(lp.sum()),
                 "must exceed 1e-2" if tol is None else "tolerance %g" % tol))

    # the refusals
    bdata = os.path.join(WORK, "bytes")
    wesar("prepare", os.path.join(WORK, "train.txt"), bdata)
    gelu = os.path.join(WORK, "gelu")
    wesar("train", "--data", gdata, "--preset", "tiny", "--vocab-size", "50304", "--d-model", "32", "--n-layers", "1",
          "--n-heads", "2", "--steps", "1", "--quiet", "--out", gelu)
    byt = os.path.join(WORK, "byt")
    wesar("train", "--data", bdata, "--preset", "tiny", "--mlp", "swiglu", "--d-model", "32", "--n-layers", "1",
          "--n-heads", "2", "--steps", "1", "--quiet", "--out", byt)
    for run, must in ((gelu, "--mlp swiglu"), (byt, "byte")):
        r = wesar("export", "--format", "gguf", run, os.path.join(WORK, "refused.gguf"), ok=False)
        msg = (r.stderr.strip().splitlines() or [""])[-1]
        passed = r.returncode != 0 and must in msg and not os.path.exists(os.path.join(WORK, "refused.gguf"))
        ok &= passed
        print("%s refused: %s" % ("ok  " if passed else "FAIL", msg))
    sys.exit(0 if ok else 1)


main()
