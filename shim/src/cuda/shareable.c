/* POSIX-fd shareable handles of VMM allocations and memory pools (cuMemExportToShareableHandle,
 * cuMemPoolExportToShareableHandle and their imports). The server exports the driver's fd on the GPU node
 * and answers with a 64-byte token ("AVI1", kind, random token, size); here the program gets a real file
 * descriptor of this machine: a sealed, read-only memfd holding that token, which it passes to its other
 * processes as it would the driver's (SCM_RIGHTS; the fd number changes). Importing reads the token back
 * from whatever fd the program hands in and asks the server, which imports only for a session of the same
 * server and scope (claim, or client address). Offered when the server says so in HELLO. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_cuda.h"

int avec_share_offered(void) { return (avec_sess.conn.features & AVEC_FEATURE_SHAREABLE_FD) != 0; }

int avec_visible_of_wire(uint32_t wire_dev) {
  for (int i = 0; i < avec_sess.ndev; i++)
    if (avec_sess.wire_dev[i] == wire_dev) return i;
  return 0;
}

/* What a created pool or allocation may be exported as here: POSIX fds when offered; other types are said
 * once and then refused at export. */
void avec_note_handle_types(unsigned types, const char *what) {
  static int noted;
  unsigned offered = avec_share_offered() ? CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR : 0;
  if ((types & ~offered) && !__atomic_exchange_n(&noted, 1, __ATOMIC_RELAXED))
    LOG_WARN("%s asked for shareable handle types 0x%x: only 0x%x is offered (POSIX file descriptors between "
             "processes whose sessions share a server); exporting another type is refused", what, types, offered);
}

static CUresult refuse_type(CUmemAllocationHandleType type) {
  static int warned;
  if (type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) /* the server does not offer it */
    return (CUresult)avec_unsupported("POSIX-fd shareable handles (this server does not offer them)", &warned);
  return (CUresult)avec_unsupported("fabric and Win32 shareable handles (they cannot cross machines)", &warned);
}

CUresult avec_shareable_export(uint32_t kind, uint32_t handle, CUmemAllocationHandleType type, void *out) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !avec_share_offered()) return refuse_type(type);
  avec_share_export a = {kind, handle, (uint32_t)type, 0};
  avec_ipc_handle_reply rep;
  CUresult r = avec_call(AVEC_OP_SHARE_EXPORT, 0, &a, sizeof a, &rep, sizeof rep);
  if (r) return r;
  __atomic_store_n(&avec_ipc_used, 1, __ATOMIC_RELAXED); /* another process may see this memory */
  /* the system call, not glibc's wrapper (2.27): the shim loads into images with an older glibc. Not
   * close-on-exec, like an ordinary fd: a program may hand it to a child it executes by number. */
  int fd = (int)syscall(SYS_memfd_create, "avec-shareable-handle", MFD_ALLOW_SEALING);
  if (fd < 0) return CUDA_ERROR_OPERATING_SYSTEM;
  if (write(fd, rep.handle, sizeof rep.handle) != (ssize_t)sizeof rep.handle ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    close(fd);
    return CUDA_ERROR_OPERATING_SYSTEM;
  }
  *(int *)out = fd;
  return CUDA_SUCCESS;
}

CUresult avec_shareable_import(uint32_t kind, void *shareable, CUmemAllocationHandleType type, uint32_t handle,
                           avec_share_import_reply *rep) {
  if (type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR || !avec_share_offered()) return refuse_type(type);
  int fd = (int)(intptr_t)shareable;
  avec_share_import a = {{0}, handle, kind};
  uint8_t extra;
  /* exactly one token: a bad fd, or one that is not ours, is refused as the driver refuses a foreign one */
  if (fd < 0 || pread(fd, a.token, sizeof a.token, 0) != (ssize_t)sizeof a.token || pread(fd, &extra, 1, sizeof a.token) != 0 ||
      memcmp(a.token, "AVI1", 4))
    return CUDA_ERROR_INVALID_VALUE;
  __atomic_store_n(&avec_ipc_used, 1, __ATOMIC_RELAXED);
  return avec_call(AVEC_OP_SHARE_IMPORT, 0, &a, sizeof a, rep, sizeof *rep);
}
