"""The pipe protocol: round trips, identity of shared tensors, and hostile bytes."""

import socket
import struct
import time

import pytest
import torch

from grader.boundary import wire


def roundtrip(header, enc=None, **dec_kw):
    a, b = socket.socketpair()
    try:
        wire.send(a, header, enc)
        return wire.recv(b, deadline=None)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool,
                                   torch.float16, torch.bfloat16, torch.uint8])
def test_tensor_roundtrip_is_bit_exact(dtype):
    t = (torch.randn(3, 4, 5) * 100).to(dtype)
    enc = wire.Encoder()
    node = enc.encode(t)
    msg = roundtrip({"v": node}, enc)
    out = wire.Decoder(msg).decode(msg.header["v"])
    assert type(out) is torch.Tensor and out.dtype == dtype and out.shape == t.shape
    assert torch.equal(out.view(torch.uint8) if dtype != torch.bool else out,
                       t.view(torch.uint8) if dtype != torch.bool else t)


def test_nested_values_and_special_floats():
    t = torch.arange(6.0).reshape(2, 3)
    value = (t, [1, 2.5, None, True], {"a": t, "b": float("nan"), "c": -float("inf")},
             torch.float32, torch.empty(0, 3))
    enc = wire.Encoder()
    msg = roundtrip({"v": enc.encode(value)}, enc)
    out = wire.Decoder(msg).decode(msg.header["v"])
    assert torch.equal(out[0], t) and out[1] == [1, 2.5, None, True]
    assert out[2]["a"] is out[0], "the same tensor must arrive as one object"
    assert out[2]["b"] != out[2]["b"] and out[2]["c"] == -float("inf")
    assert out[3] is torch.float32 and out[4].shape == (0, 3)


def test_what_orjson_cannot_write_still_crosses_exactly():
    """Headers go through orjson, which writes NaN as null, refuses integers past 64 bits
    and lone surrogates: the first two are tagged, the last goes the standard way."""
    value = [2**64 - 1, -(2**63), 2**70, -(3**50), float("nan"), float("inf"),
             "bad byte \udcff here", {"k": "\ud800"}]
    enc = wire.Encoder()
    msg = roundtrip({"v": enc.encode(value), "printed": "\udcff"}, enc)
    out = wire.Decoder(msg).decode(msg.header["v"])
    assert out[:4] == [2**64 - 1, -(2**63), 2**70, -(3**50)]
    assert all(type(i) is int for i in out[:4])
    assert out[4] != out[4] and out[5] == float("inf")
    assert out[6:] == ["bad byte \udcff here", {"k": "\ud800"}]
    assert msg.header["printed"] == "\udcff"


def test_a_malformed_big_integer_is_a_protocol_error():
    with pytest.raises(wire.ProtocolError, match="malformed integer"):
        wire.Decoder(wire.Decoded({}, [], [])).decode({"$int": "12x"})
    with pytest.raises(wire.ProtocolError):
        wire.Decoder(wire.Decoded({}, [], [])).decode({"$int": "1" * 5000})


def test_the_same_tensor_twice_is_sent_once():
    x = torch.randn(2, 2)
    enc = wire.Encoder()
    enc.encode((x, x, x.clone()))
    assert len(enc.tensors) == 2


def test_unknown_objects_become_handles_only_where_allowed():
    with pytest.raises(wire.ProtocolError):
        wire.Encoder().encode(object())
    kept = []
    enc = wire.Encoder(handle_for=lambda o: kept.append(o) or len(kept))
    assert enc.encode(object()) == {"$h": [1, "object"]}


def test_a_large_message_of_many_tensors_arrives_whole():
    """Blobs go out in one gather write, in chunks of at most _IOV_MAX pieces, and land in
    their tensors' memory: sizes past the socket buffer and counts past one chunk."""
    import threading

    big = torch.randn(700_001, dtype=torch.float64)  # 5.6 MB, an odd size
    small = [torch.arange(k, dtype=torch.int64) for k in range(400)]  # 800 pieces
    enc = wire.Encoder()
    node = enc.encode((big, small, big[::3]))
    a, b = socket.socketpair()
    sender = threading.Thread(target=wire.send, args=(a, {"v": node}, enc))
    sender.start()
    try:
        msg = wire.recv(b, deadline=time.monotonic() + 30)
    finally:
        sender.join()
        a.close()
        b.close()
    got_big, got_small, got_strided = wire.Decoder(msg).decode(msg.header["v"])
    assert torch.equal(got_big, big) and torch.equal(got_strided, big[::3])
    assert all(torch.equal(g, s) for g, s in zip(got_small, small, strict=True))


def _raw(header_bytes: bytes, payload: bytes = b""):
    data = struct.pack(">I", len(header_bytes)) + header_bytes + payload
    a, b = socket.socketpair()
    a.sendall(data)
    a.close()
    try:
        return wire.recv(b, deadline=None)
    finally:
        b.close()


def test_each_entry_takes_its_own_bytes_in_table_order():
    msg = _raw(b'{"tensors": [["uint8", [2]], ["int16", []], ["uint8", [0, 3]]]}', b"okAB")
    first, second, empty = msg.tensors
    assert bytes(first.numpy()) == b"ok" and second.item() == int.from_bytes(b"AB", "little")
    assert empty.shape == (0, 3) and msg.tensor_meta == [("cpu", "torch.Tensor")] * 3


def test_the_device_and_type_a_sender_names_come_through_bounded():
    msg = _raw(b'{"tensors": [["float32", [1], "cuda:0", "student.Lying"]]}', b"1234")
    assert msg.tensor_meta == [("cuda:0", "student.Lying")]


@pytest.mark.parametrize("header,payload,needle", [
    (b"not json", b"", "not JSON"),
    (b'{"tensors": [["float64", [100000000000]]]}', b"", "exceeds the limit"),
    (b'{"tensors": [["object", [1]]]}', b"x", "not supported"),
    (b'{"tensors": [["float32", [-1]]]}', b"", "malformed tensor shape"),
    (b'{"tensors": [["float32", [true]]]}', b"", "malformed tensor shape"),
    (b'{"tensors": [{"dtype": "uint8", "shape": [1], "blob": 0}]}', b"x", "malformed tensor entry"),
    (b'{"tensors": [["uint8", [1], 7]]}', b"x", "malformed tensor entry"),
    (b'{"tensors": [["uint8", [1], "cpu", "t", "extra"]]}', b"x", "malformed tensor entry"),
    (b'{"tensors": {"0": ["uint8", [1]]}}', b"x", "malformed tensor table"),
])
def test_hostile_messages_are_rejected_before_allocation(header, payload, needle):
    with pytest.raises(wire.ProtocolError, match=needle):
        _raw(header, payload)


def test_huge_declared_header_is_rejected():
    a, b = socket.socketpair()
    a.sendall(struct.pack(">I", 2**31))
    with pytest.raises(wire.ProtocolError, match="header"):
        wire.recv(b, deadline=None)
    a.close()
    b.close()


def test_a_message_shorter_than_its_table_ends_the_stream():
    # The bytes an entry needs follow from its dtype and shape: a sender that stops short
    # leaves the reader at the end of the stream, not with a tensor of its choosing.
    with pytest.raises(EOFError):
        _raw(b'{"tensors": [["float32", [3]]]}', b"1234")


def test_recv_honours_the_deadline():

    a, b = socket.socketpair()
    a.sendall(struct.pack(">I", 10) + b"{")  # a partial header, then silence
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        wire.recv(b, deadline=time.monotonic() + 0.2)
    assert time.monotonic() - start < 2
    a.close()
    b.close()


def test_malformed_values_are_rejected():
    msg = wire.Decoded({}, [], [])
    for node in [{"$t": 0}, {"$x": 1}, {"$h": "1"}, {"$dtype": "complex32"}, {"a": 1, "b": 2}]:
        with pytest.raises(wire.ProtocolError):
            wire.Decoder(msg).decode(node)


def test_entries_cannot_share_bytes():
    """One blob named by many tensor entries decoded into a copy per entry: 48 entries on
    one 64 MiB blob made the trusted side allocate 3.5 GB (issue 14). Entries name no
    bytes now: 48 entries need 48 entries' bytes, and the table is bounded before any
    allocation."""
    entries = ",".join('["uint8", [4]]' for _ in range(48))
    msg = _raw(('{"tensors": [' + entries + "]}").encode(), bytes(range(48 * 4)))
    assert len({t.data_ptr() for t in msg.tensors}) == 48
    assert bytes(msg.tensors[47].numpy()) == bytes(range(188, 192))


def test_what_the_entries_decode_to_is_bounded_before_reading():
    n = wire.MAX_BLOB_BYTES // 8 + 2  # two float32 entries: each under the limit, not both
    entry = '["float32", [' + str(n) + ']]'
    header = ('{"tensors": [' + entry + ", " + entry + "]}").encode()
    with pytest.raises(wire.ProtocolError, match="would take"):
        _raw(header)  # no payload is sent: the header alone is refused


@pytest.mark.parametrize("make", [
    lambda: torch.randn(3, 4, dtype=torch.float64),
    lambda: torch.randn(4, 3).t(),                      # not contiguous
    lambda: torch.randn(9)[::2],                        # strided
    lambda: torch.randn(4, 1).expand(4, 3),             # stride 0
    lambda: torch.randn(1, 4)[:, :2],                   # contiguous, odd strides
    lambda: torch.tensor(2.5),                          # 0-d
    lambda: torch.empty(0, 3),
    lambda: torch.randn(2, 2, requires_grad=True),
    lambda: torch.randn(5).to(torch.bfloat16),          # no numpy dtype
    lambda: torch._neg_view(torch.randn(3)),            # a lazily negated view
    lambda: torch.tensor([True, False, True]),
], ids=["contiguous", "transposed", "strided", "expanded", "odd-strides", "0-d", "empty",
        "requires-grad", "bfloat16", "neg-view", "bool"])
def test_tensor_bytes_are_the_row_major_values_whatever_the_layout(make):
    # The fast path (a contiguous CPU tensor viewed through numpy) and the general one must
    # give the same bytes: they decide whether an input was modified in place.
    t = make()
    want = t.detach().resolve_neg().contiguous().reshape(-1).tolist()
    got = torch.frombuffer(bytearray(wire.tensor_to_bytes(t)), dtype=t.dtype) \
        if t.numel() else torch.empty(0, dtype=t.dtype)
    assert got.tolist() == want


def test_a_receiver_reads_queued_messages_whole_and_in_order():
    # Replies queued back to back (a batch's), small tensors and one larger than the
    # read-ahead buffer: each message comes out whole, the next one's bytes kept for it.
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    sent = [torch.randn(n, dtype=torch.float64) for n in (3, 0, 50_000, 7, 1)]
    try:
        rx = wire.Receiver(b)
        for i, t in enumerate(sent):
            enc = wire.Encoder()
            wire.send(a, {"i": i, "v": enc.encode(t)}, enc)
        for i, t in enumerate(sent):
            msg = rx.recv(time.monotonic() + 5)
            assert msg.header["i"] == i
            assert torch.equal(wire.Decoder(msg).decode(msg.header["v"]), t)
        with pytest.raises(TimeoutError):
            rx.recv(time.monotonic() + 0.05)
    finally:
        a.close()
        b.close()


def test_a_receiver_reports_a_stream_that_ends_inside_a_message():
    a, b = socket.socketpair()
    try:
        enc = wire.Encoder()
        raw = b"".join(bytes(p) for p in wire._parts({"v": enc.encode(torch.ones(8))}, enc))
        a.sendall(raw[:-5])
        a.close()
        with pytest.raises(EOFError):
            wire.Receiver(b).recv(time.monotonic() + 5)
    finally:
        b.close()
