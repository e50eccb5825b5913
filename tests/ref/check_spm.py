"""Checks wesar's SentencePiece tokenizer (src/data/sentencepiece.c, through
tests/tok_dump) on LLaMA-2's tokenizer.model:

1. published encodings: llama.cpp's tests/test-tokenizer-0-llama.cpp, which
   its authors generated with the sentencepiece Python package;
2. libsentencepiece itself (Debian's python3-sentencepiece, a separate C++
   implementation) on tricky strings, on bytes that are not UTF-8, and on
   whole files (WikiText-2 test, tinyshakespeare), which must also round-trip;
3. libsentencepiece on two small hand-made models (tests/small_spm_model.py)
   with the features LLaMA's lacks;
4. with --prepare WESAR: `wesar prepare`'s shards hold <s> + the same ids.

usage: check_spm.py TOK_DUMP TOKENIZER_MODEL WORKDIR [--prepare WESAR] [FILE ...]"""
import os
import subprocess
import sys

import sentencepiece

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokfiles import check_files, first_difference  # noqa: E402

PUBLISHED = [  # llama.cpp tests/test-tokenizer-0-llama.cpp (ids without <s>)
    ("", []), (" ", [259]), ("  ", [1678]), ("   ", [268]), ("\t", [29871, 12]), ("\n", [29871, 13]),
    ("\t\n", [29871, 12, 13]), ("Hello world", [15043, 3186]), (" Hello world", [29871, 15043, 3186]),
    ("Hello World", [15043, 2787]), (" Hello World", [29871, 15043, 2787]),
    (" Hello World!", [29871, 15043, 2787, 29991]), ("Hello, world!", [15043, 29892, 3186, 29991]),
    (" Hello, world!", [29871, 15043, 29892, 3186, 29991]),
    (" this is 🦙.cpp", [29871, 445, 338, 29871, 243, 162, 169, 156, 29889, 8223]),
    ("w048 7tuijk dsdfhu", [281, 29900, 29946, 29947, 29871, 29955, 9161, 13535, 18031, 2176, 6905]),
    ("нещо на Български", [1538, 4851, 665, 1386, 29713, 1305]), ("Hello", [15043]),
    (" Hello", [29871, 15043]), ("  Hello", [259, 15043]), ("   Hello", [1678, 15043]),
    ("    Hello", [268, 15043]), ("    Hello\n    Hello", [268, 15043, 13, 1678, 15043]), (" (", [29871, 313]),
]

TRICKY = ["I'm", "don't", "they're", "1234567890", "3.14159", "$1,000,000", "Hello 👋 world 🌍!",
          "😀😃😄", "日本語のテキスト", "中文字符", "한국어", " leading", "  two leading", "trailing  ",
          "multiple    spaces", "line\nbreak", "\n\n\n", "tab\there", "\r\nwindows", " \n ", "emoji👍🏽skin",
          "ÀÉÎÕÜ ñ ç", "<s>", "</s>", "<unk>", "<0x41>", "▁", "a▁b", "x" * 3000, " " * 100 + "a",
          "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", "\x00\x01\x1f", "\u00a0nbsp"]


def c_encode(tok_dump, model, work, data, must_round_trip=True):
    path = os.path.join(work, "in.txt")
    open(path, "wb").write(data)
    r = subprocess.run([tok_dump, "sentencepiece", model, path], capture_output=True)
    if r.returncode == 2 or (r.returncode and must_round_trip):
        raise RuntimeError(r.stderr.decode())
    return [int(x) for x in r.stdout.split()]


def main():
    args = sys.argv[1:]
    wesar = None
    if "--prepare" in args:
        i = args.index("--prepare")
        wesar = args[i + 1]
        del args[i:i + 2]
    tok_dump, model, work = args[:3]
    files = args[3:]
    os.makedirs(work, exist_ok=True)
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    fails = []
    for text, ids in PUBLISHED:
        got = c_encode(tok_dump, model, work, text.encode())
        if got != ids:
            fails.append(f"{text!r}: wesar {got}, llama.cpp's test {ids}")
        if sp.encode(text) != ids:  # the reference must agree with the published ids too
            fails.append(f"{text!r}: libsentencepiece {sp.encode(text)}, llama.cpp's test {ids}")
    for text in TRICKY:
        # "▁" is how SentencePiece spells a space, so it decodes to one
        got = c_encode(tok_dump, model, work, text.encode(), must_round_trip="▁" not in text)
        want = sp.encode(text)
        if got != want:
            fails.append(f"{text[:40]!r}: wesar {got[:12]}, libsentencepiece {want[:12]}")
    # not UTF-8: each bad byte is U+FFFD to both (so no round trip here)
    import random
    rnd = random.Random(7)
    junk = b"ok \xff\xfe \xc3( \xe2\x82 \xf0\x9f\x98 abc" + bytes(rnd.randrange(256) for _ in range(20000))
    got, want = c_encode(tok_dump, model, work, junk, must_round_trip=False), sp.encode(junk)
    if got != want:
        fails.append(f"invalid UTF-8: {len(got)} vs {len(want)} ids, first difference at {first_difference(got, want)}")
    print(f"  {len(PUBLISHED)} published encodings, {len(TRICKY)} tricky strings, 20 kB of random bytes")
    # hand-made models with what LLaMA's lacks: a user-defined piece, an UNUSED piece (taken
    # apart again), remove_extra_whitespaces; and LLaMA's settings on a tiny vocabulary
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import small_spm_model
    extra = ["the thing", "  the   a<sep>then  ", "x<sep>y", "<sep><sep>", "thin ing", "a  b", "   ", " ",
             "th", "the the  the   the", "ing" * 50]
    for variant in ("ok", "plain"):
        small = os.path.join(work, f"small_{variant}.model")
        open(small, "wb").write(small_spm_model.model(variant))
        ssp = sentencepiece.SentencePieceProcessor(model_file=small)
        for text in TRICKY + extra:
            got = c_encode(tok_dump, small, work, text.encode(), must_round_trip=False)
            if got != ssp.encode(text):
                fails.append(f"small model ({variant}) {text[:30]!r}: wesar {got[:10]}, "
                             f"libsentencepiece {ssp.encode(text)[:10]}")
    print(f"  two hand-made models (user-defined and UNUSED pieces, extra-space removal): "
          f"{len(TRICKY) + len(extra)} strings each")
    check_files(files, lambda data: c_encode(tok_dump, model, work, data), sp.encode, "libsentencepiece", wesar,
                ["--tokenizer", "sentencepiece", "--tokenizer-path", model], 1, "<s>", work, fails)
    if fails:
        print("  FAILED: " + "; ".join(fails[:6]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
