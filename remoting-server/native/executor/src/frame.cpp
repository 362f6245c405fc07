#include "frame.h"

namespace avec {

long frame_fixed_size(uint32_t op) {
  switch (op) {
    case AVEC_OP_HELLO: return sizeof(avec_hello);
    case AVEC_OP_GOODBYE: case AVEC_OP_PING: case AVEC_OP_CTX_SYNCHRONIZE: case AVEC_OP_MEM_GET_INFO: return 0;
    case AVEC_OP_CTX_CREATE: return sizeof(avec_ctx_create);
    case AVEC_OP_CTX_DESTROY: case AVEC_OP_STREAM_DESTROY: case AVEC_OP_STREAM_SYNCHRONIZE:
    case AVEC_OP_STREAM_QUERY: case AVEC_OP_EVENT_DESTROY: case AVEC_OP_EVENT_SYNCHRONIZE:
    case AVEC_OP_EVENT_QUERY: case AVEC_OP_MODULE_UNLOAD: case AVEC_OP_MODULE_KERNEL_NAMES: case AVEC_OP_STREAM_FENCE:
      return sizeof(avec_handle);
    case AVEC_OP_PRIMARY_CTX_RESET: case AVEC_OP_CTX_SET_CACHE_CONFIG: return sizeof(avec_u32);
    case AVEC_OP_PRIMARY_CTX_SET_FLAGS: case AVEC_OP_EVENT_ELAPSED: return sizeof(avec_u32x2);
    case AVEC_OP_CTX_SET_LIMIT: case AVEC_OP_CTX_GET_LIMIT: return sizeof(avec_limit);
    case AVEC_OP_MEM_ALLOC: case AVEC_OP_MEM_ALLOC_ASYNC: return sizeof(avec_mem_alloc);
    case AVEC_OP_MEM_FREE: return sizeof(avec_mem_free);
    case AVEC_OP_MEMCPY_HTOD: return sizeof(avec_memcpy_htod);
    case AVEC_OP_MEMCPY_DTOH: return sizeof(avec_memcpy_dtoh);
    case AVEC_OP_MEMCPY_DTOD: return sizeof(avec_memcpy_dtod);
    case AVEC_OP_MEMSET: return sizeof(avec_memset);
    case AVEC_OP_MEMCPY2D_HTOD: case AVEC_OP_MEMCPY2D_DTOH: case AVEC_OP_MEMCPY2D_DTOD: return sizeof(avec_memcpy2d);
    case AVEC_OP_STREAM_CREATE: return sizeof(avec_stream_create);
    case AVEC_OP_STREAM_WAIT_EVENT: return sizeof(avec_stream_wait);
    case AVEC_OP_EVENT_CREATE: return sizeof(avec_event_create);
    case AVEC_OP_EVENT_RECORD: return sizeof(avec_event_record);
    case AVEC_OP_MODULE_IMAGE: return sizeof(avec_module_image);
    case AVEC_OP_MODULE_LOAD: return sizeof(avec_module_load);
    case AVEC_OP_GET_FUNCTION: case AVEC_OP_GET_GLOBAL: return sizeof(avec_get_symbol);
    case AVEC_OP_FUNC_SET_ATTRIBUTE: case AVEC_OP_FUNC_SET_CACHE_CONFIG: return sizeof(avec_func_attr);
    case AVEC_OP_OCCUPANCY: return sizeof(avec_occupancy);
    case AVEC_OP_LAUNCH: return sizeof(avec_launch);
    case AVEC_OP_POOL_CREATE: return sizeof(avec_pool_create);
    case AVEC_OP_POOL_DESTROY: case AVEC_OP_VMM_RELEASE: case AVEC_OP_VMM_RETAIN: case AVEC_OP_IPC_GET_EVENT:
      return sizeof(avec_handle);
    case AVEC_OP_POOL_SET_ATTR: case AVEC_OP_POOL_GET_ATTR: case AVEC_OP_POOL_TRIM: case AVEC_OP_POOL_SET_ACCESS:
    case AVEC_OP_POOL_GET_ACCESS: return sizeof(avec_pool_attr);
    case AVEC_OP_DEVICE_SET_MEM_POOL: return sizeof(avec_u32x2);
    case AVEC_OP_VMM_GRANULARITY: case AVEC_OP_VMM_CREATE: return sizeof(avec_vmm_prop);
    case AVEC_OP_VMM_RESERVE: case AVEC_OP_VMM_ADDRESS_FREE: case AVEC_OP_VMM_MAP: case AVEC_OP_VMM_UNMAP:
    case AVEC_OP_VMM_SET_ACCESS: case AVEC_OP_VMM_GET_ACCESS: return sizeof(avec_vmm_range);
    case AVEC_OP_IPC_GET_MEM: case AVEC_OP_IPC_CLOSE_MEM: return sizeof(avec_u64);
    case AVEC_OP_IPC_OPEN_MEM: case AVEC_OP_IPC_OPEN_EVENT: return sizeof(avec_ipc_open);
    case AVEC_OP_SHARE_EXPORT: return sizeof(avec_share_export);
    case AVEC_OP_SHARE_IMPORT: return sizeof(avec_share_import);
    case AVEC_OP_POOL_EXPORT_POINTER: return sizeof(avec_u64);
    case AVEC_OP_POOL_IMPORT_POINTER: return sizeof(avec_pool_import_ptr);
    case AVEC_OP_EXPORT_CALL: return sizeof(avec_export_call);
    case AVEC_OP_ARRAY_CREATE: case AVEC_OP_MIPMAP_CREATE: return sizeof(avec_array_create);
    case AVEC_OP_ARRAY_DESTROY: case AVEC_OP_MIPMAP_DESTROY: return sizeof(avec_handle);
    case AVEC_OP_MIPMAP_GET_LEVEL: return sizeof(avec_mipmap_level);
    case AVEC_OP_MEMCPY_HTOA: case AVEC_OP_MEMCPY_ATOH: case AVEC_OP_MEMCPY_ARRAY: return sizeof(avec_array_copy);
    case AVEC_OP_TEX_CREATE: case AVEC_OP_SURF_CREATE: return sizeof(avec_tex_create);
    case AVEC_OP_TEX_DESTROY: case AVEC_OP_SURF_DESTROY: return sizeof(avec_u64);
    case AVEC_OP_STRIPE_ATTACH: return sizeof(avec_stripe_attach);
    case AVEC_OP_MEMCPY_HTOD_STRIPED: case AVEC_OP_MEMCPY_DTOH_STRIPED: return sizeof(avec_memcpy_striped);
    case AVEC_OP_MEMCPY_HTOD_Z: return sizeof(avec_memcpy_htod);
    case AVEC_OP_LINK_CREATE: return sizeof(avec_link_create);
    case AVEC_OP_LINK_ADD_DATA: return sizeof(avec_link_add);
    case AVEC_OP_LINK_COMPLETE: case AVEC_OP_LINK_DESTROY: return sizeof(avec_handle);
    case AVEC_OP_LINK_READ: return sizeof(avec_link_read);
    case AVEC_OP_STREAM_SET_ATTR: case AVEC_OP_STREAM_GET_ATTR: return sizeof(avec_stream_attr);
    case AVEC_OP_STREAM_COPY_ATTR: return sizeof(avec_u32x2);
    case AVEC_OP_CTX_RESET_PERSISTING_L2: case AVEC_OP_CALLBACK_ATTACH: return 0;
    case AVEC_OP_HOST_FUNC: return sizeof(avec_host_func);
    case AVEC_OP_GRAPH_MEM_GET_ATTR: case AVEC_OP_GRAPH_MEM_RESET_HIGH: return sizeof(avec_u32x2);
    case AVEC_OP_GRAPH_MEM_TRIM: return sizeof(avec_u32);
    case AVEC_OP_MIRROR_WRITE_NOW: case AVEC_OP_MIRROR_ZERO_NOW: return sizeof(avec_mirror_write);
    default:
      return frame_is_graph_op(op) ? (long)sizeof(avec_graph_req) : -1;
  }
}

bool frame_has_tail(uint32_t op) {
  return op == AVEC_OP_HELLO || op == AVEC_OP_MEMCPY_HTOD || op == AVEC_OP_MEMCPY2D_HTOD ||
         op == AVEC_OP_MODULE_IMAGE || op == AVEC_OP_GET_FUNCTION || op == AVEC_OP_GET_GLOBAL || op == AVEC_OP_LAUNCH ||
         op == AVEC_OP_MEMCPY_HTOA ||
         frame_is_graph_op(op) || op == AVEC_OP_MEMCPY_HTOD_Z || op == AVEC_OP_LINK_CREATE ||
         op == AVEC_OP_LINK_ADD_DATA || op == AVEC_OP_MIRROR_WRITE_NOW;
}

const char* opcode_name(uint32_t op) {
  switch (op) {
#define N(x) case AVEC_OP_##x: return #x;
    N(HELLO) N(GOODBYE) N(PING) N(CTX_CREATE) N(CTX_DESTROY) N(CTX_SYNCHRONIZE) N(PRIMARY_CTX_RESET)
    N(PRIMARY_CTX_SET_FLAGS) N(CTX_SET_LIMIT) N(CTX_GET_LIMIT) N(CTX_SET_CACHE_CONFIG) N(MEM_ALLOC) N(MEM_FREE)
    N(MEM_GET_INFO) N(MEMCPY_HTOD) N(MEMCPY_DTOH) N(MEMCPY_DTOD) N(MEMSET) N(MEMCPY2D_HTOD) N(MEMCPY2D_DTOH)
    N(MEMCPY2D_DTOD) N(MEM_ALLOC_ASYNC) N(STREAM_CREATE) N(STREAM_DESTROY) N(STREAM_SYNCHRONIZE) N(STREAM_QUERY)
    N(STREAM_WAIT_EVENT) N(EVENT_CREATE) N(EVENT_DESTROY) N(EVENT_RECORD) N(EVENT_SYNCHRONIZE) N(EVENT_QUERY)
    N(EVENT_ELAPSED) N(MODULE_IMAGE) N(MODULE_LOAD) N(MODULE_UNLOAD) N(GET_FUNCTION) N(GET_GLOBAL)
    N(FUNC_SET_ATTRIBUTE) N(FUNC_SET_CACHE_CONFIG) N(OCCUPANCY) N(LAUNCH) N(POOL_CREATE) N(POOL_DESTROY)
    N(POOL_SET_ATTR) N(POOL_GET_ATTR) N(POOL_TRIM) N(POOL_SET_ACCESS) N(POOL_GET_ACCESS) N(DEVICE_SET_MEM_POOL)
    N(VMM_GRANULARITY) N(VMM_CREATE) N(VMM_RELEASE) N(VMM_RETAIN) N(VMM_RESERVE) N(VMM_ADDRESS_FREE) N(VMM_MAP)
    N(VMM_UNMAP) N(VMM_SET_ACCESS) N(VMM_GET_ACCESS) N(IPC_GET_MEM) N(IPC_OPEN_MEM) N(IPC_CLOSE_MEM)
    N(IPC_GET_EVENT) N(IPC_OPEN_EVENT) N(SHARE_EXPORT) N(SHARE_IMPORT) N(POOL_EXPORT_POINTER)
    N(POOL_IMPORT_POINTER) N(EXPORT_CALL) N(ARRAY_CREATE) N(ARRAY_DESTROY) N(MIPMAP_CREATE)
    N(MIPMAP_DESTROY) N(MIPMAP_GET_LEVEL) N(MEMCPY_HTOA) N(MEMCPY_ATOH) N(MEMCPY_ARRAY) N(TEX_CREATE) N(TEX_DESTROY)
    N(SURF_CREATE) N(SURF_DESTROY)
    N(GRAPH_CREATE) N(GRAPH_DESTROY) N(GRAPH_ADD_NODE)
    N(GRAPH_INSTANTIATE) N(GRAPH_LAUNCH) N(GRAPH_UPLOAD) N(GRAPH_EXEC_DESTROY) N(GRAPH_EXEC_UPDATE)
    N(GRAPH_EXEC_SET_PARAMS) N(GRAPH_NODE_SET_PARAMS) N(STREAM_BEGIN_CAPTURE) N(STREAM_END_CAPTURE)
    N(STREAM_CAPTURE_INFO) N(GRAPH_CLONE) N(GRAPH_GET_NODES) N(CAPTURE_MODE) N(GRAPH_NODE_GET_TYPE)
    N(STREAM_UPDATE_CAPTURE_DEPS) N(GRAPH_DEBUG_DOT) N(GRAPH_EDGES) N(GRAPH_DESTROY_NODE) N(GRAPH_NODE_ENABLE)
    N(STRIPE_ATTACH) N(MEMCPY_HTOD_STRIPED)
    N(MEMCPY_DTOH_STRIPED) N(MEMCPY_HTOD_Z) N(LINK_CREATE) N(LINK_ADD_DATA) N(LINK_COMPLETE) N(LINK_READ)
    N(LINK_DESTROY) N(STREAM_SET_ATTR) N(STREAM_GET_ATTR) N(STREAM_COPY_ATTR) N(CTX_RESET_PERSISTING_L2)
    N(GRAPH_COND_HANDLE_CREATE) N(GRAPH_MEM_GET_ATTR) N(GRAPH_MEM_RESET_HIGH) N(GRAPH_MEM_TRIM)
    N(CALLBACK_ATTACH) N(HOST_FUNC) N(CALLBACK) N(CALLBACK_REPLY) N(MODULE_KERNEL_NAMES) N(STREAM_FENCE)
    N(MIRROR_WRITE_NOW)
    N(MIRROR_ZERO_NOW)
    N(DEVICE_OUTPUT)  // server to client only: frame_fixed_size knows it not, so a client's is a bad frame
#undef N
    default: return "UNKNOWN";
  }
}

namespace {
Decode bad(FrameView* v, const char* why) {
  v->error = why;
  return Decode::bad;
}

// Checks the variable tail against the counts in the fixed struct. Only header and fixed-struct values
// are used, so the check also works before the tail bytes have arrived (partial mode).
const char* check_tail(uint32_t op, const uint8_t* fixed, uint32_t tail_len, const uint8_t* tail, bool tail_present) {
  switch (op) {
    case AVEC_OP_HELLO: {
      avec_hello h;
      memcpy(&h, fixed, sizeof h);
      if (h.ticket_len > AVEC_MAX_TICKET) return "hello ticket too long";
      if (tail_len != h.ticket_len) return "hello length does not match ticket_len";
      if (!memchr(h.client_host, 0, sizeof h.client_host)) return "hello client_host not NUL-terminated";
      return nullptr;
    }
    case AVEC_OP_MEMCPY_HTOD:
      return nullptr;  // any number of data bytes (the frame size bounds it)
    case AVEC_OP_MEMCPY_HTOD_Z: {
      if (tail_len < sizeof(avec_zchunk)) return "compressed chunk without its avec_zchunk";
      if (!tail_present) return nullptr;
      avec_zchunk z;
      memcpy(&z, tail, sizeof z);
      if (avec_zchunk_check(&z, tail_len - sizeof z)) return "compressed chunk: bad codec or length";
      return nullptr;
    }
    case AVEC_OP_MIRROR_WRITE_NOW: {
      avec_mirror_write m;
      memcpy(&m, fixed, sizeof m);
      if (m.size == 0 || m.size > AVEC_MIRROR_WRITE_MAX) return "mirror write size out of range";
      if (m.size != tail_len) return "mirror write length does not match size";
      return nullptr;
    }
    case AVEC_OP_MEMCPY_HTOD_STRIPED: {
      avec_memcpy_striped m;
      memcpy(&m, fixed, sizeof m);
      if (m.size == 0 || m.size > AVEC_CHUNK) return "striped chunk size out of range";
      return nullptr;
    }
    case AVEC_OP_MEMCPY2D_HTOD: {
      avec_memcpy2d m;
      memcpy(&m, fixed, sizeof m);
      uint64_t total;
      if (__builtin_mul_overflow(m.width, m.height, &total)) return "2d copy size overflows";
      if (total != tail_len) return "2d copy data length is not width*height";
      return nullptr;
    }
    case AVEC_OP_MEMCPY_HTOA: {
      avec_array_copy m;
      memcpy(&m, fixed, sizeof m);
      uint64_t rows, total;
      if (__builtin_mul_overflow(m.height, m.depth, &rows) || __builtin_mul_overflow(m.width, rows, &total))
        return "array copy size overflows";
      if (total != tail_len) return "array copy data length is not width*height*depth";
      return nullptr;
    }
    case AVEC_OP_MODULE_IMAGE: {
      avec_module_image m;
      memcpy(&m, fixed, sizeof m);
      if (m.size == 0) return "module image of size 0";
      if (tail_len == 0) return "module image frame without data";
      if (tail_len > m.size) return "module image frame longer than the image";
      return nullptr;
    }
    case AVEC_OP_GET_FUNCTION:
    case AVEC_OP_GET_GLOBAL: {
      avec_get_symbol s;
      memcpy(&s, fixed, sizeof s);
      if (s.name_len == 0 || s.name_len > AVEC_MAX_NAME) return "symbol name length out of range";
      if (tail_len != s.name_len) return "symbol frame length does not match name_len";
      if (tail_present && memchr(tail, 0, tail_len)) return "symbol name contains NUL";
      return nullptr;
    }
    case AVEC_OP_LAUNCH: {
      avec_launch l;
      memcpy(&l, fixed, sizeof l);
      if (l.num_attrs > AVEC_MAX_LAUNCH_ATTRS) return "too many launch attributes";
      if (l.param_bytes > AVEC_MAX_PARAM_BYTES) return "launch parameter block too large";
      if ((uint64_t)l.num_attrs * sizeof(avec_launch_attr) + l.param_bytes != tail_len)
        return "launch length does not match num_attrs and param_bytes";
      return nullptr;
    }
    case AVEC_OP_LINK_CREATE: {
      avec_link_create c;
      memcpy(&c, fixed, sizeof c);
      if (c.handle == 0) return "link state handle 0";
      if (c.num_options > AVEC_LINK_MAX_OPTIONS) return "too many JIT options";
      if (c.info_log > AVEC_LINK_MAX_LOG || c.error_log > AVEC_LINK_MAX_LOG) return "JIT log buffer too large";
      if ((uint64_t)c.num_options * sizeof(avec_jit_option) != tail_len) return "link create length does not match num_options";
      return nullptr;
    }
    case AVEC_OP_LINK_ADD_DATA: {
      avec_link_add a;
      memcpy(&a, fixed, sizeof a);
      uint64_t end;
      if (a.size == 0 || a.size > AVEC_LINK_MAX_INPUT) return "link input size out of range";
      if (a.part_len == 0 || __builtin_add_overflow(a.offset, (uint64_t)a.part_len, &end) || end > a.size)
        return "link input part outside the input";
      if (a.num_options > AVEC_LINK_MAX_OPTIONS) return "too many JIT options";
      if (a.name_len > AVEC_MAX_NAME) return "link input name too long";
      if (a.offset != 0 && (a.num_options || a.name_len)) return "options or name after the first part";
      uint64_t opts = (uint64_t)a.num_options * sizeof(avec_jit_option);
      if (opts + a.name_len + a.part_len != tail_len) return "link input length does not match its counts";
      if (tail_present && a.name_len && memchr(tail + opts, 0, a.name_len)) return "link input name contains NUL";
      return nullptr;
    }
    case AVEC_OP_LINK_READ: {
      avec_link_read r;
      memcpy(&r, fixed, sizeof r);
      if (r.len == 0 || r.len > AVEC_CHUNK) return "link read length out of range";
      return nullptr;
    }
    default:
      if (frame_is_graph_op(op)) {
        avec_graph_req g;
        memcpy(&g, fixed, sizeof g);
        if (g.num_deps > AVEC_GRAPH_MAX_DEPS) return "too many graph node ids";
        if (g.body_len > AVEC_GRAPH_MAX_BODY) return "graph node parameters too large";
        if (g.flags & ~AVEC_GRAPH_F_EDGES) return "unknown graph request flags";
        uint64_t ids = (uint64_t)g.num_deps * ((g.flags & AVEC_GRAPH_F_EDGES) ? 16 : 8);
        if (ids + g.body_len != tail_len) return "graph length does not match num_deps, edges and body_len";
        return nullptr;
      }
      return tail_len ? "payload longer than the opcode's struct" : nullptr;
  }
}
}  // namespace

Decode frame_decode(const uint8_t* p, size_t n, FrameView* v, bool partial_data, size_t* want) {
  memset(v, 0, sizeof *v);
  if (want) *want = 0;
  if (n < sizeof(avec_frame_hdr)) {
    if (want) *want = sizeof(avec_frame_hdr);
    return Decode::need_more;
  }
  memcpy(&v->hdr, p, sizeof v->hdr);
  const avec_frame_hdr& h = v->hdr;
  if (h.magic != AVEC_WIRE_MAGIC) return bad(v, "bad magic");
  if (h.version != AVEC_WIRE_VERSION) return bad(v, "unsupported wire version");
  if (h.payload_len > AVEC_MAX_PAYLOAD) return bad(v, "payload too large");
  uint32_t allowed = AVEC_F_ASYNC | (h.opcode == AVEC_OP_MEMCPY_DTOH ? AVEC_F_COMPRESS : 0u);
  if (h.flags & ~allowed) return bad(v, "client frame with reply or unknown flags");
  long fixed = frame_fixed_size(h.opcode);
  if (fixed < 0) return bad(v, "unknown opcode");
  if (h.payload_len < (uint32_t)fixed) return bad(v, "payload shorter than the opcode's struct");
  if (!frame_has_tail(h.opcode) && h.payload_len != (uint32_t)fixed) return bad(v, "payload longer than the opcode's struct");
  v->frame_len = sizeof(avec_frame_hdr) + h.payload_len;
  v->payload = p + sizeof(avec_frame_hdr);
  v->fixed_len = (uint32_t)fixed;
  v->tail_len = h.payload_len - (uint32_t)fixed;
  // Only linear H2D chunks are read straight into staging memory by the session loop; a 2D chunk is
  // buffered whole (its fixed struct differs, and its rows are scattered by pitch anyway).
  bool staged = partial_data && h.opcode == AVEC_OP_MEMCPY_HTOD;
  size_t need = staged ? sizeof(avec_frame_hdr) + (size_t)fixed : v->frame_len;
  if (n < need) {
    if (want) *want = need;
    return Decode::need_more;
  }
  bool tail_present = n >= v->frame_len;
  v->tail = v->payload + fixed;
  v->tail_pending = !tail_present;
  const char* why = check_tail(h.opcode, v->payload, v->tail_len, v->tail, tail_present);
  if (why) return bad(v, why);
  return Decode::ok;
}

const char* stripe_join_decode(const uint8_t* tail, size_t len, avec_stripe_join* out) {
  memset(out, 0, sizeof *out);
  if (len != sizeof(avec_stripe_join)) return "stripe join of the wrong length";
  memcpy(out, tail, sizeof *out);
  if (out->index >= AVEC_MAX_STRIPES && out->index != AVEC_JOIN_CALLBACKS) return "stripe index out of range";
  if (out->session_id == 0) return "stripe join without a session id";
  return nullptr;
}

}  // namespace avec
