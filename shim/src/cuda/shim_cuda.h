/* Internal interface of the driver shim: the session, client-side objects and helpers shared by the API
 * families (one file per family in this folder). */
#ifndef AVEC_SHIM_CUDA_H
#define AVEC_SHIM_CUDA_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Every driver entry point declared by cuda.h is exported; everything else stays hidden. */
#pragma GCC visibility push(default)
#include <cuda.h>
#pragma GCC visibility pop

#include "avec_log.h"
#include "avec_shim.h"
#include "avec_ranges.h"
#include "avec_transport.h"
#include "avec_wire.h"

#define AVEC_API __attribute__((visibility("default")))
#define AVEC_SHIM_VERSION 1000 /* cuAvecShimVersion(): major*1000 + minor */
#define AVEC_DRIVER_VERSION 13000

/* ---- session -------------------------------------------------------------------------------------- */
typedef struct avec_session {
  avec_conn conn;
  CUresult init_result;     /* result of the one connection attempt (cuInit) */
  int initialized;          /* cuInit ran (successfully or not) */
  avec_hello_reply hello;
  avec_device_info dev[AVEC_MAX_DEVICES]; /* the devices this process sees (CUDA_VISIBLE_DEVICES applied) */
  int ndev;
  uint32_t wire_dev[AVEC_MAX_DEVICES];    /* visible ordinal -> the server's device index */
  CUresult sticky;          /* a sticky error poisons the session like a real context */
  int closed;               /* the process is exiting: calls answer CUDA_ERROR_DEINITIALIZED */
} avec_session;

extern avec_session avec_sess;

/* Applies CUDA_VISIBLE_DEVICES (ordinals or GPU-<uuid> prefixes, comma-separated; the list ends at the
 * first invalid entry, as with the driver) to n server devices: fills map[] with server indices and
 * returns the visible count. Pure; unit-tested. */
int avec_visible_devices(const char *spec, const avec_device_info *devs, int n, uint32_t *map);
/* Adjusts a server device's attributes to what a program on this machine can use of it (device.c). */
void avec_device_remote_view(avec_device_info *d, uint32_t features);

/* CUDA_ERROR_NOT_INITIALIZED before cuInit, the failed cuInit's code, or the sticky error. */
CUresult avec_ready(void);
/* Maps a wire/transport status to a CUresult and records sticky errors. */
CUresult avec_result(uint32_t status);
uint32_t avec_new_handle(void);
int avec_dev_valid(CUdevice d);

/* Thin wrappers over the connection that apply avec_result(). */
CUresult avec_post(uint16_t op, uint32_t flags, const void *a, size_t alen, const void *b, size_t blen);
CUresult avec_call(uint16_t op, uint32_t flags, const void *a, size_t alen, void *reply, size_t cap);

/* ---- contexts ------------------------------------------------------------------------------------- */
#define AVEC_MAGIC_CTX 0x41435458u
#define AVEC_MAGIC_STREAM 0x41535452u
#define AVEC_MAGIC_EVENT 0x41455654u
#define AVEC_MAGIC_MODULE 0x414d4f44u
#define AVEC_MAGIC_FUNC 0x4146554eu

typedef struct avec_cls_entry {
  void *key;
  void *value;
  void (*dtor)(CUcontext, void *, void *);
  struct avec_cls_entry *next;
} avec_cls_entry;

struct CUctx_st {
  uint32_t magic;
  uint32_t handle;  /* wire handle: 1..N primary contexts, else client-chosen */
  int device;
  unsigned flags;
  int primary;
  int refcount;     /* primary: retain count */
  uint64_t id;      /* cuCtxGetId */
  pthread_mutex_t cls_lock;
  avec_cls_entry *cls; /* context-local storage of the runtime (export table) */
};

extern struct CUctx_st avec_primary[AVEC_MAX_DEVICES];
CUcontext avec_ctx_current(void);
/* Current context or CUDA_ERROR_INVALID_CONTEXT. */
CUresult avec_ctx_require(CUcontext *out);
uint32_t avec_ctx_wire(void); /* handle of the calling thread's current context, 0 if none */
int avec_ctx_valid(CUcontext c);
void avec_cls_run_dtors(CUcontext c);
CUresult avec_cls_put(CUcontext c, void *key, void *value, void (*dtor)(CUcontext, void *, void *));
CUresult avec_cls_get(void **out, CUcontext c, void *key);
CUresult avec_cls_delete(CUcontext c, void *key);

/* ---- streams and events --------------------------------------------------------------------------- */
struct CUstream_st {
  uint32_t magic;
  uint32_t handle;
  CUcontext ctx;
  unsigned flags;
  int priority;
};

struct CUevent_st {
  uint32_t magic;
  uint32_t handle;
  unsigned flags;
  int pending;  /* recorded and not yet seen complete: only then do query/synchronize cross the network */
};

/* Wire handle of a stream argument; ptds selects the per-thread default for NULL. Returns 0 on success. */
int avec_stream_wire(CUstream s, int ptds, uint32_t *out);
void avec_stream_drained(uint32_t wire); /* this thread's last request left the stream idle (a D2H copy) */
int avec_stream_capturing(CUstream s, int ptsz); /* graph.c: a capture is under way on s */
/* graph.c: an async host copy into a capturing stream (recorded through the pinned range's mirror, or refused) */
CUresult avec_capture_host_copy(CUstream s, int ptsz, uint64_t dev, const void *host, size_t n, int to_host,
                                int *handled);
/* graph-host.c: pinned host memory used by graphs, through mirrors */
CUresult avec_graph_host_mirror(uint64_t host, uint64_t size, uint64_t *mirror);
void avec_graph_host_note(uint64_t owner, uint64_t dptr, uint64_t size, int writes);
void avec_graph_host_copy(uint64_t from, uint64_t to);
void avec_graph_host_adopt(uint64_t graph);
void avec_graph_host_release(uint64_t owner);
void avec_graph_host_launch(uint64_t exec);
void avec_user_objects_copy(uint64_t from, uint64_t to); /* user-object.c: a clone/exec holds what its graph holds */
void avec_user_objects_release(uint64_t owner);          /* a graph or exec is gone */
int avec_event_valid(CUevent e);

/* ---- memory --------------------------------------------------------------------------------------- */
extern avec_range_table avec_device_ranges; /* allocations and module globals */
extern avec_range_table avec_host_ranges;   /* pinned / registered host memory */
int avec_is_device_ptr(uint64_t p);
/* Records device memory the server handed out (kind AVEC_RANGE_*; pool: see avec_range.pool). */
void avec_track_device(uint64_t dptr, uint64_t size, uint32_t kind, CUcontext ctx, void *pool);
void avec_reserve_device_range(uint64_t base, uint64_t size, uint32_t *flags);
void avec_release_reservation(const avec_range *r);
/* CUDA_ERROR_INVALID_VALUE unless [p, p+n) lies in one known device range. */
CUresult avec_check_dev(uint64_t p, uint64_t n);
/* Linear copies (memory.c), also used by the 2D/3D paths; ptds: NULL stream = per-thread default. */
CUresult avec_htod(CUdeviceptr dst, const void *src, size_t n, int async, CUstream s, int ptds);
CUresult avec_dtoh(void *dst, CUdeviceptr src, size_t n, int async, CUstream s, int ptds);

/* ---- mapped host memory (mapped.c): device-side mirrors of mapped pinned memory ---------------------- */
CUresult avec_mapped_device_ptr(uint64_t host, uint64_t *dptr); /* makes the mirror on first use */
CUresult avec_mapped_mirror(uint64_t host, uint64_t *dptr, int send); /* the same, `send` as avec_mapped_add's */
CUresult avec_dtod_untracked(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s, int ptds); /* memory.c */
uint64_t avec_mapped_host_of(uint64_t dptr);                    /* 0 unless dptr lies in a mirror */
/* Device work is about to touch mirrors: a launch (mirrors its packed parameters point into) or a range. */
void avec_mapped_host_params(uint8_t *params, size_t n); /* pinned host addresses -> their mirrors' */
void avec_mapped_launch(const uint8_t *params, size_t n);
void avec_mapped_range(uint64_t dptr, uint64_t n, int reads, int writes);
/* Maps anonymous memory at exactly [base, base + len) where nothing is mapped yet: 0, else -1 (memory.c). */
int avec_map_at(uint64_t base, uint64_t len, int prot, int flags);
void avec_mapped_after_sync(void);    /* read back what the device may have written */
void avec_mapped_before_wait(int waits); /* host writes to small mirrors go to the running device work */
int avec_mapped_any(void);            /* a mirror (mapped or managed memory) was ever made */
extern int avec_ipc_used;            /* an IPC handle was made or opened in this process (ipc.c) */
void avec_mapped_settle(uint64_t dptr, uint64_t n); /* same, for the mirrors a synchronous write covered */
void avec_mapped_release(uint64_t host);
/* Around a host function that runs while the device waits (host-callbacks.c): device-written mirrors are
 * read into host memory before it, host changes sent after it, through `io` (0 on success). */
typedef int (*avec_mirror_io)(uint64_t dptr, void *host, uint64_t n, int to_device, void *arg);
void avec_mapped_callback_before(avec_mirror_io io, void *arg);
void avec_mapped_callback_after(avec_mirror_io io, void *arg);
/* ---- host functions inside remote streams and graphs (host-callbacks.c) ---- */
/* The opaque id the server sees for (fn, data): the same pair always gets the same id (never 0). */
uint64_t avec_hostfn_id(CUhostFn fn, void *data);
int avec_hostfn_lookup(uint64_t id, CUhostFn *fn, void **data); /* 0 when known */
/* Opens the callback connection once (CUDA_SUCCESS), or says why host functions cannot run remotely. */
CUresult avec_callbacks_ready(void);
/* Registers a mirror (managed memory: host == dptr; owns_device: free dptr with it). Both sides must start
 * equal: `send` sends the host bytes, else the caller made them equal. */
#define AVEC_MIRROR_SEND_LATER 2 /* avec_mapped_add's `send`: 1 now, 0 never needed, this: at first device use */
CUresult avec_mapped_add(uint64_t host, uint64_t dptr, uint64_t size, int owns_device, int send);
CUresult avec_mapped_zero(uint64_t dptr, uint64_t size); /* a fresh mirror's device side, ordered with write_now */
CUresult avec_mapped_add_symbol(uint64_t dptr, uint64_t size); /* a __managed__ variable (host == dptr) */
CUresult avec_managed_symbol(uint64_t dptr, uint64_t size);    /* maps its host side here (managed.c) */
/* Managed memory (managed.c): is p inside a managed allocation; its host side goes with cuMemFree. */
int avec_is_managed(uint64_t p);
void avec_managed_free(uint64_t base);
/* A host-to-device copy without the mapped-memory hooks. */
CUresult avec_htod_raw(CUdeviceptr dst, const void *src, size_t n);
/* A device-to-host copy without the mapped-memory hooks (mapped.c reads mirrors back with it). */
CUresult avec_dtoh_raw(void *dst, CUdeviceptr src, size_t n);

/* ---- memory pools (mempool.c) --------------------------------------------------------------------- */
#define AVEC_MAGIC_POOL 0x41504f4cu
struct CUmemPoolHandle_st {
  uint32_t magic;
  uint32_t handle;  /* wire handle: 1..N default pools of the server's devices, else client-chosen */
  int device;       /* visible ordinal */
  unsigned handle_types; /* CUmemPoolProps.handleTypes (what it may be exported as) */
  int imported;     /* another process's pool (cuMemPoolImportFromShareableHandle): pointers are imported */
};
int avec_pool_valid(CUmemoryPool p);
CUmemoryPool avec_pool_current(int dev); /* what cuMemAllocAsync allocates from on that device */
uint32_t avec_pool_wire(CUmemoryPool p);
/* A CUmemLocation that names a visible device: its ordinal, else -1. */
int avec_location_device(const CUmemLocation *loc);
/* Logs once that requested shareable OS handle types are not offered (allocations are made without). */
void avec_note_handle_types(unsigned types, const char *what);

/* ---- POSIX-fd shareable handles (shareable.c) ------------------------------------------------------ */
int avec_share_offered(void); /* the server offered AVEC_FEATURE_SHAREABLE_FD */
/* SHARE_EXPORT of an allocation or pool (AVEC_SHARE_*): a new sealed memfd holding the token, in *(int *)out. */
CUresult avec_shareable_export(uint32_t kind, uint32_t handle, CUmemAllocationHandleType type, void *out);
/* SHARE_IMPORT of the token in the program's fd `shareable` under the new client handle `handle`. */
CUresult avec_shareable_import(uint32_t kind, void *shareable, CUmemAllocationHandleType type, uint32_t handle,
                           avec_share_import_reply *rep);
/* The visible ordinal of a server device (0 when it is not visible). */
int avec_visible_of_wire(uint32_t wire_dev);

/* ---- CUDA arrays (arrays.c, memcpy-array.c) and texture/surface objects (texture.c) ------------------ */
#define AVEC_MAGIC_ARRAY 0x41415252u
#define AVEC_MAGIC_MIPMAP 0x414d4950u
struct CUarray_st {
  uint32_t magic;
  uint32_t handle;
  CUDA_ARRAY3D_DESCRIPTOR desc;
  struct CUmipmappedArray_st *mipmap; /* a level of this mipmapped array (destroyed with it) */
};
struct CUmipmappedArray_st {
  uint32_t magic;
  uint32_t handle;
  CUDA_ARRAY3D_DESCRIPTOR desc;
  unsigned levels;
  CUarray *level;                     /* levels handed out so far (NULL until asked for) */
};
int avec_array_valid(CUarray a);
int avec_mipmap_valid(CUmipmappedArray m);
/* Laid-out shape of an array: bytes per row, rows per slice, slices; 0 when the format is not one we lay out. */
uint64_t avec_array_shape(CUarray a, uint64_t *rows, uint64_t *slices);
/* A 3D copy (2D: Depth 1) with a CUDA array on at least one side. */
/* The driver's rule for a linear side of a 2D/3D copy: a pitch, when given, holds the row from its x offset
 * (pitch >= WidthInBytes + XInBytes), and a slice height, when given, the rows from y (the runtime passes
 * array-element offsets of the linear side scaled to bytes, so a box past the row is refused, not wrapped). */
static inline int avec_copy_side_fits(uint64_t pitch, uint64_t height, uint64_t x, uint64_t y, uint64_t width,
                                      uint64_t rows) {
  return (!pitch || (x <= pitch && width <= pitch - x)) && (!height || (y <= height && rows <= height - y));
}
CUresult avec_memcpy_array(const CUDA_MEMCPY3D *p, int async, CUstream s, int ptds);

/* ---- modules and functions ------------------------------------------------------------------------ */
typedef struct avec_param { uint32_t offset, size; } avec_param;

struct CUfunc_st {
  uint32_t magic;
  uint32_t handle;
  uint32_t kind;          /* AVEC_SYMBOL_* */
  struct CUmod_st *module;
  char *name;
  int32_t attrs[AVEC_FUNC_ATTR_SLOTS];
  uint32_t num_params;
  avec_param *params;
  uint32_t param_bytes;   /* end of the last parameter */
  uint32_t generation;    /* module generation the handle belongs to (see avec_func_refresh) */
  int params_unknown;     /* server could not tell the layout (AVEC_PARAMS_UNKNOWN): launches carry none */
  struct CUfunc_st *next; /* in the module's list */
};
struct CUkern_st { struct CUfunc_st f; };

struct CUmod_st {
  uint32_t magic;
  uint32_t handle;
  uint32_t kind;          /* AVEC_MODULE_KIND_* */
  uint8_t hash[32];
  void *image;            /* kept for a lazy upload: our copy, or the caller's if it lies in a loaded object */
  int owned;              /* image is our copy */
  size_t size;
  pthread_mutex_t lock;
  struct CUfunc_st *funcs;
  struct avec_global *globals; /* GET_GLOBAL answers, cached (runtimes ask on every symbol copy) */
  uint32_t generation;    /* avec_reset_generation when the server last loaded it under `handle` */
  char **names;           /* kernel names from the server (MODULE_KERNEL_NAMES), asked once, under `lock` */
  int nnames;
};

typedef struct avec_global {
  char *name;
  uint64_t dptr, size;
  int managed; /* a __managed__ variable: its host side is mapped at dptr (managed.c) */
  struct avec_global *next;
} avec_global;
struct CUlib_st { struct CUmod_st m; };

struct CUfunc_st *avec_func_from(CUfunction f); /* validates; accepts a CUkernel cast to CUfunction */
/* Size of a module image: fatbin (16 + fatSize), fatbin wrapper, ELF, or NUL-terminated PTX. 0 = unknown. */
size_t avec_image_size(const void *image, const void **start);

/* Kernel names readable from an image (uncompressed ELF or PTX). Returns the count (names in *out, free
 * with avec_free_names) or -1 when the image cannot be read client-side. */
int avec_image_kernel_names(const void *image, size_t len, char ***out);
void avec_free_names(char **v, int n);
/* A MODULE_KERNEL_NAMES reply (avec_kernel_names + names, LEN bytes in all) into names (free with
 * avec_free_names). Returns the count, or -1 for a malformed or oversized reply. */
int avec_kernel_names_decode(const void *reply, size_t len, char ***out);
int avec_module_valid(const struct CUmod_st *m);
/* A library after a primary-context reset is loaded again (new handle) before it is next used. */
CUresult avec_module_refresh(struct CUmod_st *m);
/* A synchronous request about a module, with the NEED_IMAGE upload and one retry (see module.c). */
CUresult avec_module_call(uint16_t op, struct CUmod_st *m, const void *req, size_t req_len, const void *tail,
                          size_t tail_len, void *reply, size_t cap, size_t *got);
/* cuModuleGetFunction / cuLibraryGetKernel (kind AVEC_SYMBOL_*): one GET_FUNCTION per name, then cached. */
CUresult avec_get_function(struct CUfunc_st **out, struct CUmod_st *m, const char *name, uint32_t kind);
/* A primary-context reset: libraries (context-independent in CUDA) are loaded again under fresh handles
 * when next used, their kernels fetched again, and cached globals (per context) forgotten. */
void avec_modules_after_reset(void);
int avec_module_known(const void *p);
/* Forget cached occupancy answers: something that changes a function's resources was set. */
void avec_occupancy_invalidate(void);
CUresult avec_func_refresh(struct CUfunc_st *f);
/* attrs and params are the server's once it described the function (params is set then); a kernel of a
 * library taken with no context current is described at its first use */
static inline CUresult avec_func_described(struct CUfunc_st *f) {
  return f->params ? CUDA_SUCCESS : avec_func_refresh(f);
}

/* ---- launches ------------------------------------------------------------------------------------- */
/* Packs `void **args` at the function's parameter offsets. Returns bytes used or -1. */
int avec_pack_params(const struct CUfunc_st *f, void **args, void **extra, uint8_t *out, size_t cap);
/* Launch geometry against device limits and the function's attributes; CUDA_ERROR_INVALID_VALUE if off. */
CUresult avec_check_geometry(const struct CUfunc_st *f, const int32_t *dev_attrs, const unsigned grid[3],
                             const unsigned block[3], unsigned smem);

/* AVEC_LOG=debug: crashes print a native backtrace (crash-trace.c). */
void avec_crash_trace_install(void);

/* ---- devices (for the integrity digest) ----------------------------------------------------------- */
int avec_device_count(void);

#endif
