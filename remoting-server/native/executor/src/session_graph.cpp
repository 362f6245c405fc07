// Stream capture and CUDA graphs. Capture runs on the backend's real stream (the work the client sends to
// a capturing stream becomes nodes there), so replaying a graph is one GRAPH_LAUNCH frame. The client
// sees graphs, nodes and executable graphs as ids this session hands out; every id in a request is looked
// up in the session's own tables, and every device range a node names must lie in the session's memory.
// Host memory cannot take part (it is on the client's machine): host copies into or out of a capturing
// stream are refused with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED. Host nodes name the client's host
// function by an opaque id; the callback channel runs it there (callbacks.h).
#include <cstring>

#include "log.h"
#include "session.h"

namespace avec {

namespace {
struct Req {
  avec_graph_req g;
  std::vector<uint64_t> ids;    // num_deps node ids
  std::vector<uint64_t> edges;  // with AVEC_GRAPH_F_EDGES: their CUgraphEdgeData, 8 bytes each
  const uint8_t* body;
};
Req parse(const FrameView& v) {  // lengths were checked when the frame was decoded (frame.cpp)
  Req q;
  q.g = v.fixed<avec_graph_req>();
  q.ids.resize(q.g.num_deps);
  if (q.g.num_deps) memcpy(q.ids.data(), v.tail, (size_t)q.g.num_deps * 8);
  const uint8_t* p = v.tail + (size_t)q.g.num_deps * 8;
  if (q.g.flags & AVEC_GRAPH_F_EDGES) {
    q.edges.resize(q.g.num_deps);
    if (q.g.num_deps) memcpy(q.edges.data(), p, (size_t)q.g.num_deps * 8);
    p += (size_t)q.g.num_deps * 8;
  }
  q.body = p;
  return q;
}
}  // namespace

uint32_t Session::graph_of(uint64_t id, BH* out) const {
  auto it = graphs_.find(id);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  *out = it->second;
  return CUDA_SUCCESS;
}
uint32_t Session::node_of(uint64_t id, BH* out) const {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return CUDA_ERROR_INVALID_VALUE;
  *out = it->second.be;
  return CUDA_SUCCESS;
}
uint32_t Session::exec_of(uint64_t id, BH* out) const {
  auto it = execs_.find(id);
  if (it == execs_.end()) return CUDA_ERROR_INVALID_VALUE;
  *out = it->second;
  return CUDA_SUCCESS;
}

uint64_t Session::node_id(BH be, uint64_t graph) {
  auto it = node_ids_.find(be);
  if (it != node_ids_.end()) return it->second;
  uint64_t id = next_graph_id_++;
  nodes_[id] = GraphNodeEntry{be, graph};
  node_ids_[be] = id;
  return id;
}

uint64_t Session::graph_id(BH be) {
  auto it = graph_ids_.find(be);
  if (it != graph_ids_.end()) return it->second;
  uint64_t id = next_graph_id_++;
  graphs_[id] = be;
  graph_ids_[be] = id;
  return id;
}

// A graph leaves the tables with its nodes, the body graphs of its conditional nodes (recursively) and
// the conditional handles made for it.
void Session::forget_graph(uint64_t id) {
  auto g = graphs_.find(id);
  if (g != graphs_.end()) {
    graph_ids_.erase(g->second);
    graphs_.erase(g);
  }
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.graph != id) { ++it; continue; }
    node_ids_.erase(it->second.be);
    it = nodes_.erase(it);
  }
  for (auto it = cond_handles_.begin(); it != cond_handles_.end();)
    it = it->second == id ? cond_handles_.erase(it) : std::next(it);
  std::vector<uint64_t> owned;
  for (auto it = bodies_.begin(); it != bodies_.end();) {
    if (it->second.graph == id) { owned.push_back(it->first); it = bodies_.erase(it); } else ++it;
  }
  for (uint64_t b : owned) forget_graph(b);
}

// A node's parameters from the wire (docs/protocol.md, "Graphs"), with every handle and range checked.
uint32_t Session::graph_node_spec(uint32_t type, const uint8_t* body, uint32_t len, GraphNodeSpec* sp) {
  sp->type = type;
  switch (type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
      avec_launch l;
      if (len < sizeof l) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&l, body, sizeof l);
      if (l.num_attrs != 0 || l.param_bytes > AVEC_MAX_PARAM_BYTES || sizeof l + l.param_bytes != len)
        return CUDA_ERROR_INVALID_VALUE;
      avec_launch_attr none[1];
      return launch_args(l, body + sizeof l, &sp->launch, none);
    }
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      avec_memset& m = sp->memset;
      if (len != sizeof m) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&m, body, sizeof m);
      uint64_t row;
      if ((m.elem_size != 1 && m.elem_size != 2 && m.elem_size != 4) ||
          __builtin_mul_overflow(m.width, (uint64_t)m.elem_size, &row) || row == 0 || m.height == 0)
        return CUDA_ERROR_INVALID_VALUE;
      bool ok = m.height == 1 ? range_ok(m.dst, row) : allocs_.contains_2d(m.dst, m.pitch, row, m.height);
      return ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY: {
      avec_memcpy2d& c = sp->copy;
      if (len != sizeof c) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&c, body, sizeof c);
      if (c.width == 0 || c.height == 0 || !allocs_.contains_2d(c.dst, c.dst_pitch, c.width, c.height) ||
          !allocs_.contains_2d(c.src, c.src_pitch, c.width, c.height))
        return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_EMPTY:
      return len == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
    case CU_GRAPH_NODE_TYPE_GRAPH: {
      avec_u64 child;
      if (len != sizeof child) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&child, body, sizeof child);
      return graph_of(child.value, &sp->child);
    }
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT: {
      avec_handle e;
      if (len != sizeof e) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&e, body, sizeof e);
      return event(e.handle, &sp->event) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {  // must fit now; charged as the device backs it (refresh_pool_reserved)
      avec_u64 size;
      if (len != sizeof size) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&size, body, sizeof size);
      if (size.value == 0) return CUDA_ERROR_INVALID_VALUE;
      if (!allocs_.fits(size.value)) return CUDA_ERROR_OUT_OF_MEMORY;
      sp->alloc_size = size.value;
      return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE: {
      avec_u64 p;
      if (len != sizeof p) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&p, body, sizeof p);
      const Alloc* a = allocs_.find_exact(p.value);
      if (!a || a->kind != AllocKind::graph) return CUDA_ERROR_INVALID_VALUE;
      sp->free_dptr = p.value;
      return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_CONDITIONAL: {  // only when adding a node (its body graphs come back)
      avec_graph_cond& c = sp->cond;
      if (len != sizeof c) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&c, body, sizeof c);
      if (c.size == 0 || c.size > AVEC_GRAPH_MAX_COND_BODIES || !cond_handles_.count(c.handle))
        return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    }
    case CU_GRAPH_NODE_TYPE_HOST: {  // the client's host function, run through the callback channel
      avec_u64 id;
      if (len != sizeof id) return CUDA_ERROR_INVALID_VALUE;
      memcpy(&id, body, sizeof id);
      if (!callbacks_.attached()) return CUDA_ERROR_NOT_SUPPORTED;
      if (id.value == 0) return CUDA_ERROR_INVALID_VALUE;
      sp->host_fn = id.value;
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

// ADD_NODE of a conditional node: the reply is the node id and then the ids of the body graphs the driver
// made, which the client may fill (they are graphs of this session, owned by the node).
bool Session::graph_add_conditional(const avec_frame_hdr& h, const avec_graph_req& g, const std::vector<BH>& deps,
                                    const std::vector<uint64_t>& edges, const GraphNodeSpec& sp, uint32_t* r) {
  BH gb = 0, node = 0;
  std::vector<BH> bodies;
  if ((*r = graph_of(g.graph, &gb)) ||
      (*r = be_.graph_add_conditional(gb, deps, edges, sp.cond, &node, &bodies)))
    return false;
  if (bodies.size() != sp.cond.size) {  // the backend must make exactly `size` of them
    be_.graph_destroy_node(node);
    *r = CUDA_ERROR_UNKNOWN;
    return false;
  }
  std::vector<uint64_t> ids;
  ids.push_back(node_id(node, g.graph));
  for (BH b : bodies) {
    uint64_t id = graph_id(b);
    bodies_[id] = BodyOwner{g.graph, ids[0]};
    ids.push_back(id);
  }
  avec_reply_hdr rh = {CUDA_SUCCESS, 0};
  return reply(h, &rh, sizeof rh, ids.data(), ids.size() * 8);
}

bool Session::graph_sync(const FrameView& v, uint32_t* rp) {
  const avec_frame_hdr& h = v.hdr;
  uint32_t& r = *rp;
  if (!frame_is_graph_op(h.opcode)) {
    r = CUDA_ERROR_NOT_SUPPORTED;
    return false;
  }
  Req q = parse(v);
  const avec_graph_req& g = q.g;
  bool creates = h.opcode == AVEC_OP_GRAPH_CREATE || h.opcode == AVEC_OP_GRAPH_ADD_NODE ||
                 h.opcode == AVEC_OP_GRAPH_INSTANTIATE || h.opcode == AVEC_OP_GRAPH_CLONE ||
                 h.opcode == AVEC_OP_STREAM_END_CAPTURE || h.opcode == AVEC_OP_GRAPH_COND_HANDLE_CREATE;
  if (creates && table_full("graph objects", graphs_.size() + nodes_.size() + execs_.size() + cond_handles_.size())) {
    r = CUDA_ERROR_OUT_OF_MEMORY;
    return false;
  }
  std::vector<BH> deps(q.ids.size());
  for (size_t i = 0; i < q.ids.size(); i++)
    if ((r = node_of(q.ids[i], &deps[i]))) return false;
  BH gb = 0, s = 0;
  switch (h.opcode) {
    case AVEC_OP_GRAPH_CREATE:
      if ((r = be_.graph_create((uint32_t)g.a, &gb))) return false;
      return reply_u64(h, graph_id(gb));
    case AVEC_OP_GRAPH_COND_HANDLE_CREATE: {  // a = default launch value, node = flags
      uint64_t handle = 0;
      if ((r = graph_of(g.graph, &gb))) return false;
      if (g.a > 0xffffffffu || g.node > 0xffffffffu) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if ((r = be_.graph_cond_handle_create(gb, (uint32_t)g.a, (uint32_t)g.node, &handle))) return false;
      cond_handles_[handle] = g.graph;
      return reply_u64(h, handle);
    }
    case AVEC_OP_GRAPH_CLONE: {
      BH out = 0;
      if ((r = graph_of(g.graph, &gb)) || (r = be_.graph_clone(gb, &out))) return false;
      return reply_u64(h, graph_id(out));
    }
    case AVEC_OP_GRAPH_ADD_NODE: {
      GraphNodeSpec sp;
      BH node = 0;
      if ((r = graph_of(g.graph, &gb)) || (r = graph_node_spec((uint32_t)g.a, q.body, g.body_len, &sp))) return false;
      for (size_t i = 0; i < q.ids.size(); i++)
        if (nodes_[q.ids[i]].graph != g.graph) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      if (sp.type == CU_GRAPH_NODE_TYPE_CONDITIONAL) return graph_add_conditional(h, g, deps, q.edges, sp, &r);
      uint64_t dptr = 0;
      sp.alloc_dptr = &dptr;
      if ((r = be_.graph_add_node(gb, deps, q.edges, sp, &node))) return false;
      uint64_t id = node_id(node, g.graph);
      if (sp.type != CU_GRAPH_NODE_TYPE_MEM_ALLOC) return reply_u64(h, id);
      note_graph_alloc(dptr, sp.alloc_size, g.graph, h.ctx);  // device work may name it from now on
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      uint64_t out[2] = {id, dptr};
      return reply(h, &rh, sizeof rh, out, sizeof out);
    }
    case AVEC_OP_GRAPH_INSTANTIATE: {
      BH exec = 0;
      if ((r = graph_of(g.graph, &gb))) return false;
      if ((g.a & CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) && (r = stream(g.stream, &s))) return false;
      if ((r = be_.graph_instantiate(gb, g.a, s, &exec))) return false;
      uint64_t id = next_graph_id_++;
      execs_[id] = exec;
      return reply_u64(h, id);
    }
    case AVEC_OP_GRAPH_EXEC_UPDATE: {
      BH exec = 0, err_node = 0, err_from = 0;
      if ((r = exec_of(g.graph, &exec)) || (r = graph_of(g.node, &gb))) return false;
      avec_graph_update_reply out = {};
      r = be_.graph_exec_update(exec, gb, &out.result, &err_node, &err_from);
      out.r.status = r;
      out.error_node = err_node ? node_id(err_node, g.node) : 0;
      auto from = node_ids_.find(err_from);
      out.error_from = from == node_ids_.end() ? 0 : from->second;
      errs_.record_sync(r);
      return reply(h, &out, sizeof out);
    }
    case AVEC_OP_STREAM_BEGIN_CAPTURE:  // graph != 0: into that graph, after the given nodes
      if ((r = stream(g.stream, &s)) || (g.graph && (r = graph_of(g.graph, &gb)))) return false;
      for (size_t i = 0; i < q.ids.size(); i++)
        if (nodes_[q.ids[i]].graph != g.graph) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      r = be_.capture_begin(s, (uint32_t)g.a, gb, deps, q.edges);
      if (!r) captures_++;
      return false;
    case AVEC_OP_STREAM_END_CAPTURE: {
      if ((r = stream(g.stream, &s))) return false;
      r = be_.capture_end(s, &gb);
      if (captures_ && !be_.capturing(s)) captures_--;  // invalidated captures end here too
      if (r) return false;
      uint64_t id = graph_id(gb);
      std::vector<BH> all;  // the captured nodes become known (their graph owns them)
      if (be_.graph_nodes(gb, false, &all) == CUDA_SUCCESS)
        for (BH n : all) node_id(n, id);
      return reply_u64(h, id);
    }
    case AVEC_OP_STREAM_CAPTURE_INFO: {
      if ((r = stream(g.stream, &s))) return false;
      CaptureInfo ci;
      if ((r = be_.capture_info(s, &ci))) return false;
      avec_capture_info out = {};
      out.status = ci.status;
      out.id = ci.id;
      out.graph = ci.graph ? graph_id(ci.graph) : 0;
      std::vector<uint64_t> ids;
      for (size_t i = 0; i < ci.deps.size() && i < AVEC_GRAPH_MAX_DEPS; i++) ids.push_back(node_id(ci.deps[i], out.graph));
      out.num_deps = (uint32_t)ids.size();
      return reply(h, &out, sizeof out, ids.data(), ids.size() * 8);
    }
    case AVEC_OP_STREAM_UPDATE_CAPTURE_DEPS:
      if ((r = stream(g.stream, &s))) return false;
      r = be_.capture_update_deps(s, deps, (uint32_t)g.a);
      return false;
    case AVEC_OP_CAPTURE_MODE: {
      uint32_t mode = (uint32_t)g.a;
      if ((r = be_.capture_exchange_mode(&mode))) return false;
      return reply_u64(h, mode);
    }
    case AVEC_OP_GRAPH_GET_NODES: {
      std::vector<BH> all;
      if ((r = graph_of(g.graph, &gb)) || (r = be_.graph_nodes(gb, g.a == 1, &all))) return false;
      if (all.size() > AVEC_GRAPH_MAX_NODES_REPLY) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }  // the client's cap
      std::vector<uint64_t> ids;
      ids.push_back(all.size());
      for (BH n : all) ids.push_back(node_id(n, g.graph));
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      return reply(h, &rh, sizeof rh, ids.data(), ids.size() * 8);
    }
    case AVEC_OP_GRAPH_NODE_GET_TYPE: {
      BH n = 0;
      uint32_t type = 0;
      if ((r = node_of(g.node, &n)) || (r = be_.graph_node_type(n, &type))) return false;
      if (g.a != 1) return reply_u64(h, type);
      uint64_t out[2] = {type, 0};  // a = 1: and the host function id of a host node
      if (type == CU_GRAPH_NODE_TYPE_HOST && (r = be_.graph_host_node_id(n, &out[1]))) return false;
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      return reply(h, &rh, sizeof rh, out, sizeof out);
    }
    case AVEC_OP_GRAPH_DEBUG_DOT: {
      std::string dot;
      if ((r = graph_of(g.graph, &gb)) || (r = be_.graph_dot(gb, (uint32_t)g.a, &dot))) return false;
      if (dot.size() > (4u << 20)) dot.resize(4u << 20);
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      return reply(h, &rh, sizeof rh, dot.data(), dot.size());
    }
    case AVEC_OP_GRAPH_EDGES: {
      if ((r = graph_of(g.graph, &gb))) return false;
      if (deps.size() % 2) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      size_t n = deps.size() / 2;
      std::vector<BH> from(deps.begin(), deps.begin() + n), to(deps.begin() + n, deps.end());
      std::vector<uint64_t> edges(q.edges.begin(), q.edges.begin() + (q.edges.empty() ? 0 : n));
      r = be_.graph_edges(gb, from, to, edges, g.a == 1);
      return false;
    }
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
      return false;
  }
}

uint32_t Session::graph_async(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  if (!frame_is_graph_op(h.opcode)) return CUDA_ERROR_NOT_SUPPORTED;
  Req q = parse(v);
  const avec_graph_req& g = q.g;
  BH x = 0, n = 0, s = 0;
  uint32_t r;
  switch (h.opcode) {
    case AVEC_OP_GRAPH_DESTROY:
      if (bodies_.count(g.graph)) return CUDA_ERROR_INVALID_VALUE;  // a body graph goes with its node
      if ((r = graph_of(g.graph, &x)) || (r = be_.graph_destroy(x))) return r;
      forget_graph(g.graph);
      return CUDA_SUCCESS;
    case AVEC_OP_GRAPH_LAUNCH:
    case AVEC_OP_GRAPH_UPLOAD:
      if ((r = exec_of(g.graph, &x)) || (r = stream(g.stream, &s))) return r;
      return h.opcode == AVEC_OP_GRAPH_LAUNCH ? be_.graph_launch(x, s) : be_.graph_upload(x, s);
    case AVEC_OP_GRAPH_EXEC_DESTROY:
      if ((r = exec_of(g.graph, &x)) || (r = be_.graph_exec_destroy(x))) return r;
      execs_.erase(g.graph);
      return CUDA_SUCCESS;
    case AVEC_OP_GRAPH_EXEC_SET_PARAMS: {
      GraphNodeSpec sp;
      if ((r = exec_of(g.graph, &x)) || (r = node_of(g.node, &n)) ||
          (r = graph_node_spec((uint32_t)g.a, q.body, g.body_len, &sp)))
        return r;
      if (sp.type == CU_GRAPH_NODE_TYPE_CONDITIONAL) return CUDA_ERROR_NOT_SUPPORTED;
      return be_.graph_exec_set_params(x, n, sp);
    }
    case AVEC_OP_GRAPH_NODE_SET_PARAMS: {
      GraphNodeSpec sp;
      if ((r = node_of(g.node, &n)) || (r = graph_node_spec((uint32_t)g.a, q.body, g.body_len, &sp))) return r;
      if (sp.type == CU_GRAPH_NODE_TYPE_CONDITIONAL) return CUDA_ERROR_NOT_SUPPORTED;
      return be_.graph_node_set_params(n, sp);
    }
    case AVEC_OP_GRAPH_DESTROY_NODE: {
      if ((r = node_of(g.node, &n)) || (r = be_.graph_destroy_node(n))) return r;
      node_ids_.erase(n);
      nodes_.erase(g.node);
      std::vector<uint64_t> owned;  // a conditional node's body graphs went with it
      for (auto& b : bodies_)
        if (b.second.node == g.node) owned.push_back(b.first);
      for (uint64_t b : owned) {
        bodies_.erase(b);
        forget_graph(b);
      }
      return CUDA_SUCCESS;
    }
    case AVEC_OP_GRAPH_NODE_ENABLE:
      if ((r = exec_of(g.graph, &x)) || (r = node_of(g.node, &n))) return r;
      return be_.graph_exec_enable(x, n, g.a != 0);
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

uint32_t Session::capture_refused(const char* what) {
  static bool logged = false;  // one session per process
  if (!logged) {
    logged = true;
    AVEC_LOG(warn, "unsupported")
        .str("what", what)
        .str("reason", "a copy between host memory and a capturing stream: the host memory is on the client");
  }
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

void Session::graph_teardown() {
  for (auto& e : execs_) be_.graph_exec_destroy(e.second);
  for (auto& g : graphs_)
    if (!bodies_.count(g.first)) be_.graph_destroy(g.second);  // body graphs go with their owners
  execs_.clear();
  graphs_.clear();
  graph_ids_.clear();
  bodies_.clear();
  cond_handles_.clear();
  nodes_.clear();
  node_ids_.clear();
  captures_ = 0;
}

}  // namespace avec
