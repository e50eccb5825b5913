"""Writes a small SentencePiece BPE model (the model proto, by hand) for tests.

usage: small_spm_model.py OUT.model [VARIANT]
VARIANT: ok (default): byte fallback, a user-defined piece "<sep>", an UNUSED
piece, remove_extra_whitespaces on; plain: LLaMA's settings (identity
normalizer, no extra-space removal); and damaged ones for error tests:
unigram, charsmap, nounk, badbyte, truncated, garbage, dup."""
import struct
import sys

NORMAL, UNKNOWN, CONTROL, USER, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def varint(v):
    out = b""
    while True:
        b = v & 127
        v >>= 7
        if v:
            out += bytes([b | 128])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + varint(len(payload)) + payload


def piece(text, score, kind):
    return field(1, 2, text.encode()) + field(2, 5, score) + field(3, 0, kind)


def model(variant):
    pieces = [("<unk>", 0, UNKNOWN), ("<s>", 0, CONTROL), ("</s>", 0, CONTROL)]
    pieces += [("<0x%02X>" % b, 0, BYTE) for b in range(256)]
    if variant == "badbyte":
        pieces[3 + 65] = ("<0xZZ>", 0, BYTE)
    if variant == "nounk":
        pieces[0] = ("<unk>", 0, CONTROL)
    pieces.append(("<sep>", 0, USER))
    # merges by score: "▁t" "he" "▁the" "▁a" "in" "ing" "▁▁", and an UNUSED "▁th"
    words = [("▁", -1), ("t", -2), ("h", -3), ("e", -4), ("a", -5), ("i", -6), ("n", -7), ("g", -8),
             ("▁t", -10), ("he", -11), ("▁the", -12), ("▁a", -13), ("in", -14), ("ing", -15), ("▁▁", -16)]
    pieces += [(w, s, NORMAL) for w, s in words]
    pieces.append(("▁th", -9, UNUSED))
    if variant == "dup":
        pieces.append(("he", -30, NORMAL))
    body = b"".join(field(1, 2, piece(*p)) for p in pieces)
    trainer = field(3, 0, 1 if variant == "unigram" else 2) + field(35, 0, 1)
    body += field(2, 2, trainer)
    norm = field(1, 2, b"identity")
    if variant == "charsmap":
        norm += field(2, 2, b"\x01\x02\x03\x04")
    norm += field(3, 0, 1) + field(4, 0, 0 if variant == "plain" else 1)
    body += field(3, 2, norm)
    if variant == "truncated":
        body = body[:len(body) // 2]
    if variant == "garbage":
        body = b"this is not a protobuf message at all \xff\xff\xff"
    return body


if __name__ == "__main__":
    open(sys.argv[1], "wb").write(model(sys.argv[2] if len(sys.argv) > 2 else "ok"))
