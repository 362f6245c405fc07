// Content-addressed module loads (the NEED_IMAGE flow) and kernel launches.
#include <cstring>
#include <string>
#include <vector>

#include "log.h"
#include "session.h"
#include "sha256.h"

namespace avec {

namespace {
bool launch_attr_allowed(uint32_t id) {
  switch (id) {
    case CU_LAUNCH_ATTRIBUTE_IGNORE:
    case CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW:
    case CU_LAUNCH_ATTRIBUTE_COOPERATIVE:
    case CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    case CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION:
    case CU_LAUNCH_ATTRIBUTE_PRIORITY:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN_MAP:
    case CU_LAUNCH_ATTRIBUTE_MEM_SYNC_DOMAIN:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_CLUSTER_DIMENSION:
    case CU_LAUNCH_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    case CU_LAUNCH_ATTRIBUTE_NVLINK_UTIL_CENTRIC_SCHEDULING:
      return true;
    default:  // graph-node attributes and unknown ids are not forwarded (events are translated, see launch())
      return false;
  }
}
}  // namespace

uint32_t Session::load_pending(uint32_t handle, ModuleEntry& e, const Image& img) {
  uint32_t r = use_ctx(e.ctx);
  if (!r) r = be_.module_load(e.kind, img->data(), img->size(), &e.be);
  if (r) {
    AVEC_LOG(warn, "module_load_failed").unum("module", handle).num("result", r).str("hash", hex(e.hash.data(), 32));
    return r;
  }
  e.pending = false;
  return CUDA_SUCCESS;
}

void Session::module_image(const FrameView& v) {
  avec_module_image mi = v.fixed<avec_module_image>();
  Hash hh;
  memcpy(hh.data(), mi.hash, 32);
  ModuleStore::Part p = store_.add_part(hh, mi.size, v.tail, v.tail_len);
  if (p == ModuleStore::Part::incomplete) return;
  if (p != ModuleStore::Part::complete) {
    AVEC_LOG(warn, "module_image_refused")
        .str("hash", hex(mi.hash, 32))
        .str("reason", p == ModuleStore::Part::mismatch ? "hash mismatch" : "inconsistent parts");
    errs_.record_async(p == ModuleStore::Part::mismatch ? CUDA_ERROR_INVALID_IMAGE : CUDA_ERROR_INVALID_VALUE);
    return;
  }
  Image img = store_.find(hh);
  for (auto it = modules_.begin(); it != modules_.end();) {
    if (it->second.pending && it->second.hash == hh) {
      uint32_t r = load_pending(it->first, it->second, img);
      if (r) {
        errs_.record_async(r);
        it = modules_.erase(it);
        continue;
      }
    }
    ++it;
  }
}

void Session::module_load(const avec_frame_hdr& h, const avec_module_load& m) {
  if (m.handle == 0 || modules_.count(m.handle) || m.kind > AVEC_MODULE_KIND_LIBRARY) {
    errs_.record_async(CUDA_ERROR_INVALID_VALUE);
    return;
  }
  if (table_full("modules", modules_.size())) { errs_.record_async(CUDA_ERROR_OUT_OF_MEMORY); return; }
  if (module_bytes_ + m.size > opts_.max_module_bytes) {  // recount exactly before refusing
    module_bytes_ = 0;
    for (auto& me : modules_) module_bytes_ += me.second.size;
    if (module_bytes_ + m.size > opts_.max_module_bytes) {
      stats_.objects_refused++;
      AVEC_LOG(warn, "module_bytes_limit").unum("requested", m.size).unum("loaded", module_bytes_)
          .unum("limit", opts_.max_module_bytes).str("result", "CUDA_ERROR_OUT_OF_MEMORY");
      errs_.record_async(CUDA_ERROR_OUT_OF_MEMORY);
      return;
    }
  }
  uint32_t r = use_ctx(h.ctx);
  if (r) { errs_.record_async(r); return; }
  ModuleEntry e;
  e.kind = m.kind == AVEC_MODULE_KIND_LIBRARY ? ModuleKind::library : ModuleKind::module;
  memcpy(e.hash.data(), m.hash, 32);
  e.size = m.size;
  e.ctx = h.ctx;
  e.pending = true;
  Image img = store_.find(e.hash);
  if (img) {
    r = load_pending(m.handle, e, img);
    if (r) { errs_.record_async(r); return; }
  }
  modules_[m.handle] = e;
  module_bytes_ += m.size;
}

bool Session::reply_need_image(const avec_frame_hdr& h, const ModuleEntry& me, uint32_t handle) {
  avec_reply_hdr rh = {AVEC_STATUS_NEED_IMAGE, 0};
  avec_module_image mi;
  memcpy(mi.hash, me.hash.data(), 32);
  mi.size = me.size;
  AVEC_LOG(debug, "need_image").str("hash", hex(me.hash.data(), 32)).unum("module", handle);
  return reply(h, &rh, sizeof rh, &mi, sizeof mi);
}

bool Session::module_kernel_names(const avec_frame_hdr& h, uint32_t handle, uint32_t* r) {
  auto it = modules_.find(handle);
  if (it == modules_.end()) { *r = CUDA_ERROR_INVALID_HANDLE; return false; }
  ModuleEntry& me = it->second;
  if (me.pending) { reply_need_image(h, me, handle); return true; }
  std::vector<std::string> names;
  if ((*r = be_.kernel_names(me.kind, me.be, &names))) return false;
  std::string packed;
  for (const std::string& n : names) {
    if (n.empty() || n.size() > AVEC_MAX_NAME) { *r = CUDA_ERROR_NOT_SUPPORTED; return false; }
    packed.append(n).push_back('\0');
  }
  if (names.size() > AVEC_MAX_KERNEL_NAMES || packed.size() > AVEC_MAX_KERNEL_NAME_BYTES) {
    AVEC_LOG(warn, "kernel_names_too_large").unum("module", handle).unum("count", names.size())
        .unum("bytes", packed.size());
    *r = CUDA_ERROR_NOT_SUPPORTED;
    return false;
  }
  avec_kernel_names kn = {{0, 0}, (uint32_t)names.size(), (uint32_t)packed.size()};
  reply(h, &kn, sizeof kn, packed.data(), packed.size());
  return true;
}

// The launch in `l` (+ its attributes and parameter bytes in `tail`) as backend arguments; `attrs` holds
// attributes that had to be translated (events travel as client handles).
uint32_t Session::launch_args(const avec_launch& l, const uint8_t* tail, LaunchArgs* ap, avec_launch_attr* attrs) {
  LaunchArgs& a = *ap;
  auto it = funcs_.find(l.func);
  if (it == funcs_.end()) return CUDA_ERROR_INVALID_HANDLE;
  const FuncEntry& f = it->second;
  a.func = f.be;
  a.is_kernel = f.is_kernel;
  memcpy(a.grid, l.grid, sizeof a.grid);
  memcpy(a.block, l.block, sizeof a.block);
  a.shared_mem = l.shared_mem;
  a.cooperative = (l.flags & 1) != 0;
  a.attrs = reinterpret_cast<const avec_launch_attr*>(tail);
  a.num_attrs = l.num_attrs;
  bool translated = false;
  for (uint32_t i = 0; i < l.num_attrs; i++) {
    memcpy(&attrs[i], tail + i * sizeof(avec_launch_attr), sizeof attrs[i]);
    uint32_t id = attrs[i].id;
    if (id == CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_EVENT || id == CU_LAUNCH_ATTRIBUTE_LAUNCH_COMPLETION_EVENT) {
      // the event travels as its client handle (u64 in the first 8 value bytes): swap in the real one
      uint64_t h;
      memcpy(&h, attrs[i].value, sizeof h);
      BH e = 0;
      if (h > UINT32_MAX || event((uint32_t)h, &e)) return CUDA_ERROR_INVALID_HANDLE;
      memcpy(attrs[i].value, &e, sizeof e);
      translated = true;
    } else if (!launch_attr_allowed(id)) {
      return CUDA_ERROR_NOT_SUPPORTED;
    }
  }
  if (translated) a.attrs = attrs;
  const uint8_t* params = tail + (size_t)l.num_attrs * sizeof(avec_launch_attr);
  a.param_bytes = params;
  a.param_len = l.param_bytes;
  if (f.params_known) {
    // Parameter values are opaque: device pointers inside them cannot be checked (per-session process
    // isolation is the protection there); only the block's size is.
    if (l.param_bytes < f.param_extent) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < f.params.size(); i++) param_ptrs_[i] = const_cast<uint8_t*>(params + f.params[i].offset);
    a.params = f.params.empty() ? nullptr : param_ptrs_.data();
    a.num_params = (uint32_t)f.params.size();
  }
  return CUDA_SUCCESS;
}

uint32_t Session::launch(const FrameView& v) {
  avec_launch l = v.fixed<avec_launch>();
  LaunchArgs a;
  avec_launch_attr attrs[AVEC_MAX_LAUNCH_ATTRS];
  uint32_t r = launch_args(l, v.tail, &a, attrs);
  if (!r) r = stream(l.stream, &a.stream);
  if (r) return r;
  return be_.launch(a);
}

}  // namespace avec
