"""Checks `wesar prepare` on folders, JSON lines, xz, gzip and zstd, against shards built
here in Python from the same inputs (byte tokenizer: id = byte, 256 = the
delimiter before every document), and its errors on bad input.

usage: check_prepare.py WESAR WORKDIR [ENWIKI_XZ]
With ENWIKI_XZ (the 100 MB Wikipedia sample) it also prepares that, plain,
as xz, gzip and zstd, streaming, and checks every token and that peak memory
stays far below the text's size."""
import gzip
import json
import lzma
import os
import re
import resource
import shutil
import subprocess
import sys

import numpy as np
import zstandard  # Debian's python3-zstandard: the reference zstd codec


def read_shard(path):
    d = open(path, "rb").read()
    head = np.frombuffer(d[:1024], dtype="<i4")
    assert head[0] == 20240520, f"{path}: bad magic"
    dt = "<u2" if head[1] == 1 else "<u4"
    toks = np.frombuffer(d[1024:], dtype=dt)
    assert len(toks) == head[2], f"{path}: header count {head[2]}, {len(toks)} tokens"
    return toks.astype(np.int64)


def shards(out):
    train = sorted(f for f in os.listdir(out) if f.startswith("train_"))
    t = np.concatenate([read_shard(os.path.join(out, f)) for f in train])
    return t, read_shard(os.path.join(out, "val_000000.bin")), train


def expected(docs, frac):
    ids = []
    for d in docs:
        ids.append(256)
        ids.extend(d)
    ids = np.array(ids, dtype=np.int64)
    n_val = int(len(ids) * frac)
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def prepare(wesar, args, expect_ok=True):
    r = subprocess.run([wesar, "prepare", "--quiet"] + args, capture_output=True, text=True)
    if expect_ok and r.returncode:
        raise AssertionError(f"prepare {args} failed: {r.stderr}")
    return r


def main():
    wesar, work = sys.argv[1], sys.argv[2]
    enwiki = sys.argv[3] if len(sys.argv) > 3 else None
    shutil.rmtree(work, ignore_errors=True)
    src = os.path.join(work, "corpus")
    os.makedirs(os.path.join(src, "sub"))
    os.makedirs(os.path.join(src, ".git"))
    zstd = zstandard.ZstdCompressor(level=19)
    files = {  # name -> bytes; walked in sorted order: a.txt, b.jsonl, c.txt.xz, d.jsonl.xz, f..., sub/e.txt
        "a.txt": "First document.\nWith two lines, and ünïcode ✓.\n".encode(),
        "b.jsonl": (json.dumps({"text": "doc one", "meta": 1}) + "\n\n" +
                    json.dumps({"id": 7, "text": "doc \"two\"\nwith a newline"}) + "\r\n" +
                    json.dumps({"text": "日本語"})).encode(),  # no final newline
        "c.txt.xz": lzma.compress(b"compressed text " * 5000),
        "d.jsonl.xz": lzma.compress(b"".join((json.dumps({"text": f"line {i} " * (i % 7)}) + "\n").encode()
                                             for i in range(3000))),
        # two gzip members and two zstd frames, read as one stream each, as `gzip -dc` / `zstd -dc` do
        "f.txt.gz": gzip.compress("gzip text, ünïcode ✓ ".encode() * 4000) + gzip.compress(b" and a second member"),
        "g.jsonl.gz": gzip.compress(b"".join((json.dumps({"text": f"gz {i}"}) + "\n").encode() for i in range(500))),
        "h.json.gz": gzip.compress((json.dumps({"text": "C4 style"}) + "\n").encode()),
        "i.txt.zst": zstd.compress(b"zstd text " * 30000) + zstd.compress(b" and a second frame"),
        "j.jsonl.zst": zstd.compress(b"".join((json.dumps({"text": f"zst {i} " * (i % 5)}) + "\n").encode()
                                              for i in range(700))),
        "sub/e.txt": b"in a subfolder",
        ".git/ignored.txt": b"hidden entries are skipped",
    }
    for name, data in files.items():
        open(os.path.join(src, name), "wb").write(data)
    docs = [files["a.txt"]]
    docs += [b"doc one", 'doc "two"\nwith a newline'.encode(), "日本語".encode()]
    docs += [b"compressed text " * 5000]
    docs += [(f"line {i} " * (i % 7)).encode() for i in range(3000)]
    docs += ["gzip text, ünïcode ✓ ".encode() * 4000 + b" and a second member"]
    docs += [f"gz {i}".encode() for i in range(500)] + [b"C4 style"]
    docs += [b"zstd text " * 30000 + b" and a second frame"]
    docs += [(f"zst {i} " * (i % 5)).encode() for i in range(700)]
    docs += [b"in a subfolder"]
    fails = []

    out = os.path.join(work, "out")
    prepare(wesar, ["--val-fraction", "0.2", "--shard-tokens", "10000", src, out])
    tr, va, names = shards(out)
    want_tr, want_va = expected(docs, 0.2)
    if not (np.array_equal(tr, want_tr) and np.array_equal(va, want_va)):
        fails.append(f"folder: {len(tr)}+{len(va)} tokens, expected {len(want_tr)}+{len(want_va)} (or ids differ)")
    if len(names) != (len(want_tr) + 9999) // 10000:
        fails.append(f"--shard-tokens 10000: {len(names)} train shards for {len(want_tr)} tokens")
    meta = json.load(open(os.path.join(out, "meta.json")))
    if meta["documents"] != len(docs) or meta["train_tokens"] != len(want_tr):
        fails.append(f"meta.json: {meta}")
    if [f for f in os.listdir(out) if "tmp" in f]:
        fails.append(f"temporary files left in {out}: {os.listdir(out)}")
    print(f"  folder of text, jsonl, xz, gz and zst: {len(docs)} documents, {len(names)} train shards: "
          f"{'ok' if not fails else 'FAILED'}")

    # several inputs on the command line, in the order given
    out2 = os.path.join(work, "out2")
    prepare(wesar, [os.path.join(src, "sub/e.txt"), os.path.join(src, "a.txt"), out2])
    tr, va, _ = shards(out2)
    w = expected([files["sub/e.txt"], files["a.txt"]], 0.1)
    if not (np.array_equal(tr, w[0]) and np.array_equal(va, w[1])):
        fails.append("two inputs: shards differ")

    # --doc-boundary: a text file split where the pattern matches (Python's re the reference), the
    # match dropped, empty documents skipped; across the 128 kB blocks, and in a gzip stream
    dump = "".join(f"<doc id={i}>\nArticle {i}\n\n" + f"text of {i} " * (i * 37 % 5000) + "\n</doc>\n"
                   for i in range(120))
    pat = r"^</?doc[^>]*>\n"
    for name, data in [("wiki.txt", dump.encode()), ("wiki.txt.gz", gzip.compress(dump.encode()))]:
        d_in = os.path.join(work, "dump_" + name)
        open(d_in, "wb").write(data)
        outd = os.path.join(work, "dump_out_" + name)
        prepare(wesar, ["--doc-boundary", pat, "--val-fraction", "0.1", d_in, outd])
        tr, va, _ = shards(outd)
        parts = [x.encode() for x in re.split(pat, dump, flags=re.M) if x]
        want = expected(parts, 0.1)
        meta = json.load(open(os.path.join(outd, "meta.json")))
        if not (np.array_equal(tr, want[0]) and np.array_equal(va, want[1])) or meta["documents"] != 120:
            fails.append(f"--doc-boundary ({name}): {meta['documents']} documents, expected 120, or ids differ")
    r = prepare(wesar, ["--doc-boundary", "(unclosed", os.path.join(src, "a.txt"), os.path.join(work, "o")], expect_ok=False)
    if r.returncode != 1 or "--doc-boundary: not a regular expression (at offset 9: missing closing parenthesis)" not in r.stderr:
        fails.append(f"bad --doc-boundary: {r.stderr.strip()!r}")
    print(f"  --doc-boundary: {'ok' if not fails else 'FAILED'}")

    # bad input: a clear error naming the file and what was expected
    bad = os.path.join(work, "bad")
    os.makedirs(bad)
    open(os.path.join(bad, "x.jsonl"), "w").write('{"text": "ok"}\n{"txt": "no"}\n')
    open(os.path.join(bad, "y.jsonl"), "w").write('{"text": "ok"}\nnot json\n')
    open(os.path.join(bad, "z.jsonl"), "w").write('{"text": 5}\n')
    open(os.path.join(bad, "t.txt.xz"), "wb").write(lzma.compress(b"x" * 100000)[:-20])
    open(os.path.join(bad, "g.txt.xz"), "wb").write(b"\xfd7zXZ\x00garbage that is not xz")
    gz = gzip.compress(os.urandom(50000))
    open(os.path.join(bad, "t.txt.gz"), "wb").write(gz[:30000])
    open(os.path.join(bad, "c.txt.gz"), "wb").write(gz[:100] + bytes(b ^ 0x55 for b in gz[100:200]) + gz[200:])
    zs = zstd.compress(os.urandom(50000))
    open(os.path.join(bad, "t.txt.zst"), "wb").write(zs[:30000])
    open(os.path.join(bad, "c.txt.zst"), "wb").write(zs[:4] + b"\xff" * 40 + zs[44:])
    for name, want in [("x.jsonl", 'x.jsonl:2: expected a JSON object with a string field "text"'),
                       ("y.jsonl", "y.jsonl:2: expected a JSON object with a string field \"text\" (the line is not valid JSON)"),
                       ("z.jsonl", "z.jsonl:1: expected"),
                       ("t.txt.xz", "t.txt.xz: xz data is truncated"),
                       ("g.txt.xz", "g.txt.xz: xz data is corrupt"),
                       ("t.txt.gz", "t.txt.gz: gzip data is truncated at byte 30000 of the file"),
                       ("c.txt.gz", "c.txt.gz: gzip data is corrupt at byte"),
                       ("t.txt.zst", "t.txt.zst: zstd data is truncated at byte 30000 of the file"),
                       ("c.txt.zst", "c.txt.zst: zstd data is corrupt at byte"),
                       ("missing.txt", "missing.txt: cannot open")]:
        r = prepare(wesar, [os.path.join(bad, name), os.path.join(work, "o")], expect_ok=False)
        if r.returncode != 1 or want not in r.stderr or "Sanitizer" in r.stderr:
            fails.append(f"{name}: rc {r.returncode}, stderr {r.stderr.strip()!r}, expected {want!r}")
    print(f"  bad inputs: clear errors: {'ok' if not fails else 'FAILED'}")

    if enwiki:  # 100 MB of text, streamed: every token, and bounded memory
        text = lzma.open(enwiki).read()
        plain = os.path.join(work, "enwiki.txt")
        open(plain, "wb").write(text)
        gzp, zsp = os.path.join(work, "enwiki.txt.gz"), os.path.join(work, "enwiki.txt.zst")
        open(gzp, "wb").write(gzip.compress(text, compresslevel=1))
        open(zsp, "wb").write(zstandard.ZstdCompressor(level=3).compress(text))
        text = np.frombuffer(text, dtype=np.uint8)
        # zlib's window is 32 kB; zstd's at level 3 a few MB
        for name, path, limit in [("plain", plain, 40), ("xz", enwiki, 64 + 40), ("gz", gzp, 40), ("zst", zsp, 40 + 16)]:
            out3 = os.path.join(work, "enwiki_" + name)
            # a small fresh python runs it and reports its child's peak (a child forked from this
            # process would count the text held here); xz -9 needs liblzma's 64 MiB dictionary on top
            r = subprocess.run([sys.executable, "-c", PEAK, wesar, "prepare", "--quiet", path, out3],
                               capture_output=True, text=True)
            if r.returncode:
                raise AssertionError(r.stderr)
            rss_mb = float(r.stdout) / 1024
            tr, va, _ = shards(out3)
            ok = len(tr) + len(va) == len(text) + 1 and tr[0] == 256 and \
                np.array_equal(tr[1:], text[:len(tr) - 1]) and np.array_equal(va, text[len(tr) - 1:])
            if not ok:
                fails.append(f"enwiki ({name}): shards differ from the text")
            if rss_mb > limit:
                fails.append(f"enwiki ({name}): peak memory {rss_mb:.0f} MB, expected < {limit} MB")
            print(f"  enwiki sample ({name}): {len(text)} bytes streamed, tokens exact: {ok}, "
                  f"peak memory {rss_mb:.0f} MB (limit {limit} MB)")
            shutil.rmtree(out3)
        # the sample's articles: a blank line, a title line, a blank line (see the README for the count)
        pat = r"\n\n(?=[^\n]+\n\n)"
        out4 = os.path.join(work, "enwiki_docs")
        prepare(wesar, ["--doc-boundary", pat, enwiki, out4])
        tr, va, _ = shards(out4)
        parts = [x for x in re.split(pat.encode(), bytes(text)) if x]
        want = expected(parts, 0.1)
        meta = json.load(open(os.path.join(out4, "meta.json")))
        ok = np.array_equal(tr, want[0]) and np.array_equal(va, want[1])
        print(f"  enwiki sample split with --doc-boundary: {meta['documents']} documents, tokens exact: {ok}")
        if not ok or meta["documents"] != len(parts):
            fails.append(f"enwiki --doc-boundary: {meta['documents']} documents, expected {len(parts)}, or ids differ")
        shutil.rmtree(out4)
        os.unlink(plain)
    if fails:
        print("  FAILED: " + "; ".join(fails[:6]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
