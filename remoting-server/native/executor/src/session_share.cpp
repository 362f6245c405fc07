// POSIX-fd shareable handles of VMM allocations and memory pools between sessions of one node and one scope
// (the rule legacy IPC follows). Exporting asks the backend for its fd (the real driver's), publishes an
// entry in the node's IPC registry (kind, size, scope, and the unix socket this session serves fds on) and
// hands the client the token; the client wraps it in a file descriptor of its own machine. Importing checks
// the entry's scope, fetches the fd from the exporting session's process, imports it and closes the copy.
// What was imported is the exporter's memory: it is charged there, not here (as opened IPC memory is).
#include <unistd.h>

#include <cstring>

#include "log.h"
#include "session.h"

namespace avec {

namespace {
bool g_logged_share = false, g_logged_types = false;
}  // namespace

bool Session::share_offered() const { return opts_.ipc && !ipc_scope_.empty(); }

uint32_t Session::share_available(const char* what) {
  if (share_offered()) return CUDA_SUCCESS;
  log_unsupported_once(&g_logged_share, what, "this server has no IPC registry or the session no scope");
  return CUDA_ERROR_NOT_SUPPORTED;
}

// POSIX file descriptors are honoured between sessions of this node; fabric and Win32 handles are not
// (created without them, said once; exporting them is refused by the client).
uint32_t Session::shareable_types(uint32_t asked) {
  uint32_t types = share_offered() ? asked & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR : 0;
  if (types != asked)
    log_unsupported_once(&g_logged_types, "pool or allocation made without some shareable handle types asked for",
             "only POSIX file descriptors between sessions of one server and scope are offered");
  return types;
}

uint32_t Session::share_export(const avec_share_export& c, avec_ipc_handle_reply* out) {
  uint32_t r = share_available("cuMemExportToShareableHandle / cuMemPoolExportToShareableHandle");
  if (r) return r;
  if (c.handle_type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) return CUDA_ERROR_NOT_SUPPORTED;
  IpcEntry e;
  e.scope = ipc_scope_;
  std::map<uint32_t, IpcToken>* exports;
  BH be = 0;
  if (c.kind == AVEC_SHARE_VMM) {
    auto it = vmm_.find(c.handle);
    if (it == vmm_.end() || it->second.refs == 0 || !it->second.shareable) return CUDA_ERROR_INVALID_VALUE;
    exports = &vmm_shares_;
    e.kind = IpcKind::vmm;
    e.size = it->second.size;
    be = it->second.be;
  } else if (c.kind == AVEC_SHARE_POOL) {
    auto it = pools_.find(c.handle);
    if (it == pools_.end() || !it->second.shareable) return CUDA_ERROR_INVALID_VALUE;
    exports = &pool_shares_;
    e.kind = IpcKind::pool;
    be = it->second.be;
  } else {
    return CUDA_ERROR_INVALID_VALUE;
  }
  auto known = exports->find(c.handle);  // one token per object: every export names the same one
  if (known != exports->end()) {
    IpcRegistry::encode_handle(e.kind, known->second, e.size, out->handle);
    return CUDA_SUCCESS;
  }
  int fd = -1;
  if ((r = e.kind == IpcKind::vmm ? be_.vmm_export_fd(be, &fd) : be_.pool_export_fd(be, &fd))) return r;
  std::string why;
  if (!fd_share_) fd_share_.reset(new FdShare(opts_.ipc->dir()));
  IpcToken token;
  bool ok = fd_share_->start(&why);
  if (ok) {
    e.blob.assign(fd_share_->path().begin(), fd_share_->path().end());
    ok = opts_.ipc->publish(e, &token, &why);
  }
  if (ok && !fd_share_->offer(token, fd, &why)) {  // takes the fd
    opts_.ipc->unpublish(token);
    fd = -1;
    ok = false;
  }
  if (!ok) {
    if (fd >= 0) close(fd);
    AVEC_LOG(error, "share_publish_failed").str("reason", why);
    return CUDA_ERROR_OPERATING_SYSTEM;
  }
  (*exports)[c.handle] = token;
  IpcRegistry::encode_handle(e.kind, token, e.size, out->handle);
  return CUDA_SUCCESS;
}

uint32_t Session::share_import(const avec_share_import& c, avec_share_import_reply* out) {
  uint32_t r = share_available("cuMemImportFromShareableHandle / cuMemPoolImportFromShareableHandle");
  if (r) return r;
  if (c.kind != AVEC_SHARE_VMM && c.kind != AVEC_SHARE_POOL) return CUDA_ERROR_INVALID_VALUE;
  IpcKind want = c.kind == AVEC_SHARE_VMM ? IpcKind::vmm : IpcKind::pool;
  if (want == IpcKind::vmm ? (c.handle == 0 || vmm_.count(c.handle) != 0)
                           : (c.handle <= AVEC_MAX_DEVICES || pools_.count(c.handle) != 0))
    return CUDA_ERROR_INVALID_VALUE;
  if (table_full(want == IpcKind::vmm ? "vmm" : "pools", want == IpcKind::vmm ? vmm_.size() : pools_.size()))
    return CUDA_ERROR_OUT_OF_MEMORY;
  IpcToken token;
  IpcEntry e;
  if ((r = ipc_resolve(c.token, want, "share_import_refused", &token, &e))) return r;
  // The fd comes only from a socket of this node's private IPC directory.
  std::string why, path(e.blob.begin(), e.blob.end()), prefix = opts_.ipc->dir() + "/fd-";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.find("/..") != std::string::npos) {
    AVEC_LOG(warn, "share_import_refused").str("reason", "entry names a socket outside the IPC directory");
    return CUDA_ERROR_INVALID_VALUE;
  }
  int fd = FdShare::fetch(path, token, &why);
  if (fd < 0) {
    AVEC_LOG(info, "share_import_refused").str("reason", why);
    return CUDA_ERROR_INVALID_VALUE;
  }
  BH be = 0;
  if (want == IpcKind::vmm) {
    r = be_.vmm_import_fd(fd, e.size, &be);
    if (!r) vmm_[c.handle] = VmmEntry{be, e.size, 1, 0, true, true};  // exportable again, as with the driver
  } else {
    r = be_.pool_import_fd(fd, &be);
    if (!r) pools_[c.handle] = PoolEntry{be, 0, false, false, true};
  }
  close(fd);  // the driver holds what it imported
  if (r) return r;
  out->kind = c.kind;
  out->device = 0;
  out->size = want == IpcKind::vmm ? e.size : 0;
  return CUDA_SUCCESS;
}

// cuMemPoolImportPointer: the export data travelled through the program; the driver decides whether it
// belongs to this pool (an ordinary error when not: programs try each pool in turn).
uint32_t Session::pool_import_pointer(const avec_frame_hdr& h, const avec_pool_import_ptr& c,
                                      avec_ipc_open_reply* out) {
  auto it = pools_.find(c.pool);
  if (it == pools_.end() || !it->second.imported) return CUDA_ERROR_INVALID_VALUE;
  if (table_full("allocations", allocs_.count())) return CUDA_ERROR_OUT_OF_MEMORY;
  uint64_t dptr = 0, size = 0;
  uint32_t r = be_.pool_import_pointer(it->second.be, c.data, &dptr, &size);
  if (r) return r;
  Alloc a;
  a.base = dptr;
  a.size = size;
  a.kind = AllocKind::pool_import;
  a.ctx = h.ctx;
  if (!allocs_.insert(a)) {  // the same pointer imported twice
    be_.mem_free(dptr);
    return CUDA_ERROR_ALREADY_MAPPED;
  }
  out->dptr = dptr;
  out->size = size;
  return CUDA_SUCCESS;
}

bool Session::share_sync(const FrameView& v, uint32_t* rp) {
  const avec_frame_hdr& h = v.hdr;
  uint32_t& r = *rp;
  switch (h.opcode) {
    case AVEC_OP_SHARE_EXPORT: {
      avec_ipc_handle_reply out = {};
      r = share_export(v.fixed<avec_share_export>(), &out);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    case AVEC_OP_SHARE_IMPORT: {
      avec_share_import_reply out = {};
      r = share_import(v.fixed<avec_share_import>(), &out);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    case AVEC_OP_POOL_EXPORT_POINTER: {
      if ((r = share_available("cuMemPoolExportPointer"))) return false;
      const Alloc* a = allocs_.find_exact(v.fixed<avec_u64>().value);
      if (!a || a->kind != AllocKind::async) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      avec_pool_ptr_data out = {};
      r = be_.pool_export_pointer(a->base, out.data);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    case AVEC_OP_POOL_IMPORT_POINTER: {
      if ((r = share_available("cuMemPoolImportPointer"))) return false;
      avec_ipc_open_reply out = {};
      r = pool_import_pointer(h, v.fixed<avec_pool_import_ptr>(), &out);
      return r == CUDA_SUCCESS && reply(h, &out, sizeof out);
    }
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
      return false;
  }
}

void Session::share_withdraw(std::map<uint32_t, IpcToken>* exports, uint32_t handle) {
  auto it = exports->find(handle);
  if (it == exports->end()) return;
  if (opts_.ipc) opts_.ipc->unpublish(it->second);
  if (fd_share_) fd_share_->withdraw(it->second);
  exports->erase(it);
}

void Session::share_teardown() {
  while (!vmm_shares_.empty()) share_withdraw(&vmm_shares_, vmm_shares_.begin()->first);
  while (!pool_shares_.empty()) share_withdraw(&pool_shares_, pool_shares_.begin()->first);
  fd_share_.reset();  // stops serving and removes the socket
}

}  // namespace avec
