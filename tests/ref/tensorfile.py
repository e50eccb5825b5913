"""Reader for the test tensor files written by tests/tensorfile.h (own parser)."""
import struct

import numpy as np

_DT = {0: np.float32, 1: np.int32, 2: np.float64}


def read(path):
    out = {}
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"WSRT":
        raise ValueError(f"{path}: not a WSRT tensor file")
    (count,) = struct.unpack_from("<I", data, 4)
    off = 8
    for _ in range(count):
        (nl,) = struct.unpack_from("<I", data, off)
        off += 4
        name = data[off:off + nl].decode()
        off += nl
        dtype, ndim = struct.unpack_from("<II", data, off)
        off += 8
        dims = struct.unpack_from("<%dq" % ndim, data, off)
        off += 8 * ndim
        dt = np.dtype(_DT[dtype])
        n = int(np.prod(dims)) if ndim else 1
        out[name] = np.frombuffer(data, dt, n, off).reshape(dims).copy()
        off += n * dt.itemsize
    return out
