"""Reading a GGUF file (llama.cpp's format): its metadata, its tensor table, and each tensor as float32.

Layout (little-endian): ``GGUF``, version (2 or 3), tensor count, metadata count; the metadata as
(key, type, value) triples; then per tensor its name, dimensions (fastest-varying first), type and
offset; then, aligned to ``general.alignment`` (32 by default), the tensor data.

The header is parsed here rather than with ``gguf.GGUFReader`` for two reasons: every count and length
read from the file is checked against what the file can hold before anything is allocated (a truncated
or damaged file is one :class:`UserError`), and it is several times faster (the reader builds a numpy
view per string: 100,000 of them for SmolLM2's tokens and merges, 3 s). The ``gguf`` package provides
the quantisation types, their block sizes and, for the types without a fast path here, the dequantiser.

Dequantisation: F32, F16, BF16 and the block types Q8_0, Q4_0 and Q4_1 (SmolLM2's) are dequantised with
torch (all cores; the same arithmetic as ``gguf.quants``: d * q (+ m) in float32, so bit-identical);
every other type goes through ``gguf.quants.dequantize``.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.files import reason

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_TENSORS = 1 << 20
MAX_KEYS = 1 << 20
MAX_STRING = 64 << 20  # a chat template or a token; 64 MiB is far beyond any
MAX_DIMS = 4
MAX_ELEMENTS = 1 << 36

# value type -> (struct format, size); 8 = string, 9 = array
_SCALARS = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4), 5: ("<i", 4), 6: ("<f", 4),
            7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8), 12: ("<d", 8)}
STRING, ARRAY = 8, 9
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8",
          12: "<f8"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # torch order: slowest-varying first ((rows, columns) for a matrix)
    qtype: int  # gguf.GGMLQuantizationType
    start: int  # byte offset in the file
    nbytes: int

    @property
    def elements(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class _Cursor:
    """Reads little-endian values from a buffer, refusing any read past its end."""

    def __init__(self, buf: Any, path: Path) -> None:
        self.buf, self.pos, self.size, self.path = buf, 0, len(buf), path

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise UserError(f"{self.path} is truncated or corrupt (its {what} runs past the end of the file)")

    def scalar(self, vtype: int, what: str) -> Any:
        fmt, size = _SCALARS[vtype]
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def u32(self, what: str) -> int:
        return self.scalar(4, what)

    def u64(self, what: str) -> int:
        return self.scalar(10, what)

    def string(self, what: str) -> str:
        n = self.u64(what)
        if n > MAX_STRING:
            raise UserError(f"{self.path} is corrupt (a {what} of {n:,} bytes)")
        self.need(n, what)
        raw = self.buf[self.pos:self.pos + n]
        self.pos += n
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"{self.path} is corrupt (a {what} is not UTF-8)") from None

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype, what)
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY and depth < 2:
            etype = self.u32(what)
            n = self.u64(what)
            if etype in _SCALARS:
                size = _SCALARS[etype][1]
                self.need(n * size, what)
                arr = np.frombuffer(self.buf, dtype=_NUMPY[etype], count=n, offset=self.pos).copy()
                self.pos += n * size
                return arr.astype(bool) if etype == 7 else arr
            if etype not in (STRING, ARRAY):
                raise UserError(f"{self.path} is corrupt ({what} has an unknown element type {etype})")
            self.need(n * 8, what)  # every string or array takes at least 8 bytes: a bogus count stops here
            return [self.value(etype, what, depth + 1) for _ in range(n)]
        raise UserError(f"{self.path} is corrupt ({what} has an unknown value type {vtype})")


class GGUFFile:
    """A GGUF file's metadata (``metadata``: key -> value; arrays of numbers as numpy arrays) and tensor
    table (``tensors``: name -> :class:`TensorInfo`); :meth:`tensor` reads one tensor as float32."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "rb") as f:
                size = f.seek(0, 2)
                if size < 24:
                    raise UserError(f"{self.path} is not a GGUF file (only {size} bytes)")
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except OSError as e:
            raise UserError(f"{self.path} cannot be read ({reason(e)})") from None
        cur = _Cursor(self._map, self.path)
        if bytes(self._map[:4]) != MAGIC:
            raise UserError(f"{self.path} is not a GGUF file (it does not start with GGUF)")
        cur.pos = 4
        version = cur.u32("version")
        if version not in VERSIONS:
            raise UserError(f"{self.path} is GGUF version {version}; this build reads versions 2 and 3")
        n_tensors, n_keys = cur.u64("tensor count"), cur.u64("metadata count")
        if n_tensors > MAX_TENSORS or n_keys > MAX_KEYS:
            raise UserError(f"{self.path} is corrupt ({n_tensors:,} tensors, {n_keys:,} metadata entries)")
        self.metadata: dict[str, Any] = {}
        for _ in range(n_keys):
            key = cur.string("metadata key")
            self.metadata[key] = cur.value(cur.u32(f"type of {key[:60]}"), f"value of {key[:60]}")
        self.version = version
        infos = []
        for _ in range(n_tensors):
            name = cur.string("tensor name")
            n_dims = cur.u32(f"dimensions of {name[:60]}")
            if not 1 <= n_dims <= MAX_DIMS:
                raise UserError(f"{self.path} is corrupt (tensor {name[:60]} has {n_dims} dimensions)")
            dims = [cur.u64(f"dimensions of {name[:60]}") for _ in range(n_dims)]
            infos.append((name, dims, cur.u32(f"type of {name[:60]}"), cur.u64(f"offset of {name[:60]}")))
        align = self.metadata.get("general.alignment", 32)
        if isinstance(align, bool) or not isinstance(align, int) or not 1 <= align <= 1 << 16 or align & (align - 1):
            raise UserError(f"{self.path} is corrupt (alignment {str(align)[:20]})")
        data = -(-cur.pos // align) * align
        self.tensors: dict[str, TensorInfo] = {}  # ordered as in the file
        for name, dims, qtype, offset in infos:
            self.tensors[name] = self._check_tensor(name, dims, qtype, data + offset, align)

    def _check_tensor(self, name: str, dims: list[int], qtype: int, start: int, align: int) -> TensorInfo:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        where = f"{self.path}: tensor {name[:60]}"
        try:
            kind = GGMLQuantizationType(qtype)
            block, block_bytes = GGML_QUANT_SIZES[kind]
        except (ValueError, KeyError):
            raise UserError(f"{where} has an unknown type {qtype}") from None
        n = 1
        for s in dims:
            if not 1 <= s <= MAX_ELEMENTS:
                raise UserError(f"{where} has a dimension of {s:,}")
            n *= s
        if n > MAX_ELEMENTS or dims[0] % block:
            raise UserError(f"{where} has a shape {dims} that does not fit its type {kind.name}")
        nbytes = n // block * block_bytes
        if start % align or start + nbytes > len(self._map):
            raise UserError(f"{self.path} is truncated or corrupt (tensor {name[:60]} lies past the end of the "
                            "file)")
        return TensorInfo(name, tuple(reversed(dims)), int(qtype), start, nbytes)

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def raw(self, info: TensorInfo) -> torch.Tensor:
        """The tensor's bytes: a uint8 view of the file (copy-on-write, never written)."""
        return torch.frombuffer(self._map, dtype=torch.uint8, count=info.nbytes, offset=info.start)

    def tensor(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """The tensor as float32 in torch's shape order, written into ``out`` (contiguous) when given."""
        info = self.tensors[name]
        if out is None:
            out = torch.empty(info.shape, dtype=torch.float32)
        elif tuple(out.shape) != info.shape or not out.is_contiguous():
            raise ValueError(f"{name} is {info.shape}; out is {tuple(out.shape)}")
        return dequantize(self.raw(info), info.qtype, out, f"{self.path}: tensor {name[:60]}")

    def close(self) -> None:
        try:
            self._map.close()
        except BufferError:  # a tensor still views the file: the map closes when it goes
            pass


def _check_finite(t: torch.Tensor, what: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise UserError(f"{what} has NaN or infinite values")


def _half(blocks: torch.Tensor, at: int, what: str) -> torch.Tensor:
    """The float16 at byte ``at`` of every block, as float32 (n_blocks, 1); a block's values are finite when
    its scales are, so checking them checks the tensor."""
    h = blocks[:, at:at + 2].contiguous().view(torch.float16).float()
    _check_finite(h, what)
    return h


def _nibbles_into(out: torch.Tensor, qs: torch.Tensor) -> None:
    """(n, 16) bytes -> out (n, 32): the low nibbles are elements 0..15, the high nibbles 16..31."""
    out[:, :16] = qs & 0x0F
    out[:, 16:] = qs >> 4


def dequantize(raw: torch.Tensor, qtype: int, out: torch.Tensor, what: str = "a tensor") -> torch.Tensor:
    """Bytes of one tensor of GGML type ``qtype`` (a uint8 tensor) -> ``out``, float32 of the tensor's shape
    (contiguous): written in place, with no copy of the whole tensor on the way (a 135M-parameter model
    loads in well under a second). Values are checked finite."""
    from gguf import GGMLQuantizationType as Q

    flat = out.view(-1)
    if qtype == Q.F32:
        flat.copy_(raw.view(torch.float32))
    elif qtype == Q.F16:
        flat.copy_(raw.view(torch.float16))
    elif qtype == Q.BF16:
        flat.copy_(raw.view(torch.bfloat16))
    elif qtype == Q.Q8_0:  # 34 bytes: d (f16), 32 int8; x = q d
        b = raw.view(-1, 34)
        y = flat.view(-1, 32)
        y.copy_(b[:, 2:].view(torch.int8))
        y.mul_(_half(b, 0, what))
        return out
    elif qtype == Q.Q4_0:  # 18 bytes: d (f16), 16 bytes of 4-bit q; x = d (q - 8)
        b = raw.view(-1, 18)
        y = flat.view(-1, 32)
        _nibbles_into(y, b[:, 2:])
        y.sub_(8.0).mul_(_half(b, 0, what))
        return out
    elif qtype == Q.Q4_1:  # 20 bytes: d (f16), m (f16), 16 bytes of 4-bit q; x = d q + m
        b = raw.view(-1, 20)
        y = flat.view(-1, 32)
        _nibbles_into(y, b[:, 4:])
        y.mul_(_half(b, 0, what)).add_(_half(b, 2, what))
        return out
    else:
        from gguf.quants import dequantize as slow

        try:
            flat.copy_(torch.from_numpy(np.ascontiguousarray(slow(raw.numpy(), Q(qtype)), dtype=np.float32)).view(-1))
        except NotImplementedError:
            raise UserError(f"tensors of type {Q(qtype).name} cannot be dequantised by this build") from None
    _check_finite(out, what)
    return out
