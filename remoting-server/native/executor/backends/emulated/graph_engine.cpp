#include "graph_engine.h"

#include <algorithm>

namespace avec {

void GraphEngine::own_params(Node* n) {
  LaunchArgs& a = n->spec.launch;
  if (n->spec.type != CU_GRAPH_NODE_TYPE_KERNEL) return;
  n->params.assign(a.param_bytes, a.param_bytes + a.param_len);
  a.param_bytes = n->params.data();
  a.params = nullptr;  // replayed from the packed block
  a.attrs = nullptr;
  a.num_attrs = 0;
}

// ---- capture -------------------------------------------------------------------------------------------

bool GraphEngine::captured(BH stream, const GraphNodeSpec& spec, CUresult* r) {
  auto it = caps_.find(stream);
  if (it == caps_.end()) return false;
  BH node = 0;
  if (it->second.invalidated) {
    *r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    return true;
  }
  *r = add(it->second.graph, it->second.deps, spec, &node);
  if (*r == CUDA_SUCCESS) it->second.deps.assign(1, node);
  return true;
}

bool GraphEngine::captured_record(BH event, BH stream) {
  auto it = caps_.find(stream);
  if (it == caps_.end()) {
    recorded_.erase(event);
    return false;
  }
  recorded_[event] = {it->second.id, it->second.deps};
  return true;
}

bool GraphEngine::captured_wait(BH stream, BH event) {
  auto ev = recorded_.find(event);
  auto it = caps_.find(stream);
  Capture* origin = nullptr;
  if (ev != recorded_.end())
    for (auto& c : caps_)
      if (c.second.id == ev->second.first) origin = &c.second;
  if (!origin) return it != caps_.end();  // an event from outside the capture: nothing to join
  if (it == caps_.end()) {                // the stream joins the capture (fork)
    Capture c = *origin;
    c.deps = ev->second.second;
    caps_[stream] = c;
    return true;
  }
  for (BH d : ev->second.second)  // join: the stream's next work depends on both
    if (std::find(it->second.deps.begin(), it->second.deps.end(), d) == it->second.deps.end())
      it->second.deps.push_back(d);
  return true;
}

CUresult GraphEngine::begin(BH stream, uint32_t mode, BH legacy, BH graph, const std::vector<BH>& deps) {
  if (stream == legacy) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  if (mode > CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_ERROR_INVALID_VALUE;
  if (caps_.count(stream)) return CUDA_ERROR_ILLEGAL_STATE;
  Capture c;
  if (graph) {  // into an existing graph, after `deps`
    if (!graphs_.count(graph)) return CUDA_ERROR_INVALID_VALUE;
    for (BH d : deps)
      if (!nodes_.count(d) || nodes_[d].graph != graph) return CUDA_ERROR_INVALID_VALUE;
    c.graph = graph;
    c.deps = deps;
  } else {
    CUresult r = create(&c.graph);
    if (r) return r;
  }
  c.origin = stream;
  c.mode = mode;
  c.id = next_capture_++;
  caps_[stream] = c;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::end(BH stream, BH* graph) {
  auto it = caps_.find(stream);
  if (it == caps_.end()) return CUDA_ERROR_ILLEGAL_STATE;
  if (it->second.origin != stream) return CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
  uint64_t id = it->second.id;
  bool invalidated = it->second.invalidated;
  *graph = it->second.graph;
  for (auto c = caps_.begin(); c != caps_.end();) c = c->second.id == id ? caps_.erase(c) : std::next(c);
  if (!invalidated) return CUDA_SUCCESS;
  destroy(*graph);
  *graph = 0;
  return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
}

// The emulated device has one thread: a capture forbids unsafe calls unless it, or the thread's mode, is
// relaxed (cuThreadExchangeStreamCaptureMode).
bool GraphEngine::unsafe_call() {
  if (mode_ == CU_STREAM_CAPTURE_MODE_RELAXED) return false;
  bool hit = false;
  for (auto& c : caps_)
    if (c.second.mode != CU_STREAM_CAPTURE_MODE_RELAXED) hit = c.second.invalidated = true;
  return hit;
}

CUresult GraphEngine::info(BH stream, CaptureInfo* out) {
  auto it = caps_.find(stream);
  *out = CaptureInfo{};
  if (it == caps_.end()) return CUDA_SUCCESS;
  out->status = it->second.invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  out->id = it->second.id;
  out->graph = it->second.graph;
  out->deps = it->second.deps;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::update_deps(BH stream, const std::vector<BH>& deps, uint32_t flags) {
  auto it = caps_.find(stream);
  if (it == caps_.end()) return CUDA_ERROR_ILLEGAL_STATE;
  for (BH d : deps)
    if (!nodes_.count(d) || nodes_[d].graph != it->second.graph) return CUDA_ERROR_INVALID_VALUE;
  if (flags == CU_STREAM_SET_CAPTURE_DEPENDENCIES) it->second.deps = deps;
  else if (flags == CU_STREAM_ADD_CAPTURE_DEPENDENCIES) it->second.deps.insert(it->second.deps.end(), deps.begin(), deps.end());
  else return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::exchange_mode(uint32_t* mode) {
  if (*mode > CU_STREAM_CAPTURE_MODE_RELAXED) return CUDA_ERROR_INVALID_VALUE;
  std::swap(*mode, mode_);
  return CUDA_SUCCESS;
}

// ---- graphs --------------------------------------------------------------------------------------------

CUresult GraphEngine::create(BH* graph) {
  *graph = new_id_();
  graphs_[*graph] = Graph{};
  return CUDA_SUCCESS;
}

CUresult GraphEngine::destroy(BH graph) {
  auto it = graphs_.find(graph);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  std::vector<BH> order = it->second.order;
  graphs_.erase(it);
  for (BH n : order) {
    for (BH b : nodes_[n].bodies) destroy(b);  // a conditional node's body graphs go with it
    nodes_.erase(n);
  }
  for (auto h = handles_.begin(); h != handles_.end();) h = h->second.graph == graph ? handles_.erase(h) : std::next(h);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::clone(BH graph, BH* out) {
  auto it = graphs_.find(graph);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  std::vector<BH> order = it->second.order;
  create(out);
  std::map<BH, BH> renamed;
  for (BH old : order) {
    Node n = nodes_[old];
    n.graph = *out;
    for (BH& d : n.deps) d = renamed[d];
    for (BH& b : n.bodies) {  // a conditional node's bodies are copied with it
      BH copy = 0;
      clone(b, &copy);
      b = copy;
    }
    own_params(&n);
    BH id = new_id_();
    nodes_[id] = std::move(n);
    renamed[old] = id;
    graphs_[*out].order.push_back(id);
  }
  return CUDA_SUCCESS;
}

CUresult GraphEngine::add(BH graph, const std::vector<BH>& deps, const GraphNodeSpec& spec, BH* node) {
  auto it = graphs_.find(graph);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  for (BH d : deps) {
    auto n = nodes_.find(d);
    if (n == nodes_.end() || n->second.graph != graph) return CUDA_ERROR_INVALID_VALUE;
  }
  if (spec.type == CU_GRAPH_NODE_TYPE_GRAPH && (!graphs_.count(spec.child) || spec.child == graph))
    return CUDA_ERROR_INVALID_VALUE;
  Node n;
  n.graph = graph;
  n.deps = deps;
  n.spec = spec;
  if (spec.type == CU_GRAPH_NODE_TYPE_GRAPH) {  // the node owns a copy of the child graph, as with the driver
    CUresult r = clone(spec.child, &n.spec.child);
    if (r) return r;
  }
  if (spec.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
    CUresult r = ops_.alloc(spec.alloc_size, reusable(graph, deps, spec.alloc_size), &n.addr);
    if (r) return r;
    if (spec.alloc_dptr) *spec.alloc_dptr = n.addr;
    n.spec.alloc_dptr = nullptr;
  }
  own_params(&n);
  *node = new_id_();
  nodes_[*node] = std::move(n);
  it->second.order.push_back(*node);
  return CUDA_SUCCESS;
}

// An address a new allocation node may take: one that an allocation node of this graph had and that a free
// node before the new node (an ancestor of `deps`) gave back, with every allocation of it in the graph
// freed, and large enough. As with the driver, the graph's order then keeps the two lifetimes apart.
uint64_t GraphEngine::reusable(BH graph, const std::vector<BH>& deps, uint64_t size) const {
  std::map<uint64_t, int> open;  // address -> allocations minus frees in the graph
  std::map<uint64_t, uint64_t> sizes;
  for (BH id : graphs_.at(graph).order) {
    const Node& n = nodes_.at(id);
    if (n.spec.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) { open[n.addr]++; sizes[n.addr] = n.spec.alloc_size; }
    if (n.spec.type == CU_GRAPH_NODE_TYPE_MEM_FREE) open[n.spec.free_dptr]--;
  }
  std::vector<BH> todo(deps.begin(), deps.end());
  std::map<BH, bool> seen;
  while (!todo.empty()) {
    BH id = todo.back();
    todo.pop_back();
    if (seen[id]) continue;
    seen[id] = true;
    const Node& n = nodes_.at(id);
    uint64_t a = n.spec.free_dptr;
    if (n.spec.type == CU_GRAPH_NODE_TYPE_MEM_FREE && sizes.count(a) && open[a] == 0 && sizes[a] >= size) return a;
    todo.insert(todo.end(), n.deps.begin(), n.deps.end());
  }
  return 0;
}

std::vector<uint64_t> GraphEngine::alloc_addrs(BH id) const {
  std::vector<uint64_t> out;
  auto add = [&](const Node& n) {
    if (n.spec.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) out.push_back(n.addr);
    if (n.spec.type == CU_GRAPH_NODE_TYPE_GRAPH)
      for (uint64_t a : alloc_addrs(n.spec.child)) out.push_back(a);
  };
  auto g = graphs_.find(id);
  if (g != graphs_.end())
    for (BH n : g->second.order) add(nodes_.at(n));
  auto e = execs_.find(id);
  if (e != execs_.end())
    for (const Node& n : e->second.flat) add(n);
  return out;
}

bool GraphEngine::references(uint64_t dptr) const {
  for (auto& n : nodes_)
    if (n.second.spec.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC && n.second.addr == dptr) return true;
  for (auto& e : execs_)
    for (const Node& n : e.second.flat)
      if (n.spec.type == CU_GRAPH_NODE_TYPE_MEM_ALLOC && n.addr == dptr) return true;
  return false;
}

CUresult GraphEngine::set_params(BH node, const GraphNodeSpec& spec) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return CUDA_ERROR_INVALID_VALUE;
  if (it->second.spec.type != spec.type || spec.type == CU_GRAPH_NODE_TYPE_GRAPH) return CUDA_ERROR_INVALID_VALUE;
  it->second.spec = spec;
  own_params(&it->second);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::node_type(BH node, uint32_t* type) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return CUDA_ERROR_INVALID_VALUE;
  *type = it->second.spec.type;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::host_fn(BH node, uint64_t* id) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return CUDA_ERROR_INVALID_VALUE;
  *id = it->second.spec.type == CU_GRAPH_NODE_TYPE_HOST ? it->second.spec.host_fn : 0;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::destroy_node(BH node) {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return CUDA_ERROR_INVALID_VALUE;
  for (BH b : it->second.bodies) destroy(b);
  auto& order = graphs_[it->second.graph].order;
  order.erase(std::remove(order.begin(), order.end(), node), order.end());
  for (BH other : order) {
    auto& d = nodes_[other].deps;
    d.erase(std::remove(d.begin(), d.end(), node), d.end());
  }
  nodes_.erase(it);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::nodes(BH graph, bool roots, std::vector<BH>* out) {
  auto it = graphs_.find(graph);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  out->clear();
  for (BH n : it->second.order)
    if (!roots || nodes_[n].deps.empty()) out->push_back(n);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::edges(BH graph, const std::vector<BH>& from, const std::vector<BH>& to, bool remove) {
  if (!graphs_.count(graph) || from.size() != to.size()) return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < from.size(); i++) {
    auto f = nodes_.find(from[i]), t = nodes_.find(to[i]);
    if (f == nodes_.end() || t == nodes_.end() || f->second.graph != graph || t->second.graph != graph)
      return CUDA_ERROR_INVALID_VALUE;
    auto& d = t->second.deps;
    auto at = std::find(d.begin(), d.end(), from[i]);
    if (remove) {
      if (at == d.end()) return CUDA_ERROR_INVALID_VALUE;
      d.erase(at);
    } else {
      // replay follows insertion order, so an edge may only point forwards
      auto& order = graphs_[graph].order;
      if (std::find(order.begin(), order.end(), from[i]) > std::find(order.begin(), order.end(), to[i]))
        return CUDA_ERROR_NOT_SUPPORTED;
      if (at == d.end()) d.push_back(from[i]);
    }
  }
  return CUDA_SUCCESS;
}

CUresult GraphEngine::dot(BH graph, std::string* out) {
  auto it = graphs_.find(graph);
  if (it == graphs_.end()) return CUDA_ERROR_INVALID_VALUE;
  *out = "digraph avec_emulated {\n";
  for (BH n : it->second.order) {
    *out += "  n" + std::to_string(n) + " [label=\"type " + std::to_string(nodes_[n].spec.type) + "\"];\n";
    for (BH d : nodes_[n].deps) *out += "  n" + std::to_string(d) + " -> n" + std::to_string(n) + ";\n";
  }
  *out += "}\n";
  return CUDA_SUCCESS;
}

// ---- executable graphs ---------------------------------------------------------------------------------

CUresult GraphEngine::flatten(BH graph, Exec* e, int depth) {
  if (depth > 16) return CUDA_ERROR_INVALID_VALUE;
  for (BH id : graphs_[graph].order) {
    const Node& n = nodes_[id];
    if (n.spec.type == CU_GRAPH_NODE_TYPE_GRAPH) {
      CUresult r = flatten(n.spec.child, e, depth + 1);
      if (r) return r;
      continue;
    }
    if (depth == 0) e->index[id] = e->flat.size();
    e->flat.push_back(n);
    own_params(&e->flat.back());
  }
  return CUDA_SUCCESS;
}

CUresult GraphEngine::instantiate(BH graph, BH* exec) {
  if (!graphs_.count(graph)) return CUDA_ERROR_INVALID_VALUE;
  Exec e;
  CUresult r = flatten(graph, &e, 0);
  if (r) return r;
  *exec = new_id_();
  execs_[*exec] = std::move(e);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::launch(BH exec, BH stream) {
  auto it = execs_.find(exec);
  if (it == execs_.end()) return CUDA_ERROR_INVALID_VALUE;
  if (caps_.count(stream)) return CUDA_ERROR_NOT_SUPPORTED;  // a graph launched into a capture
  for (const Node& n : it->second.flat) {
    if (!n.enabled) continue;
    CUresult r = CUDA_SUCCESS;
    switch (n.spec.type) {
      case CU_GRAPH_NODE_TYPE_MEMSET: r = ops_.memset(n.spec.memset, stream); break;
      case CU_GRAPH_NODE_TYPE_MEMCPY: r = ops_.copy(n.spec.copy, stream); break;
      case CU_GRAPH_NODE_TYPE_EVENT_RECORD: r = ops_.record(n.spec.event, stream); break;
      case CU_GRAPH_NODE_TYPE_MEM_ALLOC: ops_.alloc_live(n.addr, true); break;
      case CU_GRAPH_NODE_TYPE_MEM_FREE: ops_.alloc_live(n.spec.free_dptr, false); break;
      case CU_GRAPH_NODE_TYPE_HOST: ops_.host(n.spec.host_fn); break;  // in order: the nodes before it ran
      case CU_GRAPH_NODE_TYPE_CONDITIONAL: return CUDA_ERROR_NOT_SUPPORTED;  // only kernels set conditions
      case CU_GRAPH_NODE_TYPE_KERNEL: {
        LaunchArgs a = n.spec.launch;
        a.stream = stream;
        a.param_bytes = n.params.data();
        a.param_len = (uint32_t)n.params.size();
        r = ops_.launch(a);
        break;
      }
      default: break;  // empty and event-wait nodes: work runs at submission, nothing to wait for
    }
    if (r) return r;
  }
  return CUDA_SUCCESS;
}

CUresult GraphEngine::exec_destroy(BH exec) { return execs_.erase(exec) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }

CUresult GraphEngine::exec_update(BH exec, BH graph, uint32_t* result, BH* error_node, BH* error_from) {
  auto it = execs_.find(exec);
  *error_node = *error_from = 0;
  if (it == execs_.end() || !graphs_.count(graph)) return CUDA_ERROR_INVALID_VALUE;
  Exec fresh;
  CUresult r = flatten(graph, &fresh, 0);
  if (r) return r;
  Exec& old = it->second;
  bool same = fresh.flat.size() == old.flat.size();
  for (size_t i = 0; same && i < fresh.flat.size(); i++) {
    const GraphNodeSpec &a = fresh.flat[i].spec, &b = old.flat[i].spec;
    if (a.type != b.type || (a.type == CU_GRAPH_NODE_TYPE_KERNEL && a.launch.func != b.launch.func)) {
      same = false;
      for (auto& e : fresh.index)
        if (e.second == i) *error_node = e.first;
    }
  }
  if (!same) {
    *result = CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED;
    return CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE;
  }
  std::map<BH, size_t> index = old.index;  // node identities stay those of the instantiated graph
  old.flat = std::move(fresh.flat);
  for (Node& n : old.flat) own_params(&n);
  old.index = index;
  *result = CU_GRAPH_EXEC_UPDATE_SUCCESS;
  return CUDA_SUCCESS;
}

CUresult GraphEngine::exec_set_params(BH exec, BH node, const GraphNodeSpec& spec) {
  auto it = execs_.find(exec);
  if (it == execs_.end()) return CUDA_ERROR_INVALID_VALUE;
  auto at = it->second.index.find(node);
  if (at == it->second.index.end()) return CUDA_ERROR_INVALID_VALUE;
  Node& n = it->second.flat[at->second];
  if (n.spec.type != spec.type || spec.type == CU_GRAPH_NODE_TYPE_GRAPH) return CUDA_ERROR_INVALID_VALUE;
  n.spec = spec;
  own_params(&n);
  return CUDA_SUCCESS;
}

CUresult GraphEngine::exec_enable(BH exec, BH node, bool on) {
  auto it = execs_.find(exec);
  if (it == execs_.end()) return CUDA_ERROR_INVALID_VALUE;
  auto at = it->second.index.find(node);
  if (at == it->second.index.end()) return CUDA_ERROR_INVALID_VALUE;
  it->second.flat[at->second].enabled = on;
  return CUDA_SUCCESS;
}

// ---- conditional nodes -----------------------------------------------------------------------------------

CUresult GraphEngine::cond_handle_create(BH graph, uint32_t value, uint32_t flags, uint64_t* handle) {
  if (!graphs_.count(graph) || (flags & ~CU_GRAPH_COND_ASSIGN_DEFAULT)) return CUDA_ERROR_INVALID_VALUE;
  *handle = new_id_();
  handles_[*handle] = CondHandle{graph, value, flags};
  return CUDA_SUCCESS;
}

CUresult GraphEngine::add_conditional(BH graph, const std::vector<BH>& deps, const avec_graph_cond& c, BH* node,
                                      std::vector<BH>* bodies) {
  auto h = handles_.find(c.handle);
  if (h == handles_.end() || h->second.graph != graph) return CUDA_ERROR_INVALID_VALUE;  // made for this graph
  bool size_ok = (c.type == CU_GRAPH_COND_TYPE_IF && (c.size == 1 || c.size == 2)) ||
                 (c.type == CU_GRAPH_COND_TYPE_WHILE && c.size == 1) || (c.type == CU_GRAPH_COND_TYPE_SWITCH && c.size >= 1);
  if (!size_ok) return CUDA_ERROR_INVALID_VALUE;
  GraphNodeSpec sp;
  sp.type = CU_GRAPH_NODE_TYPE_EMPTY;  // added as a plain node first: add() checks the graph and deps
  CUresult r = add(graph, deps, sp, node);
  if (r) return r;
  Node& n = nodes_[*node];
  n.spec.type = CU_GRAPH_NODE_TYPE_CONDITIONAL;
  n.spec.cond = c;
  bodies->clear();
  for (uint32_t i = 0; i < c.size; i++) {
    BH b = 0;
    create(&b);
    nodes_[*node].bodies.push_back(b);
    bodies->push_back(b);
  }
  return CUDA_SUCCESS;
}

}  // namespace avec
