"""Whole files through a C tokenizer (tests/tok_dump) and a reference, shared by
check_gpt2.py and check_spm.py: ids token for token, and with WESAR, the ids in
`wesar prepare`'s shards (the delimiter, then the whole-text encoding)."""
import os
import struct
import subprocess


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def check_files(files, c_encode, ref_encode, ref_name, wesar, tok_args, delim, delim_name, work, fails):
    """c_encode(bytes) -> ids (it fails unless decoding gives the bytes back); ref_encode(str) -> ids"""
    for path in files:
        data = open(path, "rb").read()
        got, want = c_encode(data), ref_encode(data.decode("utf-8"))
        if got != want:
            fails.append(f"{path}: {len(got)} vs {len(want)} tokens, first difference at token "
                         f"{first_difference(got, want)}")
        print(f"  {os.path.basename(path)}: {len(data)} bytes, {len(got)} tokens, same as {ref_name}: "
              f"{got == want}, round trip exact")
        if not wesar:
            continue
        out = os.path.join(work, "prep")
        subprocess.run(["rm", "-rf", out], check=True)
        subprocess.run([wesar, "prepare", "--quiet", *tok_args, path, out], check=True)
        shards = []
        for name in ("train_000000.bin", "val_000000.bin"):
            d = open(os.path.join(out, name), "rb").read()
            n = struct.unpack_from("<3i", d)[2]
            shards += list(struct.unpack_from("<%dH" % n, d, 1024))
        if shards != [delim] + want:  # a document starts with the delimiter
            fails.append(f"wesar prepare {path}: its shards differ from encoding the whole text")
        print(f"  wesar prepare: shards equal {delim_name} + the whole-text encoding: {shards == [delim] + want}")
