"""`wesar eval` and `wesar generate` against a PyTorch computation of the same numbers.

A small model (gpt2 tokenizer, WeSaR, SwiGLU, GQA) is trained a few steps on
tinyshakespeare and exported.  This script then computes, in float64 with its
own HF-style forward pass (check_export.hf_forward) and its own GPT-2 encoder
(check_gpt2.Reference), what lm-evaluation-harness would:
  - wikitext: documents split as EleutherAI/wikitext_document_level does,
    the harness's wikitext_detokenizer, get_rolling_token_windows +
    make_disjoint_window (context_len = T - stride + 1), word counts on the
    original page with re.split(r"\\s+"), bytes in UTF-8;
  - lambada: the harness's _encode_pair and its (context + continuation)
    [-(T + 1):][:-1] input, is_greedy and the summed log-likelihood;
and compares with wesar's JSON line (counts exactly, NLL to 1e-4 relative).
Generation: greedy ids from the KV-cache path must equal a greedy loop over
full forward passes here; sampling must follow its seed; top-k 1 and top-p
1e-9 are greedy.

usage: check_eval.py WESAR WORKDIR DATA_DIR"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_export import hf_forward, read_safetensors  # noqa: E402
from check_gpt2 import Reference  # noqa: E402

T, STRIDE, DOCS, EXAMPLES = 32, 16, 2, 30


# --- lm-evaluation-harness, as published (lm_eval/utils.py, tasks/wikitext, models/huggingface.py) ---
def wikitext_detokenizer(string):
    string = string.replace("s '", "s'")
    string = re.sub(r"/' [0-9]/", r"/'[0-9]/", string)
    string = string.replace(" @-@ ", "-")
    string = string.replace(" @,@ ", ",")
    string = string.replace(" @.@ ", ".")
    string = string.replace(" : ", ": ")
    string = string.replace(" ; ", "; ")
    string = string.replace(" . ", ". ")
    string = string.replace(" ! ", "! ")
    string = string.replace(" ? ", "? ")
    string = string.replace(" , ", ", ")
    string = re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", string)
    string = re.sub(r"\[\s*([^\]]*?)\s*\]", r"[\1]", string)
    string = re.sub(r"{\s*([^}]*?)\s*}", r"{\1}", string)
    string = re.sub(r"\"\s*([^\"]*?)\s*\"", r'"\1"', string)
    string = re.sub(r"'\s*([^']*?)\s*'", r"'\1'", string)
    string = string.replace("= = = =", "====")
    string = string.replace("= = =", "===")
    string = string.replace("= =", "==")
    string = string.replace(" " + chr(176) + " ", chr(176))
    string = string.replace(" \n", "\n")
    string = string.replace("\n ", "\n")
    string = string.replace(" N ", " 1 ")
    string = string.replace(" 's", "'s")
    return string


def wikitext_documents(text):  # EleutherAI/wikitext_document_level's _generate_examples
    ret = []
    for line in text.split("\n"):
        rline = line.replace("= = =", "===").replace("= =", "==").strip()
        if rline.startswith("= ") and rline.strip().endswith(" ="):
            page = "\n".join(ret)
            if page.strip():
                yield page
            ret = []
        ret.append(line)
    yield "\n".join(ret)


def get_rolling_token_windows(token_list, prefix_token, max_seq_len, context_len):
    assert 1 <= context_len <= max_seq_len
    if not token_list:
        return
    pred_len = max_seq_len - context_len + 1
    predicted = 0
    first_seq_len = min(max_seq_len, len(token_list))
    yield [prefix_token] + token_list[:first_seq_len - 1], token_list[:first_seq_len]
    predicted += first_seq_len
    while predicted < len(token_list):
        window_pred_len = min(len(token_list) - predicted, pred_len)
        window_end = predicted + window_pred_len
        yield (token_list[window_end - max_seq_len - 1:window_end - 1],
               token_list[window_end - window_pred_len:window_end])
        predicted += window_pred_len


def make_disjoint_window(pair):
    a, b = pair
    return a[:len(a) - (len(b) - 1)], b


# -------------------------------------------------------------------------------------------------
class Model:
    def __init__(self, export_dir):
        self.cfg = json.load(open(os.path.join(export_dir, "config.json")))
        self.W = read_safetensors(os.path.join(export_dir, "model.safetensors"))

    def loglikelihood(self, context_enc, continuation_enc):
        """(sum of log p(continuation), is_greedy), as HFLM._loglikelihood_tokens"""
        inp = (context_enc + continuation_enc)[-(T + 1):][:-1]
        logits = hf_forward(self.cfg, self.W, torch.tensor([inp]))[0]
        logp = torch.log_softmax(logits, dim=-1)[len(inp) - len(continuation_enc):]
        cont = torch.tensor(continuation_enc)
        greedy = bool((logp.argmax(-1) == cont).all())
        return float(logp.gather(1, cont[:, None]).sum()), greedy


def wesar(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr}")
    return r.stdout


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def main():
    W_BIN, work, data = sys.argv[1:4]
    tokdir = os.path.join(data, "gpt2-tokenizer")
    shutil.rmtree(work, ignore_errors=True)  # a fresh run directory each time
    os.makedirs(work)
    text = open(os.path.join(data, "tinyshakespeare/input.txt"), encoding="utf-8").read()[:200000]
    open(os.path.join(work, "shakespeare.txt"), "w").write(text)
    wesar([W_BIN, "prepare", "--quiet", "--tokenizer", "gpt2", "--tokenizer-path", tokdir,
           os.path.join(work, "shakespeare.txt"), os.path.join(work, "data")])
    run, export = os.path.join(work, "run"), os.path.join(work, "export")
    wesar([W_BIN, "train", "--data", os.path.join(work, "data"), "--out", run, "--vocab-size", "50257",
           "--d-model", "32", "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2", "--mlp", "swiglu",
           "--reparam", "wesar", "--seq-len", str(T), "--batch-size", "4", "--steps", "15", "--warmup", "2",
           "--lr", "3e-3", "--val-every", "0", "--telemetry-every", "0", "--quiet"])
    wesar([W_BIN, "export", os.path.join(run, "ckpt_00000015.bin"), export])
    model, enc = Model(export), Reference(tokdir)
    fails = []

    wiki = os.path.join(data, "wikitext-2-raw/wiki.test.raw")
    lamb = os.path.join(data, "lambada/lambada_test.jsonl")
    # --- wikitext, two strides; lambada ---
    for stride in (T, STRIDE):
        got = json.loads(wesar([W_BIN, "eval", export, "--tokenizer", "gpt2", "--tokenizer-path", tokdir, "--json",
                                "--wikitext", wiki, "--stride", str(stride), "--limit", str(DOCS)]))["wikitext"]
        nll = tokens = words = nbytes = 0
        docs = list(wikitext_documents(open(wiki, encoding="utf-8").read()))[:DOCS]
        for page in docs:
            ids = enc.encode(wikitext_detokenizer(page))
            for pair in get_rolling_token_windows(ids, 50256, T, T - stride + 1):
                ll, _ = model.loglikelihood(*make_disjoint_window(pair))
                nll -= ll
            tokens += len(ids)
            words += len(re.split(r"\s+", page))
            nbytes += len(page.encode("utf-8"))
        want = {"documents": len(docs), "tokens": tokens, "words": words, "bytes": nbytes}
        for k, v in want.items():
            if got[k] != v:
                fails.append(f"wikitext stride {stride}: {k} {got[k]}, reference {v}")
        for k, v in [("nll", nll), ("word_perplexity", math.exp(nll / words)),
                     ("token_perplexity", math.exp(nll / tokens)), ("bits_per_byte", nll / nbytes / math.log(2))]:
            if rel(got[k], v) > 1e-4:
                fails.append(f"wikitext stride {stride}: {k} {got[k]}, reference {v}")
        print(f"  wikitext, stride {stride}: {len(docs)} documents, {tokens} tokens, word perplexity "
              f"{got['word_perplexity']:.2f} (reference {math.exp(nll / words):.2f})")

    got = json.loads(wesar([W_BIN, "eval", run, "--json", "--lambada", lamb, "--limit", str(EXAMPLES)]))["lambada"]
    nll = correct = 0
    for line in open(lamb, encoding="utf-8").read().splitlines()[:EXAMPLES]:
        doc = json.loads(line)["text"]
        context, continuation = doc.rsplit(" ", 1)[0], " " + doc.rsplit(" ", 1)[1]
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole, ctx = enc.encode(context + continuation), enc.encode(context)
        ll, greedy = model.loglikelihood(ctx, whole[len(ctx):])
        nll -= ll
        correct += greedy
    if got["examples"] != EXAMPLES or got["acc"] != correct / EXAMPLES or rel(got["nll"], nll) > 1e-4:
        fails.append(f"lambada: {got}, reference acc {correct / EXAMPLES} nll {nll}")
    print(f"  lambada (from the run directory's checkpoint, tokenizer from meta.json): {EXAMPLES} examples, "
          f"perplexity {got['perplexity']:.1f} (reference {math.exp(nll / EXAMPLES):.1f}), "
          f"acc {got['acc']} (reference {correct / EXAMPLES})")

    # --- generate ---
    def gen(src, *flags):
        out = wesar([W_BIN, "generate", src, "--tokenizer", "gpt2", "--tokenizer-path", tokdir, "--prompt",
                     "ROMEO:", "--ids", *flags])
        return [int(x) for x in out.split("ids:")[1].split()]

    greedy_c = gen(export, "--temperature", "0", "--max-new", "20")
    seq = [50256] + enc.encode("ROMEO:")
    while len(seq) < len(greedy_c):  # greedy over full forward passes, no cache
        logits = hf_forward(model.cfg, model.W, torch.tensor([seq]))[0, -1]
        seq.append(int(logits.argmax()))
        if seq[-1] == 50256:
            break
    if greedy_c != seq:
        fails.append(f"greedy generation: wesar {greedy_c}, full-forward reference {seq}")
    if gen(run, "--temperature", "0", "--max-new", "20") != greedy_c:
        fails.append("greedy generation from the gated checkpoint differs from the export")
    a, b = gen(export, "--seed", "5", "--max-new", "20"), gen(export, "--seed", "5", "--max-new", "20")
    c = gen(export, "--seed", "6", "--max-new", "20")
    if a != b or a == c:
        fails.append(f"sampling: same seed {a == b}, different seeds differ {a != c}")
    if gen(export, "--top-k", "1", "--temperature", "1.5", "--max-new", "20") != greedy_c:
        fails.append("top-k 1 sampling is not greedy")
    if gen(export, "--top-p", "1e-9", "--temperature", "1.5", "--max-new", "20") != greedy_c:
        fails.append("top-p 1e-9 (only the most likely token) sampling is not greedy")
    print(f"  generate: greedy ids equal the full-forward reference: {greedy_c == seq}; seeds reproduce")
    if fails:
        print("  FAILED: " + "; ".join(fails[:6]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
