/* avec data-plane wire format, shared by the shim (client) and the executor (server).
 *
 * One TCP connection per client process ("session"). The byte stream is a sequence of frames; each frame
 * is a fixed 24-byte header followed by `payload_len` bytes. All integers are little-endian; the
 * payload structs below are naturally aligned, fixed-size and packed to the byte counts asserted at the
 * end of this file, so both ends may memcpy them (both ends are x86-64; a big-endian port would swap).
 *
 * Batching is the stream itself: a client writes many fire-and-forget frames back to back and flushes
 * them with one write; the server executes frames strictly in order. Only frames whose opcode is
 * synchronous (AVEC_OP_IS_SYNC) get a reply; fire-and-forget frames never do. An error from a
 * fire-and-forget frame is kept by the server and returned by the next synchronous reply (see
 * docs/protocol.md, "Deferred errors"); sticky errors poison the session.
 *
 * Handles for contexts, streams, events, modules and functions are chosen by the client (u32, never 0
 * except where 0 means "default"), so creating them needs no round trip. Device pointers are the real
 * device addresses returned by the server and are validated against the session's allocations.
 *
 * Version history: 1 — first version. Additions within version 1 (old peers ignore them): AVEC_STATUS_REFUSED and
 * the avec_hello_refusal tail of refused HELLO replies; memory pools (POOL_*, MEM_ALLOC_ASYNC naming a
 * pool), virtual memory management (VMM_*), IPC between sessions of one server (IPC_*), CUDA arrays with
 * texture and surface objects (ARRAY_*, MIPMAP_*, MEMCPY_HTOA/ATOH/ARRAY, TEX_*, SURF_*); stripe
 * connections and compressed bulk chunks, offered in the HELLO reply's `features` (opcodes 170-173); JIT linking
 * (LINK_*), stream attributes (STREAM_*_ATTR, CTX_RESET_PERSISTING_L2) and conditional graph nodes
 * (GRAPH_COND_HANDLE_CREATE, ADD_NODE of type CONDITIONAL); kernel names of a module (MODULE_KERNEL_NAMES);
 * mirror writes beside running work (MIRROR_WRITE_NOW, offered in HELLO).
 * A server that predates them closes the session on the unknown opcode (AVEC_STATUS_BAD_FRAME), so a client only sends
 * them when the program calls those driver functions.
 *
 * Clarifications relied on by the shim (client):
 * - Chunked replies (MEMCPY_DTOH, MEMCPY2D_DTOH): every reply frame has AVEC_F_REPLY and the request's id;
 *   its payload is avec_reply_hdr followed by up to AVEC_CHUNK data bytes, in address order; AVEC_F_MORE is
 *   set on all but the last frame. A non-zero status comes in one single frame without data (no MORE).
 * - Lazy module upload: MODULE_LOAD naming an unknown hash does not fail; the server keeps the module
 *   "pending". The next synchronous request that needs it (GET_FUNCTION, GET_GLOBAL, MODULE_KERNEL_NAMES) is
 *   answered AVEC_STATUS_NEED_IMAGE with an avec_module_image (hash, size) payload. The client then sends
 *   MODULE_IMAGE (which completes every pending load of that hash) and repeats only the synchronous
 *   request; it does not repeat MODULE_LOAD.
 * - Host-to-device copies larger than AVEC_CHUNK are sent as consecutive MEMCPY_HTOD frames, each with
 *   the device address of its own chunk.
 * - OCCUPANCY with kind AVEC_OCC_AVAILABLE_DSMEM carries cuOccupancyAvailableDynamicSMemPerBlock's
 *   numBlocks in the `flags` field.
 * - LAUNCH attributes CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT (7) and LAUNCH_COMPLETION_EVENT (12): the
 *   first 8 bytes of `value` hold the client's event handle (u64) instead of a CUevent pointer.
 * - A function handle from GET_FUNCTION with kind AVEC_SYMBOL_KERNEL (cuLibraryGetKernel) is also what
 *   the client launches (cuKernelGetFunction returns the same handle); a library handle is also accepted
 *   as a module handle (cuLibraryGetModule returns the same handle).
 */
#ifndef AVEC_WIRE_H
#define AVEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define AVEC_WIRE_MAGIC 0x43455641u /* "AVEC" little-endian */
#define AVEC_WIRE_VERSION 1u
#define AVEC_MAX_PAYLOAD (16u * 1024u * 1024u + 4096u) /* a frame never carries more */
#define AVEC_CHUNK (4u * 1024u * 1024u)                /* bulk copies are split into chunks of this size */
#define AVEC_MAX_NAME 1024u                            /* symbol names (kernels, globals) */
#define AVEC_MAX_TICKET 4096u
#define AVEC_MAX_DEVICES 16u
#define AVEC_MAX_PARAMS 1024u      /* kernel parameters per function */
#define AVEC_MAX_PARAM_BYTES 32764u /* CUDA 12.1+ limit for kernel parameter blocks */
#define AVEC_MAX_LAUNCH_ATTRS 32u
#define AVEC_DEV_ATTR_SLOTS 160u   /* >= CU_DEVICE_ATTRIBUTE_MAX (148 in CUDA 13.0) */
#define AVEC_FUNC_ATTR_SLOTS 16u   /* == CU_FUNC_ATTRIBUTE_MAX (16 in CUDA 13.0) */

/* Non-CUDA status codes carried in reply.status (CUresult values are all < 0x10000). */
#define AVEC_STATUS_NEED_IMAGE 0x10001u  /* module image with the hash in the reply payload is unknown: upload it, retry */
#define AVEC_STATUS_BAD_FRAME 0x10002u   /* the frame failed validation; the server closes the connection after this */
#define AVEC_STATUS_BAD_TICKET 0x10003u  /* HELLO ticket refused; connection closed */
#define AVEC_STATUS_VERSION 0x10004u     /* unsupported wire version; connection closed */
#define AVEC_STATUS_REFUSED 0x10005u     /* HELLO refused by the server's policy (not the ticket); connection closed */

/* Frame header flags. */
#define AVEC_F_REPLY 0x0001u  /* server -> client reply to a synchronous request */
#define AVEC_F_MORE 0x0002u   /* more reply frames follow for the same request id (chunked D2H data) */
#define AVEC_F_ASYNC 0x0004u  /* the client call was the *Async variant (stream field is meaningful) */
/* MEMCPY_DTOH request: the client takes compressed reply frames (only when the HELLO reply offered
 * AVEC_FEATURE_ZSTD). Reply frame: the data after avec_reply_hdr is an avec_zchunk + compressed bytes. */
#define AVEC_F_COMPRESS 0x0008u
#define AVEC_F_COMPRESSED 0x0010u /* reply frame (server -> client) whose data is an avec_zchunk */

typedef struct avec_frame_hdr {
  uint32_t magic;       /* AVEC_WIRE_MAGIC */
  uint16_t version;     /* AVEC_WIRE_VERSION */
  uint16_t opcode;      /* enum avec_opcode */
  uint32_t flags;       /* AVEC_F_* */
  uint32_t request_id;  /* client-chosen, echoed in the reply; 0 allowed for fire-and-forget */
  uint32_t ctx;         /* client context handle current on the calling thread (0 = none) */
  uint32_t payload_len; /* <= AVEC_MAX_PAYLOAD */
} avec_frame_hdr;

/* Every reply payload starts with this. `status` is a CUresult or an AVEC_STATUS_* value. */
typedef struct avec_reply_hdr {
  uint32_t status;
  uint32_t reserved;
} avec_reply_hdr;

/* Opcodes. S = synchronous (has a reply), F = fire-and-forget. */
enum avec_opcode {
  /* session */
  AVEC_OP_HELLO = 1,           /* S  avec_hello + ticket bytes          -> avec_hello_reply + avec_device_info[count] */
  AVEC_OP_GOODBYE = 2,         /* F  (empty): orderly close; server frees everything */
  AVEC_OP_PING = 3,            /* S  (empty) -> (empty); used by benchmarks for the RTT floor */

  /* contexts (handle 1..AVEC_MAX_DEVICES are the primary contexts of devices 0..N-1) */
  AVEC_OP_CTX_CREATE = 10,     /* F  avec_ctx_create */
  AVEC_OP_CTX_DESTROY = 11,    /* F  avec_handle */
  AVEC_OP_CTX_SYNCHRONIZE = 12,/* S  (empty; uses hdr.ctx) */
  AVEC_OP_PRIMARY_CTX_RESET = 13,     /* S  avec_u32 (device) */
  AVEC_OP_PRIMARY_CTX_SET_FLAGS = 14, /* S  avec_u32x2 (device, flags) */
  AVEC_OP_CTX_SET_LIMIT = 15,  /* S  avec_limit */
  AVEC_OP_CTX_GET_LIMIT = 16,  /* S  avec_limit (value ignored) -> avec_u64 */
  AVEC_OP_CTX_SET_CACHE_CONFIG = 17, /* F avec_u32 */

  /* memory */
  AVEC_OP_MEM_ALLOC = 20,      /* S  avec_mem_alloc -> avec_mem_alloc_reply */
  AVEC_OP_MEM_FREE = 21,       /* F  avec_mem_free (flags ASYNC: stream-ordered free) */
  AVEC_OP_MEM_GET_INFO = 22,   /* S  (empty) -> avec_mem_info (free, total: the session's limit) */
  AVEC_OP_MEMCPY_HTOD = 23,    /* F  avec_memcpy_htod + bytes (one chunk) */
  AVEC_OP_MEMCPY_DTOH = 24,    /* S  avec_memcpy_dtoh -> reply frames carrying the bytes (AVEC_F_MORE on all but last) */
  AVEC_OP_MEMCPY_DTOD = 25,    /* F  avec_memcpy_dtod */
  AVEC_OP_MEMSET = 26,         /* F  avec_memset */
  AVEC_OP_MEMCPY2D_HTOD = 27,  /* F  avec_memcpy2d + packed rows (height * width bytes) */
  AVEC_OP_MEMCPY2D_DTOH = 28,  /* S  avec_memcpy2d -> reply frames with packed rows */
  AVEC_OP_MEMCPY2D_DTOD = 29,  /* F  avec_memcpy2d */
  AVEC_OP_MEM_ALLOC_ASYNC = 30,/* S  avec_mem_alloc (stream set; elem_size = pool handle, 0 = the device's current pool)
                                   -> avec_mem_alloc_reply */

  /* stream-ordered memory pools. Pool handles 1..AVEC_MAX_DEVICES are the default pools of devices 0..N-1;
   * pools the client creates get client-chosen handles above AVEC_MAX_DEVICES. */
  AVEC_OP_POOL_CREATE = 31,    /* S  avec_pool_create */
  AVEC_OP_POOL_DESTROY = 32,   /* F  avec_handle */
  AVEC_OP_POOL_SET_ATTR = 33,  /* F  avec_pool_attr (CUmemPool_attribute, value) */
  AVEC_OP_POOL_GET_ATTR = 34,  /* S  avec_pool_attr (value ignored) -> avec_u64 */
  AVEC_OP_POOL_TRIM = 35,      /* F  avec_pool_attr (attr ignored, value = bytes to keep) */
  AVEC_OP_POOL_SET_ACCESS = 36,/* F  avec_pool_attr (attr = device, value = CUmemAccess_flags) */
  AVEC_OP_POOL_GET_ACCESS = 37,/* S  avec_pool_attr (attr = device) -> avec_u64 (CUmemAccess_flags) */
  AVEC_OP_DEVICE_SET_MEM_POOL = 38, /* F avec_u32x2 (device, pool) */

  /* streams and events */
  AVEC_OP_STREAM_CREATE = 40,  /* F  avec_stream_create */
  AVEC_OP_STREAM_DESTROY = 41, /* F  avec_handle */
  AVEC_OP_STREAM_SYNCHRONIZE = 42, /* S avec_handle */
  AVEC_OP_STREAM_QUERY = 43,   /* S  avec_handle -> status CUDA_SUCCESS or CUDA_ERROR_NOT_READY */
  AVEC_OP_STREAM_WAIT_EVENT = 44, /* F avec_stream_wait */
  AVEC_OP_EVENT_CREATE = 45,   /* F  avec_event_create */
  AVEC_OP_EVENT_DESTROY = 46,  /* F  avec_handle */
  AVEC_OP_EVENT_RECORD = 47,   /* F  avec_event_record */
  AVEC_OP_EVENT_SYNCHRONIZE = 48, /* S avec_handle */
  AVEC_OP_EVENT_QUERY = 49,    /* S  avec_handle */
  AVEC_OP_EVENT_ELAPSED = 50,  /* S  avec_u32x2 (start, end) -> avec_f32 */

  /* modules, libraries, functions */
  AVEC_OP_MODULE_IMAGE = 60,   /* F  avec_module_image + image bytes (content-addressed upload) */
  AVEC_OP_MODULE_LOAD = 61,    /* F  avec_module_load (refers to an image by hash) */
  AVEC_OP_MODULE_UNLOAD = 62,  /* F  avec_handle */
  AVEC_OP_GET_FUNCTION = 63,   /* S  avec_get_symbol + name -> avec_function_info (+ param table) */
  AVEC_OP_GET_GLOBAL = 64,     /* S  avec_get_symbol + name -> avec_global_info */
  AVEC_OP_FUNC_SET_ATTRIBUTE = 65, /* F avec_func_attr */
  AVEC_OP_FUNC_SET_CACHE_CONFIG = 66, /* F avec_func_attr (attr ignored, value = config) */
  AVEC_OP_OCCUPANCY = 67,      /* S  avec_occupancy -> avec_u64 */

  /* launches */
  AVEC_OP_LAUNCH = 80,         /* F  avec_launch + avec_launch_attr[num_attrs] + param bytes */

  /* virtual memory management: physical allocations have client-chosen handles (the value the client's
   * CUmemGenericAllocationHandle carries); reserved address ranges are the server's addresses. */
  AVEC_OP_VMM_GRANULARITY = 90,/* S  avec_vmm_prop (option = CUmemAllocationGranularity_flags) -> avec_u64 */
  AVEC_OP_VMM_CREATE = 91,     /* S  avec_vmm_prop (handle, size) */
  AVEC_OP_VMM_RELEASE = 92,    /* F  avec_handle: drops one reference (create and each retain add one) */
  AVEC_OP_VMM_RETAIN = 93,     /* F  avec_handle */
  AVEC_OP_VMM_RESERVE = 94,    /* S  avec_vmm_range (addr = hint, size, offset = alignment, flags) -> avec_u64 (addr) */
  AVEC_OP_VMM_ADDRESS_FREE = 95, /* F avec_vmm_range (addr, size) */
  AVEC_OP_VMM_MAP = 96,        /* S  avec_vmm_range (addr, size, offset into the allocation, handle) */
  AVEC_OP_VMM_UNMAP = 97,      /* F  avec_vmm_range (addr, size) */
  AVEC_OP_VMM_SET_ACCESS = 98, /* F  avec_vmm_range (addr, size, handle = device, flags = CUmemAccess_flags) */
  AVEC_OP_VMM_GET_ACCESS = 99, /* S  avec_vmm_range (addr, handle = device) -> avec_u64 */

  /* IPC between sessions of one server: handles are opaque tokens the server resolves; it opens one only
   * for a session of the same scope (same claim, or without tickets the same client address). */
  AVEC_OP_IPC_GET_MEM = 100,   /* S  avec_u64 (device pointer, an allocation base) -> avec_ipc_handle_reply */
  AVEC_OP_IPC_OPEN_MEM = 101,  /* S  avec_ipc_open -> avec_ipc_open_reply */
  AVEC_OP_IPC_CLOSE_MEM = 102, /* F  avec_u64 (the pointer IPC_OPEN_MEM returned) */
  AVEC_OP_IPC_GET_EVENT = 103, /* S  avec_handle (event) -> avec_ipc_handle_reply */
  AVEC_OP_IPC_OPEN_EVENT = 104,/* S  avec_ipc_open (handle = the client's new event handle) */
  /* shareable handles (POSIX file descriptors) of VMM allocations and pools, between sessions of one server
   * and one scope, as for IPC_*: the client wraps the 64-byte token in a sealed memfd of its own and the
   * program passes that fd to its other processes; offered in HELLO (AVEC_FEATURE_SHAREABLE_FD) */
  AVEC_OP_SHARE_EXPORT = 105,  /* S  avec_share_export -> avec_ipc_handle_reply (the token) */
  AVEC_OP_SHARE_IMPORT = 106,  /* S  avec_share_import (token, client-chosen handle) -> avec_share_import_reply */
  AVEC_OP_POOL_EXPORT_POINTER = 107, /* S avec_u64 (a pool allocation's base) -> avec_pool_ptr_data */
  AVEC_OP_POOL_IMPORT_POINTER = 108, /* S avec_pool_import_ptr (imported pool, export data) -> avec_ipc_open_reply */

  /* private export-table slots that a library calls and only the real driver can answer (hdr.ctx: the
   * context the library passed) */
  AVEC_OP_EXPORT_CALL = 110,   /* S  avec_export_call -> avec_export_reply */

  /* CUDA arrays, texture and surface objects (120-131). Arrays and mipmapped arrays live on the server
   * under client-chosen handles; texture and surface object values are the server driver's own (kernels
   * receive them as parameters), so creating one waits for the value. */
  AVEC_OP_ARRAY_CREATE = 120,  /* S  avec_array_create (desc.levels 0) */
  AVEC_OP_ARRAY_DESTROY = 121, /* F  avec_handle (not a mipmap level: those go with their mipmapped array) */
  AVEC_OP_MIPMAP_CREATE = 122, /* S  avec_array_create (desc.levels >= 1) */
  AVEC_OP_MIPMAP_DESTROY = 123,/* F  avec_handle */
  AVEC_OP_MIPMAP_GET_LEVEL = 124, /* S avec_mipmap_level -> avec_array_desc_reply (the level's descriptor) */
  AVEC_OP_MEMCPY_HTOA = 125,   /* F  avec_array_copy (dst_array set) + packed bytes (width * height * depth) */
  AVEC_OP_MEMCPY_ATOH = 126,   /* S  avec_array_copy (src_array set) -> one reply frame: packed bytes */
  AVEC_OP_MEMCPY_ARRAY = 127,  /* F  avec_array_copy: device side to device side, at least one of them an array */
  AVEC_OP_TEX_CREATE = 128,    /* S  avec_tex_create -> avec_u64 (the CUtexObject) */
  AVEC_OP_TEX_DESTROY = 129,   /* F  avec_u64 */
  AVEC_OP_SURF_CREATE = 130,   /* S  avec_tex_create (has_tex = has_view = 0) -> avec_u64 (the CUsurfObject) */
  AVEC_OP_SURF_DESTROY = 131,  /* F  avec_u64 */

  /* JIT linking (cuLink*): the linker runs on the server's driver (it needs the device's architecture).
   * Link states have client-chosen handles; inputs travel as data (files are read on the client); the
   * linked image comes back with LINK_READ in pieces of <= AVEC_CHUNK bytes. Log text the driver wrote
   * into the server's log buffers comes back with every LINK_ADD_DATA and LINK_COMPLETE reply. */
  AVEC_OP_LINK_CREATE = 132,   /* S  avec_link_create + avec_jit_option[num_options] */
  AVEC_OP_LINK_ADD_DATA = 133, /* S  avec_link_add + avec_jit_option[num_options] + name + data part
                                     -> avec_link_reply + info log + error log */
  AVEC_OP_LINK_COMPLETE = 134, /* S  avec_handle -> avec_link_reply (image_size) + info log + error log */
  AVEC_OP_LINK_READ = 135,     /* S  avec_link_read -> avec_reply_hdr + image bytes [offset, offset + len) */
  AVEC_OP_LINK_DESTROY = 136,  /* F  avec_handle */

  /* stream attributes (CUstreamAttrValue is CUlaunchAttributeValue, 64 bytes) */
  AVEC_OP_STREAM_SET_ATTR = 137,  /* F  avec_stream_attr */
  AVEC_OP_STREAM_GET_ATTR = 138,  /* S  avec_stream_attr (value ignored) -> avec_stream_attr_reply */
  AVEC_OP_STREAM_COPY_ATTR = 139, /* F  avec_u32x2 (dst stream, src stream) */

  /* stream capture and CUDA graphs. Graphs, nodes and executable graphs are named by ids the server
   * chooses (never 0; the client hands them to the program as CUgraph/CUgraphNode/CUgraphExec values);
   * capture runs on the server's real stream, so a replay is one GRAPH_LAUNCH frame. Every request is
   * avec_graph_req + deps[num_deps] (u64 node ids) + body[body_len]; `node type` bodies: KERNEL
   * avec_launch (num_attrs 0) + param bytes, MEMSET avec_memset, MEMCPY avec_memcpy2d (device to
   * device), EMPTY nothing, GRAPH avec_u64 (child graph id), EVENT_RECORD/WAIT_EVENT avec_handle,
   * MEM_ALLOC avec_u64 (bytes; the reply adds the address: two u64), MEM_FREE avec_u64 (that address). */
  AVEC_OP_GRAPH_CREATE = 140,         /* S  (a = flags) -> avec_u64 graph id */
  AVEC_OP_GRAPH_DESTROY = 141,        /* F  (graph) */
  AVEC_OP_GRAPH_ADD_NODE = 142,       /* S  (graph, a = CUgraphNodeType, deps, body) -> avec_u64 node id */
  AVEC_OP_GRAPH_INSTANTIATE = 143,    /* S  (graph, a = flags, stream = upload stream) -> avec_u64 exec id */
  AVEC_OP_GRAPH_LAUNCH = 144,         /* F  (graph = exec, stream) */
  AVEC_OP_GRAPH_UPLOAD = 145,         /* F  (graph = exec, stream) */
  AVEC_OP_GRAPH_EXEC_DESTROY = 146,   /* F  (graph = exec) */
  AVEC_OP_GRAPH_EXEC_UPDATE = 147,    /* S  (graph = exec, node = graph id) -> avec_graph_update_reply */
  AVEC_OP_GRAPH_EXEC_SET_PARAMS = 148,/* F  (graph = exec, node, a = node type, body) */
  AVEC_OP_GRAPH_NODE_SET_PARAMS = 149,/* F  (node, a = node type, body) */
  AVEC_OP_STREAM_BEGIN_CAPTURE = 150, /* S  (stream, a = CUstreamCaptureMode; graph: into it, after deps) */
  AVEC_OP_STREAM_END_CAPTURE = 151,   /* S  (stream) -> avec_u64 graph id */
  AVEC_OP_STREAM_CAPTURE_INFO = 152,  /* S  (stream) -> avec_capture_info + u64 node ids[num_deps] */
  AVEC_OP_GRAPH_CLONE = 153,          /* S  (graph) -> avec_u64 graph id */
  AVEC_OP_GRAPH_GET_NODES = 154,      /* S  (graph, a = 0 all nodes / 1 root nodes) -> avec_u64 count + ids */
  AVEC_OP_CAPTURE_MODE = 155,         /* S  (a = CUstreamCaptureMode) -> avec_u64 the previous mode */
  AVEC_OP_GRAPH_NODE_GET_TYPE = 156,  /* S  (node) -> avec_u64 CUgraphNodeType; a = 1: then avec_u64 the
                                         host function id (0 unless a host node) */
  AVEC_OP_STREAM_UPDATE_CAPTURE_DEPS = 157, /* S (stream, a = flags, deps) */
  AVEC_OP_GRAPH_DEBUG_DOT = 158,      /* S  (graph, a = flags) -> DOT text */
  AVEC_OP_GRAPH_EDGES = 159,          /* S  (graph, a = 0 add / 1 remove, deps = from[n/2] then to[n/2]) */
  AVEC_OP_GRAPH_DESTROY_NODE = 160,   /* F  (node) */
  AVEC_OP_GRAPH_NODE_ENABLE = 161,    /* F  (graph = exec, node, a = 0/1) */

  /* host functions (cuLaunchHostFunc into a capture, graph host nodes) run in the client process: the
   * server asks for them on the session's callback connection, negotiated in HELLO (AVEC_FEATURE_CALLBACKS)
   * and joined like a stripe (avec_stripe_join, index AVEC_JOIN_CALLBACKS). A host node's body is an
   * avec_u64: the client's opaque host function id (never 0). */
  AVEC_OP_CALLBACK_ATTACH = 162, /* S  (empty): take the callback connection opened since HELLO */
  AVEC_OP_HOST_FUNC = 163,       /* F  avec_host_func: run client host function `id` in stream order */
  AVEC_OP_CALLBACK = 164,        /* callback connection, server -> client: avec_callback (RUN, DATA + bytes) */
  AVEC_OP_CALLBACK_REPLY = 165,  /* callback connection, client -> server: avec_callback (READ, WRITE + bytes, DONE) */

  /* graph memory of a device (what memory-allocation nodes hold), answered by the server's driver */
  AVEC_OP_GRAPH_MEM_GET_ATTR = 166,   /* S  avec_u32x2 (device, CUgraphMem_attribute) -> avec_u64 */
  AVEC_OP_GRAPH_MEM_RESET_HIGH = 167, /* F  avec_u32x2 (device, a *_HIGH attribute): back to the current value */
  AVEC_OP_GRAPH_MEM_TRIM = 168,       /* F  avec_u32 device: cuDeviceGraphMemTrim */

  /* bulk data paths negotiated in HELLO (AVEC_FEATURE_*); a server that did not offer them closes the
   * session on these opcodes (AVEC_STATUS_BAD_FRAME), so a client only sends what it was offered. */
  AVEC_OP_STRIPE_ATTACH = 170, /* S  avec_stripe_attach: take the stripe connections opened since HELLO */
  AVEC_OP_MEMCPY_HTOD_STRIPED = 171, /* F avec_memcpy_striped: one chunk whose bytes arrive on the stripes */
  AVEC_OP_MEMCPY_DTOH_STRIPED = 172, /* S avec_memcpy_striped (src, size) -> status; the bytes go out on the stripes */
  AVEC_OP_MEMCPY_HTOD_Z = 173, /* F  avec_memcpy_htod + avec_zchunk + compressed bytes (one chunk) */

  AVEC_OP_CTX_RESET_PERSISTING_L2 = 174, /* F (empty; uses hdr.ctx): cuCtxResetPersistingL2Cache */
  /* conditional graph nodes: the handle is the server driver's value (kernels receive it as a parameter) */
  AVEC_OP_GRAPH_COND_HANDLE_CREATE = 175, /* S avec_graph_req (graph, a = default value, node = flags)
                                             -> avec_u64 the CUgraphConditionalHandle */
  /* kernel names of a module/library, for cuModuleGetFunctionCount / cuModuleEnumerateFunctions (and the
   * library pair) when the client cannot read them from the image itself (compressed fat binaries, as
   * cuFFT ships). Pending modules are answered AVEC_STATUS_NEED_IMAGE like GET_FUNCTION. */
  AVEC_OP_MODULE_KERNEL_NAMES = 176, /* S avec_handle (module/library) -> avec_kernel_names + names */
  /* the client answered a stream synchronize itself (AVEC_SYNC_FENCE=1: only host-to-device copies were
   * queued since the stream last ran dry): the server waits for the stream before it reads another frame,
   * and an error of that wait is deferred like any fire-and-forget error */
  AVEC_OP_STREAM_FENCE = 177, /* F avec_handle (stream) */
  /* host bytes of a mapped or managed memory mirror that device work may be using, written beside the work
   * the streams are running (not in stream order), as a host write to mapped memory reaches a running kernel
   * on a local GPU; the client sends every host change of a mirror this way, in pieces (before device work
   * that names the mirror, and when a synchronize or query begins). Offered in HELLO
   * (AVEC_FEATURE_MIRROR_WRITE_NOW); an error is deferred like any fire-and-forget error */
  AVEC_OP_MIRROR_WRITE_NOW = 178, /* F avec_mirror_write + `size` bytes */
  /* zeros over a fresh mirror's device side, applied the same way (beside the streams, before the next frame
   * is read), so a MIRROR_WRITE_NOW after it cannot be overtaken by it; same HELLO feature */
  AVEC_OP_MIRROR_ZERO_NOW = 179, /* F avec_mirror_write, no payload */
  /* server -> client only (a client that sends it has sent a bad frame): what the session's driver wrote to
   * its stdout (device printf, flushed by the driver at synchronizations, launches and module loads),
   * sent just before a reply with that reply's request id and opcode-independent flags AVEC_F_REPLY;
   * payload: avec_reply_hdr {0} + at most AVEC_DEVICE_OUTPUT_MAX bytes of text, in order. The client writes
   * the text to its own stdout and goes on reading the reply. Only when both sides agreed in HELLO
   * (AVEC_HELLO_DEVICE_OUTPUT / AVEC_FEATURE_DEVICE_OUTPUT) */
  AVEC_OP_DEVICE_OUTPUT = 180,
};
#define AVEC_DEVICE_OUTPUT_MAX (64u * 1024u)

/* Frames that queue no device work but host-to-device copies (or none at all): after only these since a
 * stream last ran dry, a fenced synchronize of it is what the program would see (stream.c, AVEC_SYNC_FENCE). */
#define AVEC_OP_FENCE_QUIET(op)                                                                               \
  ((op) == AVEC_OP_MEMCPY_HTOD || (op) == AVEC_OP_MEMCPY_HTOD_Z || (op) == AVEC_OP_MEMCPY_HTOD_STRIPED ||    \
   (op) == AVEC_OP_STREAM_FENCE || (op) == AVEC_OP_MEM_ALLOC || (op) == AVEC_OP_MEM_GET_INFO ||              \
   (op) == AVEC_OP_GET_FUNCTION || (op) == AVEC_OP_GET_GLOBAL || (op) == AVEC_OP_MODULE_IMAGE ||             \
   (op) == AVEC_OP_MODULE_LOAD || (op) == AVEC_OP_MODULE_KERNEL_NAMES || (op) == AVEC_OP_OCCUPANCY ||        \
   (op) == AVEC_OP_FUNC_SET_ATTRIBUTE || (op) == AVEC_OP_FUNC_SET_CACHE_CONFIG ||                            \
   (op) == AVEC_OP_STREAM_CREATE || (op) == AVEC_OP_EVENT_CREATE || (op) == AVEC_OP_CTX_GET_LIMIT ||         \
   (op) == AVEC_OP_PING || (op) == AVEC_OP_MIRROR_WRITE_NOW || (op) == AVEC_OP_MIRROR_ZERO_NOW)

/* Reply details (docs/protocol.md has the full rules):
 * - Every reply payload starts with avec_reply_hdr. MEMCPY_DTOH / MEMCPY2D_DTOH replies are one or more
 *   frames, each avec_reply_hdr + up to AVEC_CHUNK data bytes, AVEC_F_MORE on all but the last; data
 *   frames carry status 0 and the last frame's status is the call's result (an error ends the sequence
 *   early with a data-less frame; the client then discards the bytes it got).
 * - A synchronous request arriving while a deferred error is pending is answered with that error and is
 *   NOT run (the error is then cleared); in a session poisoned by a sticky error every synchronous
 *   request is answered with the sticky error and fire-and-forget frames are dropped. PING and HELLO are
 *   exempt.
 * - MODULE_IMAGE: an image larger than one frame is sent as consecutive MODULE_IMAGE frames with the same
 *   hash and size, each carrying the next part; it is verified when `size` bytes have arrived.
 * - OCCUPANCY with AVEC_OCC_AVAILABLE_DSMEM: `flags` carries numBlocks, `block_size` the block size. */

#define AVEC_OP_IS_SYNC(op)                                                                                  \
  ((op) == AVEC_OP_HELLO || (op) == AVEC_OP_PING || (op) == AVEC_OP_CTX_SYNCHRONIZE ||                      \
   (op) == AVEC_OP_PRIMARY_CTX_RESET || (op) == AVEC_OP_PRIMARY_CTX_SET_FLAGS ||                           \
   (op) == AVEC_OP_CTX_SET_LIMIT || (op) == AVEC_OP_CTX_GET_LIMIT || (op) == AVEC_OP_MEM_ALLOC ||           \
   (op) == AVEC_OP_MEM_GET_INFO || (op) == AVEC_OP_MEMCPY_DTOH || (op) == AVEC_OP_MEMCPY2D_DTOH ||          \
   (op) == AVEC_OP_MEM_ALLOC_ASYNC || (op) == AVEC_OP_STREAM_SYNCHRONIZE || (op) == AVEC_OP_STREAM_QUERY || \
   (op) == AVEC_OP_EVENT_SYNCHRONIZE || (op) == AVEC_OP_EVENT_QUERY || (op) == AVEC_OP_EVENT_ELAPSED ||     \
   (op) == AVEC_OP_GET_FUNCTION || (op) == AVEC_OP_GET_GLOBAL || (op) == AVEC_OP_OCCUPANCY ||                \
   (op) == AVEC_OP_POOL_CREATE || (op) == AVEC_OP_POOL_GET_ATTR || (op) == AVEC_OP_POOL_GET_ACCESS ||       \
   (op) == AVEC_OP_VMM_GRANULARITY || (op) == AVEC_OP_VMM_CREATE || (op) == AVEC_OP_VMM_RESERVE ||          \
   (op) == AVEC_OP_VMM_MAP || (op) == AVEC_OP_VMM_GET_ACCESS || (op) == AVEC_OP_IPC_GET_MEM ||               \
   (op) == AVEC_OP_IPC_OPEN_MEM || (op) == AVEC_OP_IPC_GET_EVENT || (op) == AVEC_OP_IPC_OPEN_EVENT ||         \
   ((op) >= AVEC_OP_SHARE_EXPORT && (op) <= AVEC_OP_POOL_IMPORT_POINTER) ||                                  \
   (op) == AVEC_OP_EXPORT_CALL || (op) == AVEC_OP_ARRAY_CREATE || (op) == AVEC_OP_MIPMAP_CREATE ||           \
   (op) == AVEC_OP_MIPMAP_GET_LEVEL || (op) == AVEC_OP_MEMCPY_ATOH || (op) == AVEC_OP_TEX_CREATE ||          \
   (op) == AVEC_OP_SURF_CREATE || (op) == AVEC_OP_GRAPH_CREATE || (op) == AVEC_OP_GRAPH_ADD_NODE ||           \
   (op) == AVEC_OP_GRAPH_INSTANTIATE || (op) == AVEC_OP_GRAPH_EXEC_UPDATE ||                                 \
   ((op) >= AVEC_OP_STREAM_BEGIN_CAPTURE && (op) <= AVEC_OP_GRAPH_EDGES) ||                                \
   (op) == AVEC_OP_STRIPE_ATTACH || (op) == AVEC_OP_MEMCPY_DTOH_STRIPED ||                                  \
   ((op) >= AVEC_OP_LINK_CREATE && (op) <= AVEC_OP_LINK_READ) || (op) == AVEC_OP_STREAM_GET_ATTR ||          \
   (op) == AVEC_OP_GRAPH_COND_HANDLE_CREATE || (op) == AVEC_OP_GRAPH_MEM_GET_ATTR || (op) == AVEC_OP_CALLBACK_ATTACH || \
   (op) == AVEC_OP_MODULE_KERNEL_NAMES)

/* ---- payloads ---------------------------------------------------------------------------------------- */

typedef struct avec_handle { uint32_t handle; uint32_t reserved; } avec_handle;
typedef struct avec_u32 { uint32_t value; uint32_t reserved; } avec_u32;
typedef struct avec_u32x2 { uint32_t a; uint32_t b; } avec_u32x2;
typedef struct avec_u64 { uint64_t value; } avec_u64;
typedef struct avec_f32 { float value; uint32_t reserved; } avec_f32;

#define AVEC_HELLO_INFO_ONLY 0x1u /* NVML-style query session: no context, no allocations */
/* The client can use stripe connections; bits 8..11 say how many it wants (1..AVEC_MAX_STRIPES). */
#define AVEC_HELLO_STRIPES 0x2u
#define AVEC_HELLO_STRIPES_SHIFT 8u
#define AVEC_HELLO_STRIPES_MASK 0xF00u
/* The client can send and take zstd-compressed bulk chunks (and wants to: AVEC_COMPRESS=1). */
#define AVEC_HELLO_ZSTD 0x4u
/* This connection is a stripe of an existing session, not a session: the tail is an avec_stripe_join
 * (stripe_join_len bytes, announced as ticket_len) instead of a ticket. */
#define AVEC_HELLO_STRIPE_JOIN 0x8u
/* The client can serve host functions on a callback connection (opened when it first needs one). */
#define AVEC_HELLO_CALLBACKS 0x10u
/* The client takes DEVICE_OUTPUT frames: the device's printf output is written to its stdout. */
#define AVEC_HELLO_DEVICE_OUTPUT 0x20u

typedef struct avec_hello {
  uint32_t wire_version;   /* AVEC_WIRE_VERSION */
  uint32_t flags;          /* AVEC_HELLO_* */
  uint32_t client_pid;
  uint32_t ticket_len;     /* <= AVEC_MAX_TICKET; ticket bytes follow this struct */
  char client_host[64];    /* NUL-terminated, for logs */
} avec_hello;

typedef struct avec_hello_reply {
  avec_reply_hdr r;
  uint64_t session_id;
  uint64_t memory_limit;   /* bytes this session may allocate (the claim's limit) */
  uint32_t driver_version; /* what cuDriverGetVersion reports (e.g. 13000) */
  uint32_t device_count;   /* <= AVEC_MAX_DEVICES; avec_device_info[device_count] follows */
  uint32_t emulated;       /* 1 when the server runs the emulated device backend */
  uint32_t features;       /* AVEC_FEATURE_*; non-zero: an avec_hello_ext follows the device infos (older
                              servers send 0 here and nothing after the devices) */
} avec_hello_reply;

#define AVEC_FEATURE_STRIPES 0x1u /* stripes granted: open avec_hello_ext.stripes connections, then STRIPE_ATTACH */
#define AVEC_FEATURE_ZSTD 0x2u    /* the server takes MEMCPY_HTOD_Z and honours AVEC_F_COMPRESS */
/* host functions offered: the client may join one callback connection (avec_stripe_join with the ext's
 * token and index AVEC_JOIN_CALLBACKS), then CALLBACK_ATTACH; ext.stripes may be 0 */
#define AVEC_FEATURE_CALLBACKS 0x4u
#define AVEC_FEATURE_MIRROR_WRITE_NOW 0x8u /* the server takes MIRROR_WRITE_NOW and MIRROR_ZERO_NOW (older ones close
                                                 * the session on them) */
/* the server exports and imports POSIX-fd shareable handles of VMM allocations and pools between sessions of
 * one scope (SHARE_*, POOL_*_POINTER); without it the client refuses them and reads the handle-type device
 * attributes as 0 */
#define AVEC_FEATURE_SHAREABLE_FD 0x10u
/* the session's stdout (device printf) comes to the client in DEVICE_OUTPUT frames ahead of replies */
#define AVEC_FEATURE_DEVICE_OUTPUT 0x20u
#define AVEC_MAX_STRIPES 8u
#define AVEC_STRIPE_TOKEN_BYTES 32u

typedef struct avec_hello_ext {
  uint32_t stripes;        /* granted stripe connections (0..AVEC_MAX_STRIPES) */
  uint32_t reserved;
  uint8_t stripe_token[AVEC_STRIPE_TOKEN_BYTES]; /* random per session: proves a stripe belongs to it */
} avec_hello_ext;

/* Tail of a stripe connection's HELLO (AVEC_HELLO_STRIPE_JOIN). The listener routes the connection to the
 * session with this id; the session checks the token (constant time) when the client sends STRIPE_ATTACH
 * and answers each stripe's HELLO: success (a bare avec_hello_reply, no devices) or a refusal
 * (AVEC_STATUS_REFUSED, reason AVEC_REFUSAL_STRIPE_REFUSED, with a message). */
typedef struct avec_stripe_join {
  uint64_t session_id;     /* avec_hello_reply.session_id of the session */
  uint8_t token[AVEC_STRIPE_TOKEN_BYTES];
  uint32_t index;          /* 0..stripes-1: which slice of every striped chunk this connection carries */
  uint32_t reserved;
} avec_stripe_join;

typedef struct avec_stripe_attach { uint32_t count; uint32_t reserved; } avec_stripe_attach;

/* avec_stripe_join.index of the session's callback connection (not a stripe). */
#define AVEC_JOIN_CALLBACKS 0xFFFFFFFFu

/* HOST_FUNC: `stream` (a wire stream handle) reaches the client's host function `id`. */
typedef struct avec_host_func { uint64_t id; uint32_t stream; uint32_t reserved; } avec_host_func;

/* Frames of the callback connection (opcodes CALLBACK / CALLBACK_REPLY, request_id = the callback's
 * sequence number). One callback at a time: the server sends RUN; the client may read (READ -> DATA) and
 * write (WRITE) device memory of the session in pieces of at most AVEC_CHUNK bytes while it handles it
 * (host memory that graphs copy through device-side mirrors), and ends it with DONE. */
enum avec_callback_kind {
  AVEC_CB_RUN = 1,   /* server: run host function `id` */
  AVEC_CB_DATA = 2,  /* server: `size` bytes of [addr, addr+size) follow (status 0), or none (status != 0) */
  AVEC_CB_READ = 3,  /* client: send me [addr, addr+size) */
  AVEC_CB_WRITE = 4, /* client: `size` bytes for [addr, addr+size) follow (no answer; a failure is logged) */
  AVEC_CB_DONE = 5,  /* client: the host function returned (status: 0, or why it could not run) */
};
typedef struct avec_callback {
  uint64_t id;       /* RUN, DONE: the host function id */
  uint64_t addr;     /* DATA, READ, WRITE: device address */
  uint64_t size;     /* DATA, READ, WRITE: bytes, <= AVEC_CHUNK */
  uint32_t kind;     /* avec_callback_kind */
  uint32_t status;   /* DATA, DONE: CUresult */
} avec_callback;

/* Striped chunk: `size` bytes split in `stripes` contiguous slices, slice i (bytes [size*i/stripes,
 * size*(i+1)/stripes)) on stripe i, each slice preceded on its stripe by an avec_stripe_piece. */
typedef struct avec_memcpy_striped {
  uint64_t addr;           /* device address (dst for HTOD, src for DTOH) */
  uint64_t size;           /* HTOD: <= AVEC_CHUNK; DTOH: the whole copy (chunked by AVEC_CHUNK) */
  uint32_t stream;         /* with AVEC_F_ASYNC */
  uint32_t reserved;
} avec_memcpy_striped;

#define AVEC_STRIPE_PIECE_MAGIC 0x50535641u /* "AVSP" */
typedef struct avec_stripe_piece {
  uint32_t magic;          /* AVEC_STRIPE_PIECE_MAGIC */
  uint32_t len;            /* slice bytes that follow */
  uint64_t seq;            /* per-session chunk counter, the same on every stripe (a desync check) */
} avec_stripe_piece;

/* A compressed chunk (MEMCPY_HTOD_Z payload after avec_memcpy_htod; MEMCPY_DTOH reply frames with
 * AVEC_F_COMPRESSED after avec_reply_hdr): `raw_len` bytes once decompressed (<= AVEC_CHUNK). `codec`:
 * bits 0..7 the codec (AVEC_CODEC_ZSTD: one zstd frame), bits 8..15 a byte-delta stride applied before
 * compressing (0: none; 1..8: byte i was stored as raw[i] - raw[i - stride], camera frames compress
 * only after it); other bits 0. See wire/avec_codec.h. */
#define AVEC_CODEC_ZSTD 1u
#define AVEC_CODEC_DELTA_SHIFT 8u
#define AVEC_CODEC_MAX_DELTA 8u
typedef struct avec_zchunk { uint32_t raw_len; uint32_t codec; } avec_zchunk;

/* Why a HELLO was refused. A HELLO reply with status AVEC_STATUS_BAD_TICKET or AVEC_STATUS_REFUSED carries
 * avec_hello_reply (all other fields 0), then this struct, then `message_len` bytes of UTF-8 text for a
 * person (no NUL). Servers before this addition sent the bare avec_hello_reply: a client treats a reply
 * without it (or with an inconsistent one) as reason AVEC_REFUSAL_UNSPECIFIED and no message. */
#define AVEC_MAX_REFUSAL_MESSAGE 256u

typedef struct avec_hello_refusal {
  uint32_t reason;      /* AVEC_REFUSAL_*; unknown values are to be read as UNSPECIFIED */
  uint32_t message_len; /* <= AVEC_MAX_REFUSAL_MESSAGE; payload_len == 48 + message_len */
} avec_hello_refusal;

/* Reasons. 1..15 come with AVEC_STATUS_BAD_TICKET, 16.. with AVEC_STATUS_REFUSED. */
#define AVEC_REFUSAL_UNSPECIFIED 0u
#define AVEC_REFUSAL_TICKET_MALFORMED 1u       /* not an avec1 ticket, or a payload that does not parse */
#define AVEC_REFUSAL_TICKET_UNKNOWN_KEY 2u     /* its key id is not in the server's keyring */
#define AVEC_REFUSAL_TICKET_BAD_SIGNATURE 3u
#define AVEC_REFUSAL_TICKET_EXPIRED 4u
#define AVEC_REFUSAL_TICKET_NOT_YET_VALID 5u
#define AVEC_REFUSAL_TICKET_WRONG_NODE 6u      /* issued for another node */
#define AVEC_REFUSAL_TICKET_UNSUPPORTED 7u     /* ticket payload version this server does not know */
#define AVEC_REFUSAL_DRAINING 16u              /* the node is draining and admits no new sessions */
#define AVEC_REFUSAL_NODE_SESSION_LIMIT 17u
#define AVEC_REFUSAL_CLAIM_SESSION_LIMIT 18u
#define AVEC_REFUSAL_UNKNOWN_DEVICE 19u        /* the ticket's device is not on this node */
#define AVEC_REFUSAL_INSUFFICIENT_MEMORY 20u   /* the ticket grants more memory than the device has (or none) */
#define AVEC_REFUSAL_COMPUTE_SHARE 21u         /* the ticket's compute share (cpct < 100) cannot be enforced here */
#define AVEC_REFUSAL_TOO_MANY_CONNECTIONS 22u  /* too many connections are waiting to be admitted (server, peer) */
#define AVEC_REFUSAL_HELLO_TIMEOUT 23u         /* the HELLO did not arrive in time */
#define AVEC_REFUSAL_STRIPE_REFUSED 24u        /* a stripe connection: unknown session, wrong token or index */
#define AVEC_REFUSAL_EXECUTOR_FAILED 32u       /* the server could not start the session's executor */
#define AVEC_REFUSAL_SERVER_ERROR 33u          /* any other failure of the server while admitting */

typedef struct avec_device_info {
  char name[256];                           /* NUL-terminated; contains "emulated" on the emulated backend */
  uint8_t uuid[16];
  uint64_t total_mem;                       /* min(device memory, session limit) */
  int32_t pci_domain, pci_bus, pci_device;  /* PCI location */
  int32_t cc_major, cc_minor;
  int32_t attrs[AVEC_DEV_ATTR_SLOTS];       /* CUdevice_attribute values, index = attribute */
  uint32_t reserved;
} avec_device_info;

typedef struct avec_ctx_create {
  uint32_t handle;  /* client-chosen, > AVEC_MAX_DEVICES */
  uint32_t flags;
  uint32_t device;
  uint32_t reserved;
} avec_ctx_create;

typedef struct avec_limit { uint32_t limit; uint32_t reserved; uint64_t value; } avec_limit;

typedef struct avec_mem_alloc {
  uint64_t size;          /* bytes (for pitched: width in bytes) */
  uint64_t height;        /* 0 = linear; else pitched allocation of `height` rows */
  uint32_t elem_size;     /* pitched: element size 4, 8 or 16 */
  uint32_t stream;        /* MEM_ALLOC_ASYNC: stream handle */
} avec_mem_alloc;

typedef struct avec_mem_alloc_reply {
  avec_reply_hdr r;
  uint64_t dptr;
  uint64_t pitch;         /* pitched allocations; MEM_ALLOC_ASYNC on a capturing stream: the id of the graph
                             being captured, whose allocation node the memory is; else 0 */
} avec_mem_alloc_reply;

typedef struct avec_mem_free { uint64_t dptr; uint32_t stream; uint32_t reserved; } avec_mem_free;

typedef struct avec_mem_info { avec_reply_hdr r; uint64_t free; uint64_t total; } avec_mem_info;

typedef struct avec_memcpy_htod {
  uint64_t dst;           /* device address of this chunk */
  uint32_t stream;        /* with AVEC_F_ASYNC */
  uint32_t reserved;      /* payload bytes after this struct are the data */
} avec_memcpy_htod;

/* MIRROR_WRITE_NOW: `size` bytes follow. One piece of at most 64 KiB: the server applies it whole before it
 * reads the next frame, and the client may send one at every synchronize or query of a polling loop. */
#define AVEC_MIRROR_WRITE_MAX (64u * 1024u)
typedef struct avec_mirror_write {
  uint64_t dptr;          /* all `size` bytes inside one of the session's allocations */
  uint64_t size;          /* 1..AVEC_MIRROR_WRITE_MAX, the payload bytes after this struct (MIRROR_ZERO_NOW: any
                             size >= 1, no payload) */
} avec_mirror_write;

typedef struct avec_memcpy_dtoh {
  uint64_t src;
  uint64_t size;          /* total bytes; the reply streams them in frames of <= AVEC_CHUNK */
  uint32_t stream;
  uint32_t reserved;
} avec_memcpy_dtoh;

typedef struct avec_memcpy_dtod {
  uint64_t dst, src, size;
  uint32_t stream;
  uint32_t reserved;
} avec_memcpy_dtod;

typedef struct avec_memset {
  uint64_t dst;
  uint64_t pitch;         /* 2D: destination pitch; 0 for 1D */
  uint64_t width;         /* elements per row (1D: element count) */
  uint64_t height;        /* 1 for 1D */
  uint32_t value;         /* low elem_size bytes used */
  uint16_t elem_size;     /* 1, 2 or 4 */
  uint16_t reserved;
  uint32_t stream;
  uint32_t reserved2;
} avec_memset;

typedef struct avec_memcpy2d {
  uint64_t dst, dst_pitch; /* device side address/pitch (DTOH: src, src_pitch) */
  uint64_t src, src_pitch; /* DTOD only */
  uint64_t width;          /* bytes per row */
  uint64_t height;         /* rows; HTOD payload / DTOH reply carries width*height packed bytes */
  uint32_t stream;
  uint32_t reserved;
} avec_memcpy2d;

typedef struct avec_stream_create { uint32_t handle; uint32_t flags; int32_t priority; uint32_t reserved; } avec_stream_create;
typedef struct avec_stream_wait { uint32_t stream; uint32_t event; uint32_t flags; uint32_t reserved; } avec_stream_wait;
typedef struct avec_event_create { uint32_t handle; uint32_t flags; } avec_event_create;
typedef struct avec_event_record { uint32_t event; uint32_t stream; uint32_t flags; uint32_t reserved; } avec_event_record;

/* Stream handle values with a fixed meaning. */
#define AVEC_STREAM_LEGACY 0u      /* NULL stream / CU_STREAM_LEGACY */
#define AVEC_STREAM_PER_THREAD 1u  /* CU_STREAM_PER_THREAD; client-created streams start at 16 */

#define AVEC_MODULE_KIND_MODULE 0u  /* cuModuleLoadData*: CUmodule */
#define AVEC_MODULE_KIND_LIBRARY 1u /* cuLibraryLoadData: CUlibrary */

typedef struct avec_module_image {
  uint8_t hash[32];       /* SHA-256 of the image bytes that follow */
  uint64_t size;
} avec_module_image;

typedef struct avec_module_load {
  uint32_t handle;        /* client-chosen module/library handle */
  uint32_t kind;          /* AVEC_MODULE_KIND_* */
  uint8_t hash[32];       /* image previously sent with MODULE_IMAGE (now or in an earlier session) */
  uint64_t size;
} avec_module_load;

#define AVEC_SYMBOL_FUNCTION 0u /* cuModuleGetFunction */
#define AVEC_SYMBOL_KERNEL 1u   /* cuLibraryGetKernel */

typedef struct avec_get_symbol {
  uint32_t module;        /* module/library handle */
  uint32_t handle;        /* client-chosen function/kernel handle (GET_FUNCTION); 0 for GET_GLOBAL */
  uint32_t kind;          /* AVEC_SYMBOL_* */
  uint32_t name_len;      /* name bytes follow, no NUL, <= AVEC_MAX_NAME */
} avec_get_symbol;

typedef struct avec_function_info {
  avec_reply_hdr r;       /* status AVEC_STATUS_NEED_IMAGE: payload is avec_module_image (hash, size) instead */
  int32_t attrs[AVEC_FUNC_ATTR_SLOTS]; /* CUfunction_attribute values at load time */
  uint32_t num_params;    /* <= AVEC_MAX_PARAMS; then num_params x avec_param_info */
  uint32_t reserved;
} avec_function_info;

typedef struct avec_param_info { uint32_t offset; uint32_t size; } avec_param_info;

/* avec_function_info.num_params value meaning "parameter layout unknown" (the emulated device cannot read
 * it); no avec_param_info follow and the client sends launches of that function with param_bytes = 0. */
#define AVEC_PARAMS_UNKNOWN 0xFFFFFFFFu

/* MODULE_KERNEL_NAMES reply: `count` names follow, each NUL-terminated, `bytes` bytes in all (the rest of
 * the frame). Each name is 1..AVEC_MAX_NAME bytes; a module whose names do not fit the bounds is answered
 * CUDA_ERROR_NOT_SUPPORTED. */
#define AVEC_MAX_KERNEL_NAMES 65536u
#define AVEC_MAX_KERNEL_NAME_BYTES (8u << 20)
typedef struct avec_kernel_names {
  avec_reply_hdr r;       /* status AVEC_STATUS_NEED_IMAGE: payload is avec_module_image (hash, size) instead */
  uint32_t count;
  uint32_t bytes;
} avec_kernel_names;

typedef struct avec_global_info { avec_reply_hdr r; uint64_t dptr; uint64_t size; } avec_global_info;
/* in avec_global_info.r.reserved: the global is a __managed__ variable (the host may dereference it) */
#define AVEC_GLOBAL_F_MANAGED 1u

typedef struct avec_func_attr { uint32_t func; uint32_t attr; int32_t value; uint32_t reserved; } avec_func_attr;

#define AVEC_OCC_MAX_ACTIVE_BLOCKS 0u   /* cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags */
#define AVEC_OCC_AVAILABLE_DSMEM 1u     /* cuOccupancyAvailableDynamicSMemPerBlock */
#define AVEC_OCC_MAX_POTENTIAL_BLOCK 2u /* cuOccupancyMaxPotentialBlockSize (no callback): value = gridSize<<32 | blockSize */
/* cuOccupancyMaxActiveClusters (cuBLAS sizes persistent cluster kernels with it: it must be exact, an
 * overestimate could make co-residency assumptions fail): block_size = threads per block, flags = cluster
 * dims x | y << 8 | z << 16 (0 = the function's compile-time cluster dims), dynamic_smem; value = the
 * number of clusters. The server builds a CUlaunchConfig of one cluster (grid = cluster dims, block =
 * (block_size,1,1), CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION when flags != 0). A server without it answers
 * CUDA_ERROR_INVALID_VALUE and the client falls back to a local estimate. */
#define AVEC_OCC_MAX_ACTIVE_CLUSTERS 3u

typedef struct avec_occupancy {
  uint32_t func;
  uint32_t kind;          /* AVEC_OCC_* */
  uint32_t block_size;
  uint32_t flags;
  uint64_t dynamic_smem;
} avec_occupancy;

typedef struct avec_launch_attr {
  uint32_t id;            /* CUlaunchAttributeID */
  uint32_t reserved;
  uint8_t value[64];      /* CUlaunchAttributeValue bytes (pointer-free attributes only) */
} avec_launch_attr;

typedef struct avec_launch {
  uint32_t func;
  uint32_t stream;
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_mem;
  uint32_t num_attrs;     /* <= AVEC_MAX_LAUNCH_ATTRS; avec_launch_attr[num_attrs] follow, then param bytes */
  uint32_t param_bytes;   /* <= AVEC_MAX_PARAM_BYTES, laid out at the offsets GET_FUNCTION reported */
  uint32_t flags;         /* 1 = cuLaunchCooperativeKernel */
} avec_launch;

/* ---- memory pools ---- */
typedef struct avec_pool_create {
  uint32_t handle;        /* client-chosen, > AVEC_MAX_DEVICES */
  uint32_t device;        /* location: a device of this session (only device-located pinned pools are offered) */
  uint32_t handle_types;  /* CUmemAllocationHandleType; only CU_MEM_HANDLE_TYPE_NONE crosses machines */
  uint32_t reserved;
  uint64_t max_size;      /* CUmemPoolProps.maxSize (0 = no limit besides the session's) */
} avec_pool_create;

typedef struct avec_pool_attr {
  uint32_t pool;
  uint32_t attr;
  uint64_t value;
} avec_pool_attr;

/* ---- virtual memory management ---- */
typedef struct avec_vmm_prop {
  uint64_t size;          /* VMM_CREATE: bytes (a multiple of the granularity) */
  uint32_t handle;        /* VMM_CREATE: client-chosen allocation handle, non-zero */
  uint32_t device;        /* location: a device of this session */
  uint32_t handle_types;  /* requested shareable handle types: only CU_MEM_HANDLE_TYPE_NONE is offered */
  uint32_t option;        /* VMM_GRANULARITY: CUmemAllocationGranularity_flags */
  uint32_t alloc_flags;   /* compressionType | gpuDirectRDMACapable << 8 | usage << 16 */
  uint32_t reserved;
} avec_vmm_prop;

typedef struct avec_vmm_range {
  uint64_t addr;
  uint64_t size;
  uint64_t offset;        /* MAP: offset into the allocation; RESERVE: alignment */
  uint32_t handle;        /* MAP: allocation handle; SET/GET_ACCESS: device */
  uint32_t flags;         /* RESERVE: flags; SET_ACCESS: CUmemAccess_flags */
} avec_vmm_range;

/* ---- IPC ---- */
#define AVEC_IPC_HANDLE_BYTES 64u /* == CU_IPC_HANDLE_SIZE: what the client hands the program */

typedef struct avec_ipc_handle_reply {
  avec_reply_hdr r;
  uint8_t handle[AVEC_IPC_HANDLE_BYTES];
} avec_ipc_handle_reply;

typedef struct avec_ipc_open {
  uint8_t handle[AVEC_IPC_HANDLE_BYTES];
  uint32_t flags;         /* OPEN_MEM: CUipcMem_flags; OPEN_EVENT: the client's new event handle */
  uint32_t reserved;
} avec_ipc_open;

typedef struct avec_ipc_open_reply {
  avec_reply_hdr r;
  uint64_t dptr;
  uint64_t size;
} avec_ipc_open_reply;

/* ---- shareable handles (SHARE_*, POOL_*_POINTER) ---- */
#define AVEC_SHARE_VMM 1u  /* a physical allocation (cuMemExportToShareableHandle) */
#define AVEC_SHARE_POOL 2u /* a memory pool (cuMemPoolExportToShareableHandle) */
#define AVEC_POOL_PTR_DATA_BYTES 64u /* == sizeof(CUmemPoolPtrExportData): the driver's, passed through */

typedef struct avec_share_export {
  uint32_t kind;          /* AVEC_SHARE_VMM / AVEC_SHARE_POOL */
  uint32_t handle;        /* the allocation's or pool's client handle */
  uint32_t handle_type;   /* CUmemAllocationHandleType: only CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR */
  uint32_t reserved;
} avec_share_export;

typedef struct avec_share_import {
  uint8_t token[AVEC_IPC_HANDLE_BYTES]; /* what SHARE_EXPORT answered (in another session) */
  uint32_t handle;        /* client-chosen handle for the imported allocation or pool */
  uint32_t kind;          /* AVEC_SHARE_* the program expects (cuMem... or cuMemPool...ImportFromShareableHandle) */
} avec_share_import;

typedef struct avec_share_import_reply {
  avec_reply_hdr r;
  uint32_t kind;          /* AVEC_SHARE_* of the token */
  uint32_t device;        /* the device it lives on (this session's numbering) */
  uint64_t size;          /* VMM: the allocation's bytes; pool: 0 */
} avec_share_import_reply;

typedef struct avec_pool_ptr_data {
  avec_reply_hdr r;
  uint8_t data[AVEC_POOL_PTR_DATA_BYTES];
} avec_pool_ptr_data;

typedef struct avec_pool_import_ptr {
  uint8_t data[AVEC_POOL_PTR_DATA_BYTES];
  uint32_t pool;          /* an imported pool of this session */
  uint32_t reserved;
} avec_pool_import_ptr;

/* ---- private export-table calls ---- */
/* Table 21318c60 (cuBLAS): slot 51 (ctx, small integer, u64 *out) gives a context object; slot 39 (ctx,
 * that object, u64 *out) a property of it (traced: 7 on an H200). The server runs only these, only with
 * an integer or an object it handed out, and says how many bytes of *out the driver wrote. */
#define AVEC_EXPORT_TABLE_CTX 1u
#define AVEC_EXPORT_SLOT_CTX_OBJECT 51u
#define AVEC_EXPORT_SLOT_CTX_OBJECT_QUERY 39u

typedef struct avec_export_call {
  uint32_t table;   /* AVEC_EXPORT_TABLE_* */
  uint32_t slot;
  uint64_t arg;     /* the slot's second argument */
} avec_export_call;

/* ---- stream capture and graphs ---- */
#define AVEC_GRAPH_MAX_DEPS 4096u   /* node ids one request may carry */
#define AVEC_GRAPH_MAX_BODY (48u + AVEC_MAX_PARAM_BYTES) /* a kernel node: avec_launch + params */
#define AVEC_GRAPH_MAX_NODES_REPLY (1u << 20) /* GRAPH_GET_NODES answers at most this many */

typedef struct avec_graph_req {
  uint64_t graph;      /* graph id, or exec id (LAUNCH, UPLOAD, EXEC_*) */
  uint64_t node;       /* node id; EXEC_UPDATE: the graph id */
  uint64_t a;          /* flags, mode, node type: see the opcode */
  uint32_t stream;     /* wire stream handle */
  uint32_t num_deps;   /* <= AVEC_GRAPH_MAX_DEPS u64 node ids follow */
  uint32_t body_len;   /* <= AVEC_GRAPH_MAX_BODY bytes follow the ids (and their edge data) */
  uint32_t flags;      /* AVEC_GRAPH_F_* */
} avec_graph_req;
/* ADD_NODE, EDGES, BEGIN_CAPTURE: num_deps CUgraphEdgeData (8 bytes each: ports and dependency type) follow the ids */
#define AVEC_GRAPH_F_EDGES 0x1u

/* CONDITIONAL node body (ADD_NODE, a = CU_GRAPH_NODE_TYPE_CONDITIONAL); the reply is avec_u64 node id
 * followed by `size` u64 graph ids: the body graphs the driver made (they belong to the node). */
#define AVEC_GRAPH_MAX_COND_BODIES 256u
typedef struct avec_graph_cond {
  uint64_t handle;     /* from GRAPH_COND_HANDLE_CREATE */
  uint32_t type;       /* CUgraphConditionalNodeType */
  uint32_t size;       /* 1..AVEC_GRAPH_MAX_COND_BODIES */
} avec_graph_cond;

typedef struct avec_capture_info {
  avec_reply_hdr r;
  uint32_t status;     /* CUstreamCaptureStatus */
  uint32_t num_deps;   /* u64 node ids follow */
  uint64_t id;         /* capture sequence id */
  uint64_t graph;      /* graph id being captured into (0 when not capturing) */
} avec_capture_info;

typedef struct avec_graph_update_reply {
  avec_reply_hdr r;
  uint32_t result;     /* CUgraphExecUpdateResult */
  uint32_t reserved;
  uint64_t error_node; /* node id (0: none) */
  uint64_t error_from; /* node id in the exec's original graph (0: none) */
} avec_graph_update_reply;

typedef struct avec_export_reply {
  avec_reply_hdr r;
  uint64_t out;         /* what the driver wrote to *out */
  uint32_t out_bytes;   /* 4 or 8: how much of *out it wrote */
  uint32_t reserved;
  uint8_t object[16];   /* slot 51: the first bytes of the object (libraries may read its header) */
} avec_export_reply;

/* ---- JIT linking ---- */
#define AVEC_LINK_MAX_OPTIONS 64u         /* options per LINK_CREATE / LINK_ADD_DATA (CU_JIT_NUM_OPTIONS is 35) */
#define AVEC_LINK_MAX_LOG (1u << 20)      /* log buffer bytes the server keeps per link state (each log) */
#define AVEC_LINK_MAX_INPUT (256u << 20)  /* bytes of one input */
#define AVEC_LINK_MAX_STATES 64u          /* live link states per session */
#define AVEC_LINK_MAX_IMAGE (512ull << 20) /* bytes of a linked image the server hands back */

/* One CUjit_option and its value. Only options whose value is a number cross (the 8 bytes of the
 * optionValues slot, as the program wrote them); the log buffers are the server's own, of
 * min(the program's size, AVEC_LINK_MAX_LOG) bytes, and their text comes back in replies. */
typedef struct avec_jit_option {
  uint32_t option;
  uint32_t reserved;
  uint64_t value;
} avec_jit_option;

typedef struct avec_link_create {
  uint32_t handle;        /* client-chosen, non-zero */
  uint32_t num_options;   /* <= AVEC_LINK_MAX_OPTIONS */
  uint32_t info_log;      /* bytes of info log buffer wanted (0: none) */
  uint32_t error_log;     /* bytes of error log buffer wanted (0: none) */
} avec_link_create;

/* One part of an input: the first part (offset 0) carries options and name; later parts continue the
 * same input (same handle, type and size, consecutive offsets, no options or name). The input is added
 * when `size` bytes have arrived; replies to earlier parts are status only. */
typedef struct avec_link_add {
  uint32_t handle;
  uint32_t type;          /* CUjitInputType */
  uint64_t size;          /* bytes of the whole input, 1..AVEC_LINK_MAX_INPUT */
  uint64_t offset;        /* where this part's bytes go */
  uint32_t num_options;   /* <= AVEC_LINK_MAX_OPTIONS (first part only) */
  uint32_t name_len;      /* <= AVEC_MAX_NAME, no NUL (first part only) */
  uint32_t part_len;      /* data bytes in this frame, after the options and the name */
  uint32_t reserved;
} avec_link_add;

typedef struct avec_link_reply {
  avec_reply_hdr r;       /* sent with a failure too (the error log is what the program wants then) */
  uint64_t image_size;    /* LINK_COMPLETE: bytes of the linked image */
  uint32_t info_len;      /* info log bytes that follow (no NUL) */
  uint32_t error_len;     /* error log bytes that follow them */
  float wall_time;        /* CU_JIT_WALL_TIME output (ms), when the link state asked for it */
  uint32_t threads_per_block; /* CU_JIT_THREADS_PER_BLOCK output, when asked for */
} avec_link_reply;

typedef struct avec_link_read {
  uint32_t handle;
  uint32_t reserved;
  uint64_t offset;
  uint64_t len;           /* <= AVEC_CHUNK */
} avec_link_read;

/* ---- stream attributes ---- */
typedef struct avec_stream_attr {
  uint32_t stream;
  uint32_t attr;          /* CUstreamAttrID: ACCESS_POLICY_WINDOW, SYNCHRONIZATION_POLICY, PRIORITY,
                             MEM_SYNC_DOMAIN_MAP, MEM_SYNC_DOMAIN */
  uint8_t value[64];      /* CUstreamAttrValue bytes; the window's base_ptr is a device address */
} avec_stream_attr;

typedef struct avec_stream_attr_reply {
  avec_reply_hdr r;
  uint8_t value[64];
} avec_stream_attr_reply;

/* ---- CUDA arrays, texture and surface objects ---- */
typedef struct avec_array_desc {
  uint64_t width, height, depth; /* CUDA_ARRAY3D_DESCRIPTOR: elements; 0 = dimension not used */
  uint32_t format;        /* CUarray_format */
  uint32_t channels;      /* 1, 2 or 4 */
  uint32_t flags;         /* CUDA_ARRAY3D_* */
  uint32_t levels;        /* MIPMAP_CREATE: number of mipmap levels; else 0 */
} avec_array_desc;

/* How long a wait for the peer's next bytes spins before it sleeps, both ends (the shim's reply wait, the
 * executor's wait for the next frame). Over an edge link the answer comes one round trip (milliseconds)
 * later, and a thread that slept that long is woken late: ~100 us on an idle virtual machine (GPU runs
 * 27-29). So a wait spins about as long as the connection's last real wait took (a quarter more), at least
 * `base_ns` and at most `cap_ns`; after a wait longer than the cap (a peer that pauses) only `base_ns`. The
 * CUDA driver makes the same trade: by default it spins while it waits for the GPU. */
static inline long avec_spin_window_ns(long last_wait_ns, long base_ns, long cap_ns) {
  long w = last_wait_ns > cap_ns ? base_ns : last_wait_ns + last_wait_ns / 4;
  if (w < base_ns) w = base_ns;
  return w < cap_ns ? w : cap_ns;
}

/* Bytes of one channel of the CUarray_format values arrays are laid out with here (UNSIGNED/SIGNED_INT8,
 * _INT16, _INT32, HALF, FLOAT); 0 for the others (planar, block-compressed, packed normalised formats). */
static inline uint32_t avec_array_format_bytes(uint32_t format) {
  switch (format) {
    case 0x01: case 0x08: return 1;            /* CU_AD_FORMAT_UNSIGNED_INT8, SIGNED_INT8 */
    case 0x02: case 0x09: case 0x10: return 2; /* UNSIGNED_INT16, SIGNED_INT16, HALF */
    case 0x03: case 0x0a: case 0x20: return 4; /* UNSIGNED_INT32, SIGNED_INT32, FLOAT */
    default: return 0;
  }
}

typedef struct avec_array_create {
  uint32_t handle;        /* client-chosen, non-zero */
  uint32_t reserved;
  avec_array_desc desc;
} avec_array_create;

typedef struct avec_mipmap_level {
  uint32_t mipmap;        /* mipmapped array handle */
  uint32_t level;
  uint32_t handle;        /* client-chosen handle for the level's array */
  uint32_t reserved;
} avec_mipmap_level;

typedef struct avec_array_desc_reply { avec_reply_hdr r; avec_array_desc desc; } avec_array_desc_reply;

/* One 3D copy (2D: depth 1) with an array on at least one side. A side whose array handle is 0 is linear
 * device memory at `src`/`dst` (pitch bytes per row, height rows per slice) or, for HTOA/ATOH, the packed
 * host bytes of the frame or reply (rows of `width` bytes, `height` rows per slice, offsets ignored).
 * Offsets: x in bytes, y in rows, z in slices (layers of layered and cubemap arrays). */
typedef struct avec_array_copy {
  uint32_t src_array, dst_array;
  uint64_t src, dst;
  uint64_t src_pitch, dst_pitch;
  uint64_t src_height, dst_height;
  uint64_t src_x, dst_x;
  uint64_t src_y, dst_y;
  uint64_t src_z, dst_z;
  uint64_t width;         /* bytes per row */
  uint64_t height, depth; /* rows per slice, slices (>= 1) */
  uint32_t stream;        /* with AVEC_F_ASYNC */
  uint32_t reserved;
} avec_array_copy;

/* CUDA_RESOURCE_DESC with the array handles of this protocol in place of pointers. */
typedef struct avec_resource_desc {
  uint32_t type;          /* CUresourcetype */
  uint32_t handle;        /* ARRAY: array handle; MIPMAPPED_ARRAY: mipmapped array handle */
  uint64_t dptr;          /* LINEAR, PITCH2D: device address */
  uint32_t format;        /* LINEAR, PITCH2D: CUarray_format */
  uint32_t channels;
  uint64_t width;         /* LINEAR: sizeInBytes; PITCH2D: width in elements */
  uint64_t height, pitch; /* PITCH2D */
  uint32_t flags;         /* CUDA_RESOURCE_DESC.flags */
  uint32_t reserved;
} avec_resource_desc;

typedef struct avec_tex_desc { /* CUDA_TEXTURE_DESC without its reserved tail */
  uint32_t address_mode[3];
  uint32_t filter_mode;
  uint32_t flags;
  uint32_t max_anisotropy;
  uint32_t mipmap_filter_mode;
  float mipmap_level_bias, min_mipmap_level_clamp, max_mipmap_level_clamp;
  float border_color[4];
} avec_tex_desc;

typedef struct avec_view_desc { /* CUDA_RESOURCE_VIEW_DESC without its reserved tail */
  uint32_t format;
  uint32_t reserved;
  uint64_t width, height, depth;
  uint32_t first_mipmap_level, last_mipmap_level, first_layer, last_layer;
} avec_view_desc;

typedef struct avec_tex_create {
  avec_resource_desc res;
  uint32_t has_tex;       /* TEX_CREATE: 1 (tex is meaningful); SURF_CREATE: 0 */
  uint32_t has_view;      /* TEX_CREATE with a CUDA_RESOURCE_VIEW_DESC */
  avec_tex_desc tex;
  avec_view_desc view;
} avec_tex_create;

#ifdef __cplusplus
#define AVEC_STATIC_ASSERT static_assert
#else
#define AVEC_STATIC_ASSERT _Static_assert
#endif

AVEC_STATIC_ASSERT(sizeof(avec_frame_hdr) == 24, "frame header is 24 bytes");
AVEC_STATIC_ASSERT(sizeof(avec_reply_hdr) == 8, "reply header");
AVEC_STATIC_ASSERT(sizeof(avec_hello) == 80, "hello");
AVEC_STATIC_ASSERT(sizeof(avec_hello_reply) == 40, "hello reply");
AVEC_STATIC_ASSERT(sizeof(avec_hello_refusal) == 8, "hello refusal");
AVEC_STATIC_ASSERT(sizeof(avec_hello_ext) == 40, "hello ext");
AVEC_STATIC_ASSERT(sizeof(avec_stripe_join) == 48, "stripe join");
AVEC_STATIC_ASSERT(sizeof(avec_host_func) == 16, "host func");
AVEC_STATIC_ASSERT(sizeof(avec_callback) == 32, "callback");
AVEC_STATIC_ASSERT(sizeof(avec_memcpy_striped) == 24, "memcpy striped");
AVEC_STATIC_ASSERT(sizeof(avec_stripe_piece) == 16, "stripe piece");
AVEC_STATIC_ASSERT(sizeof(avec_zchunk) == 8, "zchunk");
AVEC_STATIC_ASSERT(sizeof(avec_device_info) == 304 + 4 * AVEC_DEV_ATTR_SLOTS, "device info");
AVEC_STATIC_ASSERT(sizeof(avec_mem_alloc) == 24, "mem alloc");
AVEC_STATIC_ASSERT(sizeof(avec_mirror_write) == 16, "mirror write");
AVEC_STATIC_ASSERT(sizeof(avec_memcpy2d) == 56, "memcpy2d");
AVEC_STATIC_ASSERT(sizeof(avec_memset) == 48, "memset");
AVEC_STATIC_ASSERT(sizeof(avec_module_load) == 48, "module load");
AVEC_STATIC_ASSERT(sizeof(avec_function_info) == 8 + 4 * AVEC_FUNC_ATTR_SLOTS + 8, "function info");
AVEC_STATIC_ASSERT(sizeof(avec_kernel_names) == 16, "kernel names");
AVEC_STATIC_ASSERT(sizeof(avec_kernel_names) + AVEC_MAX_KERNEL_NAME_BYTES <= AVEC_MAX_PAYLOAD, "kernel names fit a frame");
AVEC_STATIC_ASSERT(sizeof(avec_launch_attr) == 72, "launch attr");
AVEC_STATIC_ASSERT(sizeof(avec_launch) == 48, "launch");
AVEC_STATIC_ASSERT(sizeof(avec_pool_create) == 24, "pool create");
AVEC_STATIC_ASSERT(sizeof(avec_pool_attr) == 16, "pool attr");
AVEC_STATIC_ASSERT(sizeof(avec_vmm_prop) == 32, "vmm prop");
AVEC_STATIC_ASSERT(sizeof(avec_vmm_range) == 32, "vmm range");
AVEC_STATIC_ASSERT(sizeof(avec_ipc_handle_reply) == 72, "ipc handle reply");
AVEC_STATIC_ASSERT(sizeof(avec_ipc_open) == 72, "ipc open");
AVEC_STATIC_ASSERT(sizeof(avec_ipc_open_reply) == 24, "ipc open reply");
AVEC_STATIC_ASSERT(sizeof(avec_share_export) == 16, "share export");
AVEC_STATIC_ASSERT(sizeof(avec_share_import) == 72, "share import");
AVEC_STATIC_ASSERT(sizeof(avec_share_import_reply) == 24, "share import reply");
AVEC_STATIC_ASSERT(sizeof(avec_pool_ptr_data) == 72, "pool pointer export data");
AVEC_STATIC_ASSERT(sizeof(avec_pool_import_ptr) == 72, "pool pointer import");
AVEC_STATIC_ASSERT(sizeof(avec_export_call) == 16, "export call");
AVEC_STATIC_ASSERT(sizeof(avec_export_reply) == 40, "export reply");
AVEC_STATIC_ASSERT(sizeof(avec_array_desc) == 40, "array desc");
AVEC_STATIC_ASSERT(sizeof(avec_array_create) == 48, "array create");
AVEC_STATIC_ASSERT(sizeof(avec_mipmap_level) == 16, "mipmap level");
AVEC_STATIC_ASSERT(sizeof(avec_array_desc_reply) == 48, "array desc reply");
AVEC_STATIC_ASSERT(sizeof(avec_array_copy) == 136, "array copy");
AVEC_STATIC_ASSERT(sizeof(avec_resource_desc) == 56, "resource desc");
AVEC_STATIC_ASSERT(sizeof(avec_tex_desc) == 56, "tex desc");
AVEC_STATIC_ASSERT(sizeof(avec_view_desc) == 48, "view desc");
AVEC_STATIC_ASSERT(sizeof(avec_tex_create) == 168, "tex create");
AVEC_STATIC_ASSERT(sizeof(avec_graph_req) == 40, "graph request");
AVEC_STATIC_ASSERT(sizeof(avec_capture_info) == 32, "capture info");
AVEC_STATIC_ASSERT(sizeof(avec_graph_update_reply) == 32, "graph update reply");
AVEC_STATIC_ASSERT(sizeof(avec_graph_cond) == 16, "graph conditional");
AVEC_STATIC_ASSERT(sizeof(avec_jit_option) == 16, "jit option");
AVEC_STATIC_ASSERT(sizeof(avec_link_create) == 16, "link create");
AVEC_STATIC_ASSERT(sizeof(avec_link_add) == 40, "link add");
AVEC_STATIC_ASSERT(sizeof(avec_link_reply) == 32, "link reply");
AVEC_STATIC_ASSERT(sizeof(avec_link_read) == 24, "link read");
AVEC_STATIC_ASSERT(sizeof(avec_stream_attr) == 72, "stream attr");
AVEC_STATIC_ASSERT(sizeof(avec_stream_attr_reply) == 72, "stream attr reply");

#endif /* AVEC_WIRE_H */
