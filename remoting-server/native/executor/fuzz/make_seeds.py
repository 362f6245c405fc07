#!/usr/bin/env python3
"""Writes the seed corpora for the fuzzers (fuzz/corpus/{decoder,session}/). Rerun after wire changes."""
import hashlib, os, struct

MAGIC = 0x43455641
HERE = os.path.dirname(os.path.abspath(__file__))
BASE = 0x7E0000000000  # the emulated device's first address


def frame(op, payload=b"", rid=0, ctx=1, flags=0):
    return struct.pack("<IHHIIII", MAGIC, 1, op, flags, rid, ctx, len(payload)) + payload


def hello(ticket=b""):
    return frame(1, struct.pack("<IIII64s", 1, 0, 1, len(ticket), b"seed") + ticket, 1, 0)


def alloc(n, rid=2, height=0, elem=0):
    return frame(20, struct.pack("<QQII", n, height, elem, 0), rid)


def htod(dst, data, flags=0, stream=0):
    return frame(23, struct.pack("<QII", dst, stream, 0) + data, 0, 1, flags)


def mirror_write(dptr, data, size=None):
    return frame(178, struct.pack("<QQ", dptr, len(data) if size is None else size) + data)


def mirror_zero(dptr, size):
    return frame(179, struct.pack("<QQ", dptr, size))


def device_output(text, rid=0, flags=0):
    return frame(180, struct.pack("<II", 0, 0) + text, rid, 1, flags)


def dtoh(src, n, rid=3):
    return frame(24, struct.pack("<QQII", src, n, 0, 0), rid)


def symbol(op, module, handle, name, rid=4):
    return frame(op, struct.pack("<IIII", module, handle, 0, len(name)) + name, rid)


def graph(op, g=0, node=0, a=0, stream=0, deps=(), body=b"", rid=0, edges=None):
    flags = 1 if edges is not None else 0
    return frame(op, struct.pack("<QQQIIII", g, node, a, stream, len(deps), len(body), flags) +
                 b"".join(struct.pack("<Q", d) for d in deps) + b"".join(struct.pack("<Q", e) for e in (edges or ())) +
                 body, rid)


PTX = b".version 8.0\n.target sm_90\n.address_size 64\n.visible .entry add_one(\n.param .u64 p0\n)\n{\nret;\n}\n"
H = hashlib.sha256(PTX).digest()
module_image = frame(60, H + struct.pack("<Q", len(PTX)) + PTX)
module_load = frame(61, struct.pack("<II", 5, 0) + H + struct.pack("<Q", len(PTX)))
launch = frame(80, struct.pack("<II3I3IIIII", 6, 0, 1, 1, 1, 1, 1, 1, 0, 0, 8, 0) + b"\0" * 8)
sync = frame(12, b"", 9)
events = (frame(45, struct.pack("<II", 3, 0)) + frame(45, struct.pack("<II", 4, 0)) +
          frame(47, struct.pack("<IIII", 3, 0, 0, 0)) + frame(47, struct.pack("<IIII", 4, 0, 0, 0)) +
          frame(50, struct.pack("<II", 3, 4), 7) + frame(49, struct.pack("<II", 3, 0), 8))
streams = (frame(40, struct.pack("<IIiI", 20, 1, 0, 0)) + htod(BASE, b"x" * 64, 4, 20) +
           frame(44, struct.pack("<IIII", 20, 3, 0, 0)) + frame(42, struct.pack("<II", 20, 0), 10) +
           frame(41, struct.pack("<II", 20, 0)))
memset = frame(26, struct.pack("<QQQQIHHII", BASE, 0, 16, 1, 0xAB, 1, 0, 0, 0))
memset2d = frame(26, struct.pack("<QQQQIHHII", BASE, 512, 25, 4, 7, 4, 0, 0, 0))
copy2d = frame(28, struct.pack("<QQQQQQII", BASE, 512, 0, 0, 100, 4, 0, 0), 11)
free = frame(21, struct.pack("<QII", BASE, 0, 0))

link_create = frame(132, struct.pack("<IIII", 9, 1, 256, 256) + struct.pack("<IIQ", 2, 0, 0), 2)


def link_add(part, offset, rid=3, name=b""):
    return frame(133, struct.pack("<IIQQIIII", 9, 1, len(PTX), offset, 0, len(name), len(part), 0) + name + part, rid)


def stream_attr(op, stream, attr, value, rid=0):
    return frame(op, struct.pack("<II", stream, attr) + value.ljust(64, b"\0"), rid)


def array(op, handle, w, h, d, rid, levels=0, flags=0, fmt=0x20, ch=1):
    return frame(op, struct.pack("<IIQQQIIII", handle, 0, w, h, d, fmt, ch, flags, levels), rid)


def array_copy(op, src_arr, dst_arr, w, h, d, rid=0, src=0, dst=0, pitch=0, x=0, y=0, z=0, data=b"", flags=0):
    return frame(op, struct.pack("<IIQQQQQQQQQQQQQQQII", src_arr, dst_arr, src, dst, pitch, pitch, h, h, x, x, y, y,
                                 z, z, w, h, d, 0, 0) + data, rid, 1, flags)


def tex(op, rtype, handle, rid, has_tex=1, dptr=0, width=0, height=0, pitch=0):
    res = struct.pack("<IIQIIQQQII", rtype, handle, dptr, 0x20, 1, width, height, pitch, 0, 0)
    return frame(op, res + struct.pack("<II", has_tex, 0) + b"\0" * 56 + b"\0" * 48, rid)


session = {
    "roundtrip": alloc(4096) + htod(BASE, bytes(range(256)) * 4) + dtoh(BASE, 1024) + free + sync,
    "modules": module_load + symbol(63, 5, 6, b"add_one") + module_image + symbol(63, 5, 6, b"add_one", 5) +
               launch + sync + symbol(64, 5, 0, b"counter", 6) + frame(62, struct.pack("<II", 5, 0)),
    # kernel names: of no module, of a pending one (NEED_IMAGE), after the upload
    "kernel_names": frame(176, struct.pack("<II", 9, 0), 2) + module_load + frame(176, struct.pack("<II", 5, 0), 3) +
                    module_image + frame(176, struct.pack("<II", 5, 0), 4) + sync,
    "events": events + sync,
    "streams": alloc(4096) + streams + sync,
    "memset2d": alloc(100, 2, 4, 4) + memset2d + copy2d + memset + sync,
    "limits": alloc(1 << 30) + alloc(8 << 20) + frame(22, b"", 4) + alloc(100) + sync,
    "contexts": frame(10, struct.pack("<IIII", 17, 0, 0, 0)) + frame(12, b"", 3, 17) + frame(11, struct.pack("<II", 17, 0)) +
                frame(13, struct.pack("<II", 0, 0), 4) + frame(16, struct.pack("<IIQ", 0, 0, 0), 5) + frame(3, b"", 6),
    "dtod": alloc(4096) + frame(25, struct.pack("<QQQII", BASE + 2048, BASE, 2048, 0, 0)) + sync + frame(2),
    "copy2d": alloc(100, 2, 4, 4) + frame(27, struct.pack("<QQQQQQII", BASE, 512, 0, 0, 8, 2, 0, 0) + b"y" * 16) +
              frame(29, struct.pack("<QQQQQQII", BASE + 1024, 512, BASE, 512, 8, 2, 0, 0)) + copy2d + sync,
    "symbols": module_image + module_load + symbol(64, 5, 0, b"counter", 3) + symbol(63, 5, 7, b"nope", 4) +
               frame(65, struct.pack("<IIiI", 6, 8, 1024, 0)) + frame(66, struct.pack("<IIiI", 6, 0, 1, 0)) +
               frame(67, struct.pack("<IIIIQ", 6, 0, 128, 0, 0), 5) + frame(62, struct.pack("<II", 5, 0)) + sync,
    "async_alloc": frame(40, struct.pack("<IIiI", 20, 1, 0, 0)) + frame(30, struct.pack("<QQII", 4096, 0, 0, 20), 3) +
                   frame(21, struct.pack("<QII", BASE, 20, 0), 0, 1, 4) + frame(42, struct.pack("<II", 20, 0), 4),
    "reset": alloc(64) + frame(13, struct.pack("<II", 0, 0), 3) + alloc(64, 4) + frame(17, struct.pack("<II", 1, 0)) +
             frame(15, struct.pack("<IIQ", 0, 0, 4096), 5) + sync,
    "bigcopy": alloc(300000) + htod(BASE, b"z" * 200000) + dtoh(BASE, 300000) + sync,
    # memory pools: create, attributes, allocate from it, trim, access, make it current, destroy
    "pools": frame(31, struct.pack("<IIIIQ", 17, 0, 0, 0, 0), 2) + frame(33, struct.pack("<IIQ", 17, 4, 1 << 20)) +
             frame(34, struct.pack("<IIQ", 17, 4, 0), 3) + frame(30, struct.pack("<QQII", 4096, 0, 17, 0), 4) +
             frame(35, struct.pack("<IIQ", 17, 0, 0)) + frame(36, struct.pack("<IIQ", 17, 0, 3)) +
             frame(37, struct.pack("<IIQ", 17, 0, 0), 5) + frame(38, struct.pack("<II", 0, 17)) +
             frame(30, struct.pack("<QQII", 8192, 0, 0, 0), 6) + frame(32, struct.pack("<II", 17, 0)) +
             frame(34, struct.pack("<IIQ", 1, 5, 0), 7) + sync,
    # virtual memory: granularity, physical allocation, reserve, map, access, unmap, release, free
    "vmm": frame(90, struct.pack("<QIIIIII", 0, 0, 0, 0, 0, 0, 0), 2) +
           frame(91, struct.pack("<QIIIIII", 2 << 20, 21, 0, 0, 0, 0, 0), 3) +
           frame(94, struct.pack("<QQQII", 0, 4 << 20, 0, 0, 0), 4) +
           frame(96, struct.pack("<QQQII", 0x7E0000000000, 2 << 20, 0, 21, 0), 5) +
           frame(98, struct.pack("<QQQII", 0x7E0000000000, 2 << 20, 0, 0, 3)) +
           frame(99, struct.pack("<QQQII", 0x7E0000000000, 0, 0, 0, 0), 6) + frame(93, struct.pack("<II", 21, 0)) +
           frame(97, struct.pack("<QQQII", 0x7E0000000000, 2 << 20, 0, 0, 0)) + frame(92, struct.pack("<II", 21, 0)) +
           frame(92, struct.pack("<II", 21, 0)) + frame(95, struct.pack("<QQQII", 0x7E0000000000, 4 << 20, 0, 0, 0)) +
           sync,
    # IPC (refused without a registry) and the private export-table calls (refused on the emulated device)
    "ipc_export": alloc(4096) + frame(100, struct.pack("<Q", BASE), 3) +
                  frame(101, b"AVI1" + struct.pack("<I", 1) + b"\x11" * 56 + struct.pack("<II", 0, 0), 4) +
                  frame(102, struct.pack("<Q", BASE)) + frame(45, struct.pack("<II", 3, 6)) +
                  frame(103, struct.pack("<II", 3, 0), 5) + frame(104, b"\0" * 64 + struct.pack("<II", 9, 0), 6) +
                  frame(110, struct.pack("<IIQ", 1, 51, 0), 7) + frame(110, struct.pack("<IIQ", 1, 39, 123), 8) +
                  frame(110, struct.pack("<IIQ", 2, 4, 0), 9) + sync,
    # shareable handles: a VMM allocation and a pool made with the POSIX-fd type, exported, a pool pointer
    # exported, then imports of made-up tokens and pointer data (refused) and malformed kinds
    "share": frame(91, struct.pack("<QIIIIII", 2 << 20, 21, 0, 1, 0, 0, 0), 2, 0) +
             frame(105, struct.pack("<IIII", 1, 21, 1, 0), 3, 0) + frame(105, struct.pack("<IIII", 1, 21, 4, 0), 4) +
             frame(31, struct.pack("<IIIIQ", 17, 0, 1, 0, 0), 5) + frame(105, struct.pack("<IIII", 2, 17, 1, 0), 6) +
             frame(30, struct.pack("<QQII", 4096, 0, 17, 0), 7) + frame(107, struct.pack("<Q", BASE), 8) +
             frame(106, b"AVI1" + struct.pack("<I", 3) + b"\x22" * 56 + struct.pack("<II", 30, 1), 9) +
             frame(106, b"AVI1" + struct.pack("<I", 4) + b"\x22" * 56 + struct.pack("<II", 40, 2), 10) +
             frame(108, b"EPP1" + b"\0" * 60 + struct.pack("<II", 40, 0), 11) +
             frame(108, b"\0" * 64 + struct.pack("<II", 17, 0), 12) + frame(92, struct.pack("<II", 21, 0)) +
             frame(32, struct.pack("<II", 17, 0)) + sync,
    # CUDA arrays: 2D and layered arrays, copies host->array, array->host, array->array, device<->array
    "arrays": array(120, 5, 16, 4, 0, 2) + array(120, 6, 16, 4, 3, 3, 0, 1) + alloc(4096, 4) +
              array_copy(125, 0, 5, 64, 4, 1, data=bytes(range(256))) +
              array_copy(126, 5, 0, 16, 2, 1, 5, x=8, y=1) + array_copy(127, 5, 6, 64, 4, 1, z=2) +
              array_copy(127, 6, 0, 64, 4, 1, dst=BASE, pitch=64) + array_copy(127, 0, 5, 64, 2, 1, src=BASE, pitch=128) +
              array_copy(126, 5, 0, 64, 4, 2, 6) + array_copy(125, 0, 9, 4, 1, 1, data=b"abcd") +
              frame(121, struct.pack("<II", 6, 0)) + frame(121, struct.pack("<II", 6, 0)) + sync,
    # mipmapped arrays, levels, textures and surfaces on arrays and linear memory
    "textures": array(122, 7, 32, 16, 0, 2, 4) + frame(124, struct.pack("<IIII", 7, 2, 8, 0), 3) +
                array(120, 5, 8, 8, 0, 4, 0, 2) + alloc(4096, 5) + tex(128, 0, 5, 6) + tex(128, 1, 7, 7) +
                tex(128, 2, 0, 8, dptr=BASE, width=4096) + tex(128, 3, 0, 9, dptr=BASE, width=16, height=8, pitch=512) +
                tex(130, 0, 5, 10, has_tex=0) + frame(129, struct.pack("<Q", 1)) + frame(131, struct.pack("<Q", 5)) +
                frame(123, struct.pack("<II", 7, 0)) + frame(121, struct.pack("<II", 8, 0)) + sync,
    # graphs: create (id 0x1000), memset node (0x1001) then a dependent copy node, instantiate (0x1003), launch,
    # update, nodes, DOT, capture on a stream with a memset and its info, end, destroy
    "graphs": alloc(8192) + graph(140, rid=2) +
              graph(142, 0x1000, 0, 2, body=struct.pack("<QQQQIHHII", BASE, 0, 16, 1, 0xAB, 1, 0, 0, 0), rid=3) +
              graph(142, 0x1000, 0, 1, deps=[0x1001], body=struct.pack("<QQQQQQII", BASE + 4096, 16, BASE, 16, 16, 1, 0, 0),
                    rid=4) +
              graph(143, 0x1000, rid=5) + graph(144, 0x1003) + graph(147, 0x1003, 0x1000, rid=6) +
              graph(154, 0x1000, rid=7) + graph(156, 0, 0x1001, rid=8) + graph(158, 0x1000, rid=9) +
              graph(148, 0x1003, 0x1001, 2, body=struct.pack("<QQQQIHHII", BASE, 0, 8, 1, 1, 1, 0, 0, 0)) +
              graph(161, 0x1003, 0x1001, 0) + graph(144, 0x1003) +
              frame(40, struct.pack("<IIiI", 20, 1, 0, 0)) + graph(150, stream=20, rid=10) +
              frame(26, struct.pack("<QQQQIHHII", BASE, 0, 16, 1, 7, 1, 0, 20, 0), 0, 1, 4) + graph(152, stream=20, rid=11) +
              graph(155, a=2, rid=12) + graph(151, stream=20, rid=13) + graph(146, 0x1003) + graph(141, 0x1000) + sync,
    # typed edges (AVEC_GRAPH_F_EDGES) on ADD_NODE and EDGES, capture into an existing graph after a node
    "graph_edges": alloc(4096) + graph(140, rid=2) + graph(142, 0x1000, 0, 2, rid=3) +
                   graph(142, 0x1000, 0, 2, deps=[0x1001], edges=[0], rid=4) +
                   graph(159, 0x1000, deps=[0x1001, 0x1002], edges=[0, 0], rid=5) +
                   frame(40, struct.pack("<IIiI", 20, 1, 0, 0)) + graph(150, 0x1000, stream=20, deps=[0x1002], rid=6) +
                   graph(151, stream=20, rid=7) + graph(142, 0x1000, 0, 10, body=struct.pack("<Q", 4096), rid=8) +
                   graph(142, 0x1000, 0, 11, body=struct.pack("<Q", BASE + 8192), rid=9) + graph(141, 0x1000) + sync,
    # conditional nodes: a graph (0x1000), a handle for it (default 1, ASSIGN_DEFAULT), an IF node with two
    # bodies (node 0x1001, bodies 0x1002 and 0x1003), a memset into the first body, destroy
    "conditional": alloc(8192) + graph(140, rid=2) + graph(175, 0x1000, 1, 1, rid=3) +
                   graph(142, 0x1000, 0, 13, body=struct.pack("<QII", 40, 0, 2), rid=4) +
                   graph(142, 0x1002, 0, 2, body=struct.pack("<QQQQIHHII", BASE, 0, 16, 1, 0xAB, 1, 0, 0, 0), rid=5) +
                   graph(154, 0x1002, rid=6) + graph(141, 0x1002) + graph(143, 0x1000, rid=7) + graph(144, 0x1004) +
                   graph(160, 0, 0x1001) + graph(141, 0x1000) + sync,
    # JIT linking (a link state with a wall-time option and both logs, a PTX input in two parts, complete,
    # read, destroy) and stream attributes (set, get, copy, reset of persisting L2)
    "jit": link_create + link_add(PTX[:20], 0, 1, b"k.ptx") + link_add(PTX[20:], 20) + frame(134, struct.pack("<II", 9, 0), 4) +
           frame(135, struct.pack("<IIQQ", 9, 0, 0, 16), 5) + frame(136, struct.pack("<II", 9, 0)) +
           frame(40, struct.pack("<IIiI", 20, 1, 0, 0)) + stream_attr(137, 20, 3, struct.pack("<I", 2)) +
           stream_attr(137, 20, 1, struct.pack("<QQfII", BASE, 4096, 0.5, 2, 1)) + stream_attr(138, 20, 3, b"", 6) +
           frame(139, struct.pack("<II", 20, 0)) + frame(174) + sync,
    # a mirror written beside running work: inside the allocation, past its end (refused), read back
    "mirror_write_now": alloc(4096) + htod(BASE, bytes(64)) + mirror_write(BASE + 8, b"\x01\0\0\0") +
                        mirror_write(BASE + 4090, b"m" * 16) + dtoh(BASE, 16) + sync,
    # zeros the same way: inside the allocation, past its end (refused), read back
    "mirror_zero_now": alloc(4096) + htod(BASE, b"z" * 64) + mirror_zero(BASE + 8, 16) + mirror_zero(BASE + 4000, 200) +
                       dtoh(BASE, 32) + sync,
    # DEVICE_OUTPUT goes from server to client only: a client's ends the session as a bad frame
    "device_output_from_client": alloc(64) + sync + device_output(b"avec_print 42\n", 5) + sync,
}
decoder = {
    "hello": hello(b"avec1.e30.AAAA"),
    "frames": alloc(64) + htod(BASE, b"abc") + dtoh(BASE, 3) + launch + symbol(63, 1, 2, b"k") +
              mirror_write(BASE, b"flag") + mirror_zero(BASE, 4) + frame(105, struct.pack("<IIII", 1, 21, 1, 0), 3) +
              frame(106, b"AVI1" + b"\0" * 68, 4) + frame(107, struct.pack("<Q", BASE), 5) +
              frame(108, b"\0" * 72, 6),
    "device_output": device_output(b"avec_print 7\n", 2) + device_output(b"x" * 64, 3, 2),
    "arrays": array(120, 5, 16, 4, 0, 2) + array_copy(125, 0, 5, 8, 2, 1, data=b"x" * 16) +
              array_copy(126, 5, 0, 8, 2, 1, 3) + tex(128, 0, 5, 4) + frame(129, struct.pack("<Q", 1)),
    "module": module_image + module_load + frame(176, struct.pack("<II", 5, 0), 2),
    "jit": link_create + link_add(PTX, 0) + stream_attr(137, 20, 8, struct.pack("<i", -2)) +
           graph(175, 0x1000, 1, 0, rid=5),
    "ticket": b"avec1.eyJ2IjoxLCJraWQiOiJrMSJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "fatbin": struct.pack("<IHHQ", 0xBA55ED50, 1, 16, 64 + len(PTX)) +
              struct.pack("<HHIQ", 1, 0x101, 64, len(PTX)) + b"\0" * 48 + PTX,
}
for name, blobs in (("session", session), ("decoder", decoder)):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for k, v in blobs.items():
        with open(os.path.join(d, k), "wb") as f:
            f.write((b"\x05" + v) if name == "session" else v)
print("seeds written")
