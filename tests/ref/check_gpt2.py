"""Checks wesar's GPT-2 tokenizer (src/data/gpt2.c, through tests/tok_dump):

1. published encodings: tiktoken's own tests for its "gpt2" encoding
   (tests/test_encoding.py: test_simple, test_simple_repeated) and the
   Hugging Face GPT2Tokenizer documentation ("Hello world" / " Hello world");
2. an independent implementation of OpenAI's GPT-2 encoder (bytes_to_unicode,
   the pre-tokenizer regex through the `regex` module, rank-ordered merges),
   written from the published algorithm, on tricky strings and on whole files
   (WikiText-2 test, tinyshakespeare); every file must also round-trip.

usage: check_gpt2.py TOK_DUMP TOKENIZER_DIR WORKDIR [FILE ...]"""
import json
import os
import subprocess
import sys

import regex

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokfiles import check_files  # noqa: E402

PUBLISHED = [  # (text, ids, source)
    ("hello world", [31373, 995], "tiktoken test_simple"),
    ("hello <|endoftext|>", [31373, 220, 50256], "tiktoken test_simple (allowed_special='all')"),
    ("Hello world", [15496, 995], "HF GPT2Tokenizer docs"),
    (" Hello world", [18435, 995], "HF GPT2Tokenizer docs"),
] + [("0" * k, ids, "tiktoken test_simple_repeated") for k, ids in [
    (1, [15]), (2, [405]), (3, [830]), (4, [2388]), (5, [20483]), (6, [10535]), (7, [24598]),
    (8, [8269]), (9, [10535, 830]), (10, [8269, 405]), (11, [8269, 830]), (12, [8269, 2388]),
    (13, [8269, 20483]), (14, [8269, 10535]), (15, [8269, 24598]), (16, [25645]),
    (17, [8269, 10535, 830])]]

TRICKY = ["I'm", "don't", "they're", "we've", "you'll", "he'd", "I'M", "'s'", "1234567890", "3.14159",
          "$1,000,000", "Hello 👋 world 🌍!", "😀😃😄", "日本語のテキスト", "中文字符", "한국어",
          " leading", "  two leading", "trailing  ", "multiple    spaces", "line\nbreak", "\n\n\n",
          "tab\there", "\r\nwindows", " \n ", "emoji👍🏽skin", "ÀÉÎÕÜ ñ ç", "<|endoftext|>",
          "a<|endoftext|>b", "<|endoftext", "x" * 3000, " " * 100 + "a", "a'll", "''", "ab'cd"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Reference:
    PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

    def __init__(self, d):
        self.encoder = json.load(open(os.path.join(d, "encoder.json"), encoding="utf-8"))
        lines = open(os.path.join(d, "vocab.bpe"), encoding="utf-8").read().split("\n")[1:]
        merges = [tuple(l.split()) for l in lines if l]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.b2u = bytes_to_unicode()
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            pairs = [(self.ranks.get((word[i], word[i + 1]), 1 << 30), i) for i in range(len(word) - 1)]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            word[i:i + 2] = [word[i] + word[i + 1]]
        self.cache[token] = word
        return word

    def encode(self, text):
        out = []
        parts = text.split("<|endoftext|>")
        for k, part in enumerate(parts):
            for tok in self.PAT.findall(part):
                tok = "".join(self.b2u[b] for b in tok.encode("utf-8"))
                out += [self.encoder[t] for t in self.bpe(tok)]
            if k + 1 < len(parts):
                out.append(self.encoder["<|endoftext|>"])
        return out


def c_encode(tok_dump, tokdir, work, data):
    path = os.path.join(work, "in.txt")
    open(path, "wb").write(data)
    r = subprocess.run([tok_dump, "gpt2", tokdir, path], capture_output=True)
    if r.returncode:
        raise RuntimeError(r.stderr.decode())
    return [int(x) for x in r.stdout.split()]


def main():
    args = sys.argv[1:]
    wesar = None
    if "--prepare" in args:  # also `wesar prepare` each file: its shards must hold the same ids
        i = args.index("--prepare")
        wesar = args[i + 1]
        del args[i:i + 2]
    tok_dump, tokdir, work = args[:3]
    files = args[3:]
    os.makedirs(work, exist_ok=True)
    ref = Reference(tokdir)
    fails = []
    for text, ids, src in PUBLISHED:
        got = c_encode(tok_dump, tokdir, work, text.encode())
        if got != ids:
            fails.append(f"{text!r}: wesar {got}, {src} {ids}")
        if ref.encode(text) != ids:  # the reference must agree with the published ids too
            fails.append(f"{text!r}: reference {ref.encode(text)}, {src} {ids}")
    for text in TRICKY:
        got, want = c_encode(tok_dump, tokdir, work, text.encode()), ref.encode(text)
        if got != want:
            fails.append(f"{text[:40]!r}: wesar {got[:12]}, reference {want[:12]}")
    # bytes that are not UTF-8 (no reference takes them): they must round-trip
    import random
    rnd = random.Random(7)
    junk = b"ok \xff\xfe \xc3( \xe2\x82 \xf0\x9f\x98 abc" + bytes(rnd.randrange(256) for _ in range(20000))
    try:
        c_encode(tok_dump, tokdir, work, junk)
    except RuntimeError as e:
        fails.append(f"invalid UTF-8: {e}")
    print(f"  {len(PUBLISHED)} published encodings, {len(TRICKY)} tricky strings, 20 kB of random bytes")
    check_files(files, lambda data: c_encode(tok_dump, tokdir, work, data), ref.encode, "the reference", wesar,
                ["--tokenizer", "gpt2", "--tokenizer-path", tokdir], 50256, "end-of-text", work, fails)
    if fails:
        print("  FAILED: " + "; ".join(fails[:6]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
