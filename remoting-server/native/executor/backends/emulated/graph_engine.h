// CUDA graphs and stream capture on the emulated device: graphs are node lists (kept in the order nodes
// were added, which respects their dependencies), capture appends the work a capturing stream receives,
// and a launch replays the data movement (memsets, device copies, event records) through the backend.
// Kernel nodes replay as launches, which the emulated device refuses as always.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../../src/backend.h"

namespace avec {

class GraphEngine {
 public:
  struct Ops {  // what replaying a node does on the device
    std::function<CUresult(const avec_memset&, BH stream)> memset;
    std::function<CUresult(const avec_memcpy2d&, BH stream)> copy;
    std::function<CUresult(const LaunchArgs&)> launch;
    std::function<CUresult(BH event, BH stream)> record;
    // Graph memory: an allocation node's address (`reuse`: one the graph gave back before this node, which
    // it may take again, or 0), and a replayed allocation (live) or free (not live) of an address.
    std::function<CUresult(uint64_t size, uint64_t reuse, uint64_t* dptr)> alloc;
    std::function<void(uint64_t dptr, bool live)> alloc_live;
    std::function<void(uint64_t id)> host;  // the client's host function (returns when it has run)
  };
  GraphEngine(Ops ops, std::function<BH()> new_id) : ops_(std::move(ops)), new_id_(std::move(new_id)) {}

  // Capture hooks of the backend's stream work: true when `stream` is capturing and the work became a
  // node (its result in *r) instead of running.
  bool captured(BH stream, const GraphNodeSpec& spec, CUresult* r);
  bool captured_record(BH event, BH stream);
  bool captured_wait(BH stream, BH event);
  bool capturing(BH stream) const { return caps_.count(stream) != 0; }
  // A potentially unsafe call (one that is not stream-ordered: pool attributes, synchronous allocation)
  // while a capture forbids it: the captures are invalidated, as by the driver, and true is returned.
  bool unsafe_call();
  // The addresses of the allocation nodes of a graph or executable graph, and whether any graph or
  // executable graph still has an allocation node for an address.
  std::vector<uint64_t> alloc_addrs(BH graph_or_exec) const;
  bool references(uint64_t dptr) const;

  CUresult begin(BH stream, uint32_t mode, BH legacy, BH graph = 0, const std::vector<BH>& deps = {});
  CUresult end(BH stream, BH* graph);
  CUresult info(BH stream, CaptureInfo* out);
  CUresult update_deps(BH stream, const std::vector<BH>& deps, uint32_t flags);
  CUresult exchange_mode(uint32_t* mode);

  CUresult create(BH* graph);
  CUresult destroy(BH graph);
  CUresult clone(BH graph, BH* out);
  CUresult add(BH graph, const std::vector<BH>& deps, const GraphNodeSpec& spec, BH* node);
  CUresult set_params(BH node, const GraphNodeSpec& spec);
  CUresult node_type(BH node, uint32_t* type);
  CUresult host_fn(BH node, uint64_t* id);
  CUresult destroy_node(BH node);
  CUresult nodes(BH graph, bool roots, std::vector<BH>* out);
  CUresult edges(BH graph, const std::vector<BH>& from, const std::vector<BH>& to, bool remove);
  CUresult dot(BH graph, std::string* out);
  CUresult instantiate(BH graph, BH* exec);
  CUresult launch(BH exec, BH stream);
  CUresult upload(BH exec) const { return execs_.count(exec) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
  CUresult exec_destroy(BH exec);
  CUresult exec_update(BH exec, BH graph, uint32_t* result, BH* error_node, BH* error_from);
  CUresult exec_set_params(BH exec, BH node, const GraphNodeSpec& spec);
  CUresult exec_enable(BH exec, BH node, bool on);
  // Conditional nodes: made with their body graphs (owned by the node); a launch that reaches one is
  // refused, since only kernels set conditions and the emulated device runs none.
  CUresult cond_handle_create(BH graph, uint32_t value, uint32_t flags, uint64_t* handle);
  CUresult add_conditional(BH graph, const std::vector<BH>& deps, const avec_graph_cond& c, BH* node,
                           std::vector<BH>* bodies);

 private:
  struct Node {
    BH graph = 0;
    std::vector<BH> deps;
    GraphNodeSpec spec;
    std::vector<uint8_t> params;  // kernel parameter bytes (spec.launch points into the frame otherwise)
    bool enabled = true;
    std::vector<BH> bodies;  // CONDITIONAL: its body graphs
    uint64_t addr = 0;       // MEM_ALLOC: the address it was given
  };
  struct Graph { std::vector<BH> order; };
  struct Exec {
    std::vector<Node> flat;          // child graphs expanded
    std::map<BH, size_t> index;      // node of the instantiated graph -> its place in flat
  };
  struct Capture {
    BH graph = 0, origin = 0;
    uint64_t id = 0;
    uint32_t mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
    bool invalidated = false;  // an unsafe call happened: its end fails
    std::vector<BH> deps;
  };
  static void own_params(Node* n);
  CUresult flatten(BH graph, Exec* e, int depth);
  uint64_t reusable(BH graph, const std::vector<BH>& deps, uint64_t size) const;

  Ops ops_;
  std::function<BH()> new_id_;
  std::map<BH, Graph> graphs_;
  std::map<BH, Node> nodes_;
  std::map<BH, Exec> execs_;
  struct CondHandle { BH graph; uint32_t value, flags; };
  std::map<uint64_t, CondHandle> handles_;
  std::map<BH, Capture> caps_;                                   // capturing stream -> its capture
  std::map<BH, std::pair<uint64_t, std::vector<BH>>> recorded_;  // event recorded in a capture
  uint64_t next_capture_ = 1;
  uint32_t mode_ = CU_STREAM_CAPTURE_MODE_GLOBAL;
};

}  // namespace avec
