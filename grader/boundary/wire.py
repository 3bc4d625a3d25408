"""The pipe protocol between the trusted grader and an untrusted worker.

A message is a JSON header followed by the bytes of its tensors, back to back:

    [4-byte big-endian header length][header JSON][tensor 0's bytes][tensor 1's bytes] ...

The header's "tensors" table has one entry per tensor, in that order: [dtype, shape], then
its device and Python type where they are not "cpu" and "torch.Tensor". An entry's bytes
(row-major, numel x itemsize) follow from its dtype and shape: there is no length to trust
and no entry can name another's bytes. Values inside the header are JSON with a few tagged
objects:

    {"$t": i}              tensor i of the header's "tensors" table
    {"$tuple": [...]}      a tuple (JSON lists stay lists)
    {"$dict": [[k, v]]}    a dict with string keys, in order
    {"$dtype": "float32"}  a torch.dtype
    {"$h": [n, "type"]}    a handle: an object kept on the worker side (a cache), and its type
    {"$gen": {"seed": s}}  a torch.Generator seeded with s (made on the worker side)
    {"$prev": [j, i]}      in a batch: output i (null: all) of call j, kept in the worker
    {"$nonfinite": "nan"}  a float that JSON cannot carry portably
    {"$int": "123..."}     an integer outside the 64-bit range, in decimal

Nothing here unpickles anything. The trusted side decodes with limits (header size, blob
size, element count, dtype allow-list) checked before any allocation, because the
worker's bytes are attacker-controlled.
"""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import time
from dataclasses import dataclass

import orjson
import torch

MAX_HEADER_BYTES = 8 * 1024 * 1024
MAX_BLOB_BYTES = 1024 * 1024 * 1024
MAX_ELEMENTS = 256 * 1024 * 1024
MAX_TENSORS = 100_000

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
_ITEMSIZE = {d: torch.empty((), dtype=d).element_size() for d in DTYPES.values()}


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed message."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker (e.g. a cache); only its number and type cross."""

    id: int
    type: str = ""


@dataclass(frozen=True)
class Earlier:
    """In a batch: output `index` (None: the whole result) of the batch's call `call`,
    which stays in the worker and is passed on as if it had been sent back."""

    call: int
    index: int | None = None


@dataclass(frozen=True)
class GeneratorSpec:
    """A request for a fresh torch.Generator, seeded, on the worker's device."""

    seed: int


# ---------------------------------------------------------------------------- encoding


def type_name(obj) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def tensor_to_bytes(t: torch.Tensor) -> bytes:
    """A copy of the bytes of `t` (on the CPU, in row-major order)."""
    if type(t) is torch.Tensor and t.is_cpu and t.dtype in _NUMPY_DTYPES and not t.requires_grad:
        # The in-place checks take two of these per input of every call: one numpy call
        # (tobytes copies in row-major order whatever the strides) instead of five.
        try:
            return t.numpy().tobytes()
        except RuntimeError:  # a lazily negated view: numpy() refuses it
            pass
    return bytes(tensor_view(t))


_NUMPY_DTYPES = frozenset(DTYPES.values()) - {torch.bfloat16}


def tensor_view(t: torch.Tensor) -> memoryview:
    """The bytes of `t` (on the CPU, in row-major order) without copying them where `t`
    is a contiguous CPU tensor already; the view keeps that memory alive."""
    if (type(t) is torch.Tensor and t.is_cpu and t.dtype in _NUMPY_DTYPES
            and not t.requires_grad and t.is_contiguous()):
        # The common case in a few calls (a step of a trajectory copies and checks about
        # ten small tensors: the general path below costs 5 us each, this one 1 us).
        try:
            return t.numpy().data.cast("B")
        except RuntimeError:  # a lazily negated view: numpy() refuses it
            pass
        except TypeError:  # no elements: memoryview cannot cast a view with zeros in shape
            return memoryview(b"")
    flat = t.detach().to("cpu").resolve_neg().contiguous().reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(torch.uint8).numpy())


class Encoder:
    """Turns Python values into a JSON-able tree plus a tensor table and their bytes.

    The same tensor object appearing twice is sent once, so the other side recreates one
    tensor (self-attention passes the very same tensor as xq and xkv).
    """

    def __init__(self, handle_for=None):
        self.tensors: list[list] = []
        """The tensor table: [dtype, shape] (+ [device] (+ [type]) where not the default)."""
        self.blobs: list[memoryview] = []
        """Each tensor's bytes, viewed, not copied: they are sent straight from its memory
        (send them before changing the tensors)."""
        self._ids: dict[int, int] = {}
        self.objects: list[torch.Tensor] = []
        """The tensors sent, in table order (this also keeps their id()s stable)."""
        self._handle_for = handle_for
        self.touched: list[int] = []
        """Indices of the tensors referenced since the caller last cleared this list."""

    def forget_ids(self) -> None:
        """Send tensors seen so far again if they reappear (one message carrying several
        independent calls' inputs: each call gets tensors of its own)."""
        self._ids = {}

    def encode(self, obj):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj if _INT64_MIN <= obj <= _UINT64_MAX else {"$int": str(obj)}
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"$nonfinite": repr(obj)}
        if isinstance(obj, torch.Tensor):
            key = id(obj)
            if key not in self._ids:
                self._ids[key] = len(self.tensors)
                self.objects.append(obj)
                plain = obj.as_subclass(torch.Tensor) if type(obj) is not torch.Tensor else obj
                dtype = DTYPE_NAMES.get(plain.dtype)
                if dtype is None:
                    raise ProtocolError(f"cannot send a tensor of dtype {plain.dtype}")
                entry = [dtype, list(plain.shape)]
                if type(obj) is not torch.Tensor:
                    entry += [str(plain.device), type_name(obj)]
                elif not plain.is_cpu:
                    entry.append(str(plain.device))
                self.tensors.append(entry)
                self.blobs.append(tensor_view(plain))
            self.touched.append(self._ids[key])
            return {"$t": self._ids[key]}
        if isinstance(obj, torch.dtype):
            return {"$dtype": DTYPE_NAMES[obj]}
        if isinstance(obj, Handle):
            return {"$h": [obj.id, obj.type]}
        if isinstance(obj, GeneratorSpec):
            return {"$gen": {"seed": int(obj.seed)}}
        if isinstance(obj, Earlier):
            return {"$prev": [int(obj.call), None if obj.index is None else int(obj.index)]}
        if isinstance(obj, tuple):
            return {"$tuple": [self.encode(v) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v) for v in obj]
        if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
            return {"$dict": [[k, self.encode(v)] for k, v in obj.items()]}
        if self._handle_for is not None:
            return {"$h": [self._handle_for(obj), type_name(obj)]}
        raise ProtocolError(f"cannot send a value of type {type(obj).__name__}")


@dataclass
class Decoded:
    """A decoded message: the header's fields and the tensors it carried."""

    header: dict
    tensors: list[torch.Tensor]
    tensor_meta: list[tuple[str, str]]
    """Each tensor's (device, Python type) as the sender described it."""


class Decoder:
    """Rebuilds values from a decoded message.

    ``resolve_handle`` maps {"$h": n} to an object (worker side) or a Handle (trusted
    side); ``make_generator`` builds a generator from a seed (worker side only).
    """

    def __init__(self, msg: Decoded, resolve_handle=Handle, make_generator=None,
                 resolve_earlier=None):
        self.msg = msg
        self.resolve_handle = resolve_handle
        self.make_generator = make_generator
        self.resolve_earlier = resolve_earlier
        """{"$prev": [j, i]} -> output i of call j of a batch (worker side only)."""
        self.tensor_refs: list[int] = []
        """The tensor-table indices decoded so far, in order (one per {"$t": i})."""

    def decode(self, node, depth: int = 0):
        if depth > 64:
            raise ProtocolError("value nested too deeply")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or len(node) != 1:
            raise ProtocolError(f"malformed value: {str(node)[:80]}")
        (tag, val), = node.items()
        if tag == "$t":
            if not isinstance(val, int) or not 0 <= val < len(self.msg.tensors):
                raise ProtocolError(f"tensor reference out of range: {val!r}")
            self.tensor_refs.append(val)
            return self.msg.tensors[val]
        if tag == "$tuple" and isinstance(val, list):
            return tuple(self.decode(v, depth + 1) for v in val)
        if tag == "$dict" and isinstance(val, list):
            out = {}
            for item in val:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise ProtocolError("malformed dict entry")
                out[item[0]] = self.decode(item[1], depth + 1)
            return out
        if tag == "$dtype" and val in DTYPES:
            return DTYPES[val]
        if (tag == "$h" and isinstance(val, list) and len(val) == 2
                and isinstance(val[0], int) and isinstance(val[1], str)):
            return self.resolve_handle(val[0], val[1][:200])
        if tag == "$nonfinite" and val in ("nan", "inf", "-inf"):
            return float(val)
        if tag == "$int" and isinstance(val, str) and len(val) <= 4300:
            try:
                return int(val)
            except ValueError:
                raise ProtocolError("malformed integer") from None
        if (tag == "$prev" and self.resolve_earlier is not None and isinstance(val, list)
                and len(val) == 2):
            return self.resolve_earlier(val[0], val[1])
        if tag == "$gen" and isinstance(val, dict) and self.make_generator is not None:
            return self.make_generator(int(val["seed"]))
        raise ProtocolError(f"malformed value tag {tag!r}")


# ---------------------------------------------------------------------------- framing


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
"""The integers orjson writes (the Encoder tags the others as {"$int": ...})."""


def _dumps(header: dict) -> bytes:
    """JSON for a header. orjson: a small call's reply costs 1 us there against 11 with
    the standard module, and a worker sends one per call. Every float reaches it finite
    (Encoder tags the others: orjson would write NaN as null). A lone surrogate (an
    exception message can hold one) or nesting orjson refuses goes the standard way."""
    try:
        return orjson.dumps(header)
    except TypeError:
        return json.dumps(header, separators=(",", ":")).encode()


def _loads(raw: bytes):
    """A header's JSON; the standard parser reads what orjson refuses (escaped lone
    surrogates, NaN): what this side accepts is what it accepted before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def _parts(header: dict, enc: Encoder | None) -> list:
    if enc is not None and enc.tensors:
        header = dict(header)
        header["tensors"] = enc.tensors
    raw = _dumps(header)
    return [struct.pack(">I", len(raw)), raw, *(enc.blobs if enc is not None else ())]


def frame(header: dict, enc: Encoder | None = None) -> bytes:
    """One message as bytes, its tensors' bytes copied now (to be sent later, with others:
    the tensors may change meanwhile)."""
    return b"".join(_parts(header, enc))


_IOV_MAX = 512
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def send(sock: socket.socket, header: dict, enc: Encoder | None = None,
         deadline: float | None = None) -> None:
    """Write one message, each tensor's bytes straight from its memory (one gather write,
    no copy into a joined buffer: a round trip of a few MB cost 6 copies of each byte).

    With a `deadline` (time.monotonic()), raise TimeoutError once it passes: a worker that
    stops reading (a signal handler asleep between calls) must not hold the sender forever
    on a message larger than the socket's buffer."""
    views = [v for v in (memoryview(p).cast("B") for p in _parts(header, enc)) if len(v)]
    if not hasattr(sock, "sendmsg") or not _DONTWAIT:  # Windows: a plain write, no deadline
        sock.sendall(b"".join(views))
        return
    while views:
        try:
            sent = sock.sendmsg(views[:_IOV_MAX], [], 0 if deadline is None else _DONTWAIT)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError from None
            _, ready, _ = select.select([], [sock], [], left)
            if not ready:
                raise TimeoutError from None
            continue
        while sent:
            if sent >= len(views[0]):
                sent -= len(views.pop(0))
            else:
                views[0] = views[0][sent:]
                sent = 0


def _recv_some(sock: socket.socket, view: memoryview, deadline: float | None) -> int:
    """Read at least one byte (at most len(view)) into `view`, by the absolute deadline."""
    want = min(len(view), 1 << 22)
    if deadline is not None:
        # Most reads find their bytes already there (the rest of a message whose first
        # bytes arrived): try without waiting, select only when none are.
        try:
            if not _DONTWAIT:  # (Windows has no MSG_DONTWAIT: always select)
                raise BlockingIOError
            count = sock.recv_into(view, want, _DONTWAIT)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError from None
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                raise TimeoutError from None
            count = sock.recv_into(view, want)
    else:
        count = sock.recv_into(view, want)
    if not count:
        raise EOFError
    return count


class _Reader:
    """Reads exact byte counts from a socket, honouring an absolute deadline."""

    def __init__(self, sock: socket.socket, deadline: float | None):
        self.sock = sock
        self.deadline = deadline

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        self.read_into(memoryview(buf))
        return bytes(buf)

    def read_into(self, view: memoryview) -> None:
        """Fill `view` (bytes) from the socket: large blobs land in their tensor's memory."""
        got, n = 0, len(view)
        while got < n:
            got += _recv_some(self.sock, view[got:], self.deadline)


class Receiver:
    """Reads the messages of one socket through a read-ahead buffer: a message's header
    and small blobs, and the messages queued behind it, come in one system call rather
    than two per part (the worker writes a batch's replies a few at a time). A blob
    larger than half the buffer still lands straight in its tensor's memory.

    Only for a socket nothing else reads (not the fork server's control socket, which
    also carries file descriptors)."""

    READ_AHEAD = 1 << 16

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = bytearray(self.READ_AHEAD)
        self._view = memoryview(self._buf)
        self._start = self._end = 0

    def recv(self, deadline: float | None = None) -> Decoded:
        """Read one message. Raises EOFError, TimeoutError or ProtocolError."""
        return _read_message(_Buffered(self, deadline))


class _Buffered(_Reader):
    """A _Reader that takes what a Receiver has buffered first."""

    def __init__(self, owner: Receiver, deadline: float | None):
        super().__init__(owner.sock, deadline)
        self.owner = owner

    def read(self, n: int) -> bytes:
        o = self.owner
        if o._end - o._start >= n:  # the usual case: a header, a length, in the buffer
            o._start += n
            return bytes(o._view[o._start - n:o._start])
        return super().read(n)

    def read_into(self, view: memoryview) -> None:
        o = self.owner
        n = len(view)
        take = min(n, o._end - o._start)
        if take:
            view[:take] = o._view[o._start:o._start + take]
            o._start += take
        rest = n - take
        if not rest:
            return
        if rest > o.READ_AHEAD // 2:  # a large blob: straight into its memory
            super().read_into(view[take:])
            return
        o._start = o._end = 0
        while o._end < rest:
            o._end += _recv_some(self.sock, o._view[o._end:], self.deadline)
        view[take:] = o._view[:rest]
        o._start = rest


def _bytes_of(t: torch.Tensor) -> memoryview:
    """The memory of a new (contiguous, CPU) tensor with elements, writable, as bytes."""
    if t.dtype in _NUMPY_DTYPES:
        return t.numpy().data.cast("B")
    return memoryview(t.view(-1).view(torch.uint8).numpy())


def _check_tensor_meta(entry) -> tuple[torch.dtype, list[int], int, tuple[str, str]]:
    """(dtype, shape, byte count, (device, type)) of a tensor table entry, validated."""
    if not (isinstance(entry, list) and 2 <= len(entry) <= 4):
        raise ProtocolError(f"malformed tensor entry {str(entry)[:60]}")
    dtype = DTYPES.get(entry[0]) if isinstance(entry[0], str) else None
    if dtype is None:
        raise ProtocolError(f"tensor dtype {str(entry[0])[:40]!r} is not supported")
    shape = entry[1]
    if not (isinstance(shape, list) and len(shape) <= 16
            and all(type(s) is int and s >= 0 for s in shape)):
        raise ProtocolError(f"malformed tensor shape {str(shape)[:60]}")
    numel = math.prod(shape)
    if numel > MAX_ELEMENTS:
        raise ProtocolError(f"tensor of {numel} elements exceeds the limit of {MAX_ELEMENTS}")
    device = entry[2] if len(entry) > 2 else "cpu"
    kind = entry[3] if len(entry) > 3 else "torch.Tensor"
    if not (isinstance(device, str) and isinstance(kind, str)):
        raise ProtocolError(f"malformed tensor entry {str(entry)[:60]}")
    return dtype, shape, numel * _ITEMSIZE[dtype], (device[:50], kind[:200])


def recv(sock: socket.socket, deadline: float | None = None) -> Decoded:
    """Read one message. Raises EOFError, TimeoutError or ProtocolError."""
    return _read_message(_Reader(sock, deadline))


def _read_message(r: _Reader) -> Decoded:
    (hlen,) = struct.unpack(">I", r.read(4))
    if hlen > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {hlen} bytes exceeds the limit")
    try:
        header = _loads(r.read(hlen))
    except (ValueError, UnicodeDecodeError) as e:
        raise ProtocolError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    entries = header.get("tensors", [])
    if not isinstance(entries, list) or len(entries) > MAX_TENSORS:
        raise ProtocolError("malformed tensor table")
    checked = [_check_tensor_meta(e) for e in entries]
    # What the table decodes to is bounded before anything is allocated or read: each
    # entry is a tensor of its own, with bytes of its own on the wire.
    total = sum(c[2] for c in checked)
    if total > MAX_BLOB_BYTES:
        raise ProtocolError(f"the tensors of a message would take {total} bytes; the "
                            f"limit is {MAX_BLOB_BYTES}")
    # Each tensor's bytes are read straight into its memory (no bytes object, no copy).
    tensors: list = []
    for dtype, shape, size, _ in checked:
        tensor = torch.empty(shape, dtype=dtype)
        if size:
            r.read_into(_bytes_of(tensor))
        tensors.append(tensor)
    return Decoded(header=header, tensors=tensors, tensor_meta=[c[3] for c in checked])
