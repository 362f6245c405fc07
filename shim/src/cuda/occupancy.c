/* Occupancy queries, forwarded to the server (AVEC_OP_OCCUPANCY) and answered from its driver, once: an answer
 * depends only on the function, the context, the query's arguments and the settings that change a function's
 * resources (function and kernel attributes, cache configurations), so it is kept until one of those changes
 * (avec_occupancy_invalidate). cuDNN asks the same query before every convolution it runs (ResNet-50: 34 round
 * trips per request before the cache, bench/results/2026-12-03-h200-run12-*). */
#include <string.h>

#include "shim_cuda.h"

/* ---- occupancy (forwarded once, then cached) ------------------------------------------------------------- */
typedef struct occ_answer {
  const struct CUfunc_st *fn;
  CUcontext ctx;
  uint32_t handle, fgen, gen, kind, block, flags;
  uint64_t smem, value;
} occ_answer;
#define OCC_SLOTS 1024
static occ_answer occ_cache[OCC_SLOTS];
static uint32_t occ_gen = 1; /* 0 marks an empty slot */
static pthread_mutex_t occ_lock = PTHREAD_MUTEX_INITIALIZER;

void avec_occupancy_invalidate(void) {
  pthread_mutex_lock(&occ_lock);
  occ_gen = occ_gen + 1 ? occ_gen + 1 : 1;
  pthread_mutex_unlock(&occ_lock);
}

static occ_answer *occ_slot(const occ_answer *k) {
  uint64_t h = (uintptr_t)k->fn ^ (uint64_t)k->kind << 3 ^ (uint64_t)k->block << 17 ^ (uint64_t)k->flags << 29 ^
               k->smem << 7 ^ (uintptr_t)k->ctx >> 4;
  return &occ_cache[(h * 0x9E3779B97F4A7C15ull) >> 54]; /* 10 bits */
}

static CUresult occupancy(struct CUfunc_st *fn, uint32_t kind, uint32_t block, uint32_t flags, uint64_t smem,
                          uint64_t *value) {
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  if ((r = avec_func_refresh(fn))) return r;
  pthread_mutex_lock(&occ_lock);
  occ_answer k = {fn, ctx, fn->handle, fn->generation, occ_gen, kind, block, flags, smem, 0};
  occ_answer *slot = occ_slot(&k);
  int hit = slot->gen == k.gen && slot->fn == fn && slot->ctx == ctx && slot->handle == k.handle &&
            slot->fgen == k.fgen && slot->kind == kind && slot->block == block && slot->flags == flags &&
            slot->smem == smem;
  if (hit) *value = slot->value;
  pthread_mutex_unlock(&occ_lock);
  if (hit) return CUDA_SUCCESS;
  avec_occupancy a = {fn->handle, kind, block, flags, smem};
  struct { avec_reply_hdr h; avec_u64 v; } rep = {0};
  r = avec_call(AVEC_OP_OCCUPANCY, 0, &a, sizeof a, &rep, sizeof rep);
  if (r) return r;
  *value = k.value = rep.v.value;
  pthread_mutex_lock(&occ_lock);
  if (k.gen == occ_gen) *occ_slot(&k) = k; /* nothing changed while the question was out */
  pthread_mutex_unlock(&occ_lock);
  return CUDA_SUCCESS;
}

AVEC_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *n, CUfunction f, int block, size_t smem,
                                                                       unsigned flags) {
  uint64_t v;
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  CUresult r = occupancy(avec_func_from(f), AVEC_OCC_MAX_ACTIVE_BLOCKS, (uint32_t)block, flags, smem, &v);
  if (!r) *n = (int)v;
  return r;
}
AVEC_API CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t smem) {
  return cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(n, f, block, smem, 0);
}
AVEC_API CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *size, CUfunction f, int numBlocks, int block) {
  uint64_t v;
  if (!size) return CUDA_ERROR_INVALID_VALUE;
  /* numBlocks travels in the flags field (see avec_wire.h, AVEC_OCC_AVAILABLE_DSMEM) */
  CUresult r = occupancy(avec_func_from(f), AVEC_OCC_AVAILABLE_DSMEM, (uint32_t)block, (uint32_t)numBlocks, 0, &v);
  if (!r) *size = (size_t)v;
  return r;
}

static CUresult potential(int *grid, int *block, CUfunction f, CUoccupancyB2DSize fn, size_t smem, int limit,
                          unsigned flags) {
  uint64_t v;
  if (!grid || !block) return CUDA_ERROR_INVALID_VALUE;
  struct CUfunc_st *func = avec_func_from(f);
  if (!func) return CUDA_ERROR_INVALID_HANDLE;
  /* A per-block-size shared memory callback cannot run remotely: evaluate it once at the largest block. */
  if (fn) {
    int b = limit > 0 ? limit : func->attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
    smem = fn(b > 0 ? b : 1024);
  }
  CUresult r = occupancy(func, AVEC_OCC_MAX_POTENTIAL_BLOCK, (uint32_t)limit, flags, smem, &v);
  if (!r) {
    *grid = (int)(v >> 32);
    *block = (int)(v & 0xffffffffu);
  }
  return r;
}
AVEC_API CUresult cuOccupancyMaxPotentialBlockSize(int *grid, int *block, CUfunction f, CUoccupancyB2DSize fn,
                                                   size_t smem, int limit) {
  return potential(grid, block, f, fn, smem, limit, 0);
}
AVEC_API CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *grid, int *block, CUfunction f,
                                                            CUoccupancyB2DSize fn, size_t smem, int limit,
                                                            unsigned flags) {
  return potential(grid, block, f, fn, smem, limit, flags);
}

/* cuOccupancyMaxActiveClusters: forwarded (AVEC_OCC_MAX_ACTIVE_CLUSTERS) through occupancy(), so its answers
 * are kept like the others (cuBLASLt asks once per GEMM shape); a server without that kind answers
 * CUDA_ERROR_INVALID_VALUE and the answer is estimated as floor(SMs / cluster size) x blocks per SM from the
 * block occupancy (clusters cannot span GPCs, so this may exceed the truth for large clusters). */
AVEC_API CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction f, const CUlaunchConfig *config) {
  struct CUfunc_st *fn = avec_func_from(f);
  if (!numClusters || !config) return CUDA_ERROR_INVALID_VALUE;
  if (!fn) return CUDA_ERROR_INVALID_HANDLE;
  CUcontext ctx;
  CUresult r = avec_ctx_require(&ctx);
  if (r) return r;
  uint32_t cluster = 0, dims = 0; /* blocks per cluster, and the dimensions packed for the server */
  for (unsigned i = 0; i < config->numAttrs; i++)
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      cluster = config->attrs[i].value.clusterDim.x * config->attrs[i].value.clusterDim.y *
                config->attrs[i].value.clusterDim.z;
      dims = (config->attrs[i].value.clusterDim.x & 0xff) | (config->attrs[i].value.clusterDim.y & 0xff) << 8 |
             (config->attrs[i].value.clusterDim.z & 0xff) << 16;
    }
  if (!cluster && fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH] > 0)
    cluster = (uint32_t)(fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH] *
                         (fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT] > 0 ? fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT] : 1) *
                         (fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH] > 0 ? fn->attrs[CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH] : 1));
  if (!cluster) cluster = 1;
  uint32_t block = config->blockDimX * config->blockDimY * config->blockDimZ;
  uint64_t exact = 0;
  int value;
  r = occupancy(fn, AVEC_OCC_MAX_ACTIVE_CLUSTERS, block, dims, config->sharedMemBytes, &exact);
  if (r == CUDA_SUCCESS) {
    value = (int)exact;
  } else if (r == CUDA_ERROR_INVALID_VALUE) {
    uint64_t per_sm = 0;
    r = occupancy(fn, AVEC_OCC_MAX_ACTIVE_BLOCKS, block, 0, config->sharedMemBytes, &per_sm);
    if (r) return r;
    int sms = avec_sess.dev[ctx->device].attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
    value = (int)((uint64_t)(sms > 0 ? sms : 1) / cluster * per_sm);
    LOG_DEBUG("cuOccupancyMaxActiveClusters estimated locally: %d (cluster %u, %llu blocks/SM)", value, cluster,
              (unsigned long long)per_sm);
  } else {
    return r;
  }
  *numClusters = value;
  return CUDA_SUCCESS;
}
