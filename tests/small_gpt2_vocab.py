"""Writes a small GPT-2-style byte-level vocabulary to DIR: the 256 byte tokens
(spelled through GPT-2's bytes_to_unicode), "th" = 256, "the" = 257,
"<|endoftext|>" = 258, and the merges "t h", "th e".  For tests/faults.sh and
fuzz/make_seeds.sh.   usage: small_gpt2_vocab.py DIR"""
import json
import os
import sys

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
u = dict(zip(bs, map(chr, cs)))
enc = {u[b]: b for b in range(256)}
enc[u[ord("t")] + u[ord("h")]] = 256
enc[u[ord("t")] + u[ord("h")] + u[ord("e")]] = 257
enc["<|endoftext|>"] = 258
json.dump(enc, open(os.path.join(d, "encoder.json"), "w"))
with open(os.path.join(d, "vocab.bpe"), "w") as f:
    f.write("#version: 0.2\n%s %s\n%s %s\n" % (u[ord("t")], u[ord("h")], u[ord("t")] + u[ord("h")], u[ord("e")]))
