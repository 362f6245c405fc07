// CUDA arrays, mipmapped arrays, texture and surface objects: the session's tables, the checks that keep
// every copy inside the arrays and allocations of this session, and the memory limit. An array is charged
// at its laid-out size (width * element bytes * rows * slices, all levels for a mipmapped array; formats
// the server does not lay out are estimated at 16 bytes per element): the driver's own padding and
// alignment are not seen, so the account is approximate (docs/protocol.md).
#include <algorithm>
#include <cstring>

#include "array_layout.h"
#include "log.h"
#include "session.h"

namespace avec {

namespace {
// Bytes an array (all levels of a mipmapped one) counts against the session's limit; false on overflow.
bool array_charge(const avec_array_desc& d, uint64_t* out) {
  if (array_total_bytes(d, out)) return true;
  if (d.width == 0 || array_elem_bytes(d.format, d.channels) != 0) return false;  // a known format that overflows
  uint64_t n = d.width, h = d.height ? d.height : 1, z = d.depth ? d.depth : 1;
  uint32_t levels = d.levels > 1 ? 2 : 1;  // a mipmap chain is at most twice its first level
  return !__builtin_mul_overflow(n, h, &n) && !__builtin_mul_overflow(n, z, &n) &&
         !__builtin_mul_overflow(n, 16ull * levels, out);
}
}  // namespace

uint32_t Session::array_create(const avec_frame_hdr& h, const avec_array_create& c) {
  bool mip = h.opcode == AVEC_OP_MIPMAP_CREATE;
  if (c.handle == 0 || arrays_.count(c.handle) || mipmaps_.count(c.handle)) return CUDA_ERROR_INVALID_VALUE;
  if (mip ? c.desc.levels == 0 : c.desc.levels != 0) return CUDA_ERROR_INVALID_VALUE;
  uint64_t bytes = 0;
  if (c.desc.width == 0 || !array_charge(c.desc, &bytes)) return CUDA_ERROR_INVALID_VALUE;
  if (table_full("arrays", arrays_.size() + mipmaps_.size())) return CUDA_ERROR_OUT_OF_MEMORY;
  refresh_pool_reserved();
  if (!allocs_.fits(bytes)) {
    AVEC_LOG(info, "memory_limit").unum("requested", bytes).unum("used", allocs_.used()).unum("limit", limit_);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  BH be = 0;
  uint32_t r = mip ? be_.mipmap_create(c.desc, &be) : be_.array_create(c.desc, &be);
  if (r) return r;
  if (mip) mipmaps_[c.handle] = MipmapEntry{be, c.desc, bytes, h.ctx};
  else arrays_[c.handle] = ArrayEntry{be, c.desc, bytes, 0, h.ctx};
  allocs_.charge(bytes);
  return CUDA_SUCCESS;
}

uint32_t Session::array_side(uint32_t handle, uint64_t x, uint64_t y, uint64_t z, const avec_array_copy& m,
                             CopySide* out) {
  auto it = arrays_.find(handle);
  if (it == arrays_.end()) return CUDA_ERROR_INVALID_HANDLE;
  const avec_array_desc& d = it->second.desc;
  ArrayShape s;
  uint32_t elem = array_elem_bytes(d.format, d.channels);
  // A format the server does not lay out (real driver only): the driver checks the region itself.
  if (elem && (!array_shape(d, 0, &s) || !array_region_ok(s, elem, x, y, z, m.width, m.height, m.depth)))
    return CUDA_ERROR_INVALID_VALUE;
  out->kind = CopySide::Kind::array;
  out->array = it->second.be;
  out->x = x;
  out->y = y;
  out->z = z;
  return CUDA_SUCCESS;
}

// Linear device memory: every byte the copy touches lies inside one allocation of this session.
uint32_t Session::linear_side(uint64_t base, uint64_t pitch, uint64_t height, uint64_t x, uint64_t y, uint64_t z,
                              const avec_array_copy& m, CopySide* out) {
  if (m.height > 1 || m.depth > 1) {
    if (pitch < m.width) return CUDA_ERROR_INVALID_VALUE;
  } else if (pitch == 0) {
    pitch = m.width;
  }
  if (m.depth > 1 && height < m.height) return CUDA_ERROR_INVALID_VALUE;
  // the driver's rule: the pitch holds the row from x, the slice height the rows from y (where they are used;
  // the client fills in unspecified ones)
  if (((m.height > 1 || m.depth > 1) && (x > pitch || m.width > pitch - x)) ||
      (m.depth > 1 && (y > height || m.height > height - y)))
    return CUDA_ERROR_INVALID_VALUE;
  uint64_t slice = 0, start = 0, span = 0, t = 0, at = 0;
  bool bad = __builtin_mul_overflow(pitch, height, &slice) || __builtin_mul_overflow(z, slice, &start) ||
             __builtin_mul_overflow(y, pitch, &t) || __builtin_add_overflow(start, t, &start) ||
             __builtin_add_overflow(start, x, &start) || __builtin_mul_overflow(m.depth - 1, slice, &span) ||
             __builtin_mul_overflow(m.height - 1, pitch, &t) || __builtin_add_overflow(span, t, &span) ||
             __builtin_add_overflow(span, m.width, &span) || __builtin_add_overflow(base, start, &at);
  if (bad || !range_ok(at, span)) return CUDA_ERROR_INVALID_VALUE;
  out->kind = CopySide::Kind::device;
  out->dptr = base;
  out->pitch = pitch;
  out->height = height;
  out->x = x;
  out->y = y;
  out->z = z;
  return CUDA_SUCCESS;
}

// HTOA (`in`: the frame's packed bytes), ATOH (`out`: packed bytes for the reply) and device-side copies.
uint32_t Session::array_copy(const avec_frame_hdr& h, const avec_array_copy& m, const uint8_t* in, uint8_t* out) {
  bool async = (h.flags & AVEC_F_ASYNC) != 0;
  BH s = 0;
  uint32_t r = stream(async ? m.stream : AVEC_STREAM_LEGACY, &s);
  if (r) return r;
  if (m.width == 0 || m.height == 0 || m.depth == 0) return CUDA_SUCCESS;
  Copy3D c;
  c.width = m.width;
  c.height = m.height;
  c.depth = m.depth;
  CopySide packed;
  packed.kind = CopySide::Kind::host;
  packed.pitch = m.width;
  packed.height = m.height;
  if (h.opcode == AVEC_OP_MEMCPY_HTOA) {
    if (!m.dst_array) return CUDA_ERROR_INVALID_VALUE;
    packed.host = const_cast<uint8_t*>(in);
    c.src = packed;
  } else if (m.src_array) {
    r = array_side(m.src_array, m.src_x, m.src_y, m.src_z, m, &c.src);
  } else {
    r = linear_side(m.src, m.src_pitch, m.src_height, m.src_x, m.src_y, m.src_z, m, &c.src);
  }
  if (r) return r;
  if (h.opcode == AVEC_OP_MEMCPY_ATOH) {
    if (!m.src_array) return CUDA_ERROR_INVALID_VALUE;
    packed.host = out;
    c.dst = packed;
  } else if (m.dst_array) {
    r = array_side(m.dst_array, m.dst_x, m.dst_y, m.dst_z, m, &c.dst);
  } else if (h.opcode == AVEC_OP_MEMCPY_ARRAY && m.src_array) {
    r = linear_side(m.dst, m.dst_pitch, m.dst_height, m.dst_x, m.dst_y, m.dst_z, m, &c.dst);
  } else {
    r = CUDA_ERROR_INVALID_VALUE;  // MEMCPY_ARRAY between two linear sides is MEMCPY2D_DTOD's job
  }
  if (r) return r;
  return be_.memcpy3d(c, s, async);
}

uint32_t Session::resource(const avec_resource_desc& d, bool surface, Resource* out) {
  out->desc = d;
  switch (d.type) {
    case CU_RESOURCE_TYPE_ARRAY: {
      auto it = arrays_.find(d.handle);
      if (it == arrays_.end()) return CUDA_ERROR_INVALID_HANDLE;
      out->object = it->second.be;
      return CUDA_SUCCESS;
    }
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY: {
      auto it = mipmaps_.find(d.handle);
      if (surface || it == mipmaps_.end()) return surface ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_INVALID_HANDLE;
      out->object = it->second.be;
      return CUDA_SUCCESS;
    }
    case CU_RESOURCE_TYPE_LINEAR: {
      // Only the base must be this session's: a texture may span past its allocation, as the driver allows
      // (cuda-samples' convolutionFFT2D does); reads through it are no wider than a kernel's own pointers.
      if (surface || !array_elem_bytes(d.format, d.channels) || d.width == 0 || !range_ok(d.dptr, 1))
        return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    }
    case CU_RESOURCE_TYPE_PITCH2D: {
      uint64_t row;
      uint32_t elem = array_elem_bytes(d.format, d.channels);
      if (surface || !elem || d.width == 0 || d.height == 0 || __builtin_mul_overflow(d.width, (uint64_t)elem, &row) ||
          !range_ok(d.dptr, 1))
        return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

bool Session::arrays_sync(const FrameView& v, uint32_t* rp) {
  const avec_frame_hdr& h = v.hdr;
  uint32_t& r = *rp;
  switch (h.opcode) {
    case AVEC_OP_ARRAY_CREATE:
    case AVEC_OP_MIPMAP_CREATE:
      r = array_create(h, v.fixed<avec_array_create>());
      return false;
    case AVEC_OP_MIPMAP_GET_LEVEL: {
      avec_mipmap_level q = v.fixed<avec_mipmap_level>();
      auto mm = mipmaps_.find(q.mipmap);
      if (mm == mipmaps_.end()) { r = CUDA_ERROR_INVALID_HANDLE; return false; }
      if (q.handle == 0 || arrays_.count(q.handle) || mipmaps_.count(q.handle) || q.level >= mm->second.desc.levels) {
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      if (table_full("arrays", arrays_.size() + mipmaps_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      avec_array_desc_reply out = {};
      BH be = 0;
      if ((r = be_.mipmap_level(mm->second.be, q.level, &be, &out.desc))) return false;
      out.desc.levels = 0;
      arrays_[q.handle] = ArrayEntry{be, out.desc, 0, q.mipmap, mm->second.ctx};
      return reply(h, &out, sizeof out);
    }
    case AVEC_OP_MEMCPY_ATOH: {
      avec_array_copy m = v.fixed<avec_array_copy>();
      uint64_t rows, total;
      // one reply frame: the client asks for at most a chunk at a time
      if (__builtin_mul_overflow(m.height, m.depth, &rows) || __builtin_mul_overflow(m.width, rows, &total) ||
          total > AVEC_MAX_PAYLOAD - sizeof(avec_reply_hdr)) {
        r = CUDA_ERROR_INVALID_VALUE;
        return false;
      }
      std::vector<uint8_t> data(total);
      if ((r = array_copy(h, m, nullptr, data.data()))) return false;
      avec_reply_hdr rh = {CUDA_SUCCESS, 0};
      return reply(h, &rh, sizeof rh, data.data(), data.size());
    }
    case AVEC_OP_TEX_CREATE:
    case AVEC_OP_SURF_CREATE: {
      bool surface = h.opcode == AVEC_OP_SURF_CREATE;
      avec_tex_create c = v.fixed<avec_tex_create>();
      if (table_full("textures", texobjs_.size() + surfobjs_.size())) { r = CUDA_ERROR_OUT_OF_MEMORY; return false; }
      if (surface != !c.has_tex || (surface && c.has_view)) { r = CUDA_ERROR_INVALID_VALUE; return false; }
      Resource res;
      if ((r = resource(c.res, surface, &res))) return false;
      uint64_t obj = 0;
      r = surface ? be_.surf_create(res, &obj) : be_.tex_create(res, c.tex, c.has_view ? &c.view : nullptr, &obj);
      if (r) return false;
      (surface ? surfobjs_ : texobjs_)[obj] = h.ctx;
      return reply_u64(h, obj);
    }
    default:
      r = CUDA_ERROR_NOT_SUPPORTED;
      return false;
  }
}

uint32_t Session::arrays_async(const FrameView& v) {
  const avec_frame_hdr& h = v.hdr;
  switch (h.opcode) {
    case AVEC_OP_ARRAY_DESTROY: {
      auto it = arrays_.find(v.fixed<avec_handle>().handle);
      if (it == arrays_.end()) return CUDA_ERROR_INVALID_HANDLE;
      if (it->second.mipmap) return CUDA_ERROR_INVALID_VALUE;  // a level goes with its mipmapped array
      uint32_t r = be_.array_destroy(it->second.be);
      if (r) return r;
      allocs_.uncharge(it->second.charged);
      arrays_.erase(it);
      return CUDA_SUCCESS;
    }
    case AVEC_OP_MIPMAP_DESTROY: {
      uint32_t handle = v.fixed<avec_handle>().handle;
      auto it = mipmaps_.find(handle);
      if (it == mipmaps_.end()) return CUDA_ERROR_INVALID_HANDLE;
      uint32_t r = be_.mipmap_destroy(it->second.be);
      if (r) return r;
      for (auto a = arrays_.begin(); a != arrays_.end();) a = a->second.mipmap == handle ? arrays_.erase(a) : std::next(a);
      allocs_.uncharge(it->second.charged);
      mipmaps_.erase(it);
      return CUDA_SUCCESS;
    }
    case AVEC_OP_MEMCPY_HTOA:
      return array_copy(h, v.fixed<avec_array_copy>(), v.tail, nullptr);
    case AVEC_OP_MEMCPY_ARRAY: {
      avec_array_copy m = v.fixed<avec_array_copy>();
      if (!m.src_array && !m.dst_array) return CUDA_ERROR_INVALID_VALUE;
      return array_copy(h, m, nullptr, nullptr);
    }
    case AVEC_OP_TEX_DESTROY:
    case AVEC_OP_SURF_DESTROY: {
      bool surface = h.opcode == AVEC_OP_SURF_DESTROY;
      auto& table = surface ? surfobjs_ : texobjs_;
      auto it = table.find(v.fixed<avec_u64>().value);
      if (it == table.end()) return CUDA_ERROR_INVALID_VALUE;
      uint32_t r = surface ? be_.surf_destroy(it->first) : be_.tex_destroy(it->first);
      table.erase(it);
      return r;
    }
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

void Session::drop_ctx_arrays(uint32_t ctx) {
  for (auto it = texobjs_.begin(); it != texobjs_.end();) {
    if (it->second == ctx) { be_.tex_destroy(it->first); it = texobjs_.erase(it); } else ++it;
  }
  for (auto it = surfobjs_.begin(); it != surfobjs_.end();) {
    if (it->second == ctx) { be_.surf_destroy(it->first); it = surfobjs_.erase(it); } else ++it;
  }
  for (auto it = arrays_.begin(); it != arrays_.end();) {
    if (it->second.ctx != ctx) { ++it; continue; }
    if (!it->second.mipmap) be_.array_destroy(it->second.be);
    allocs_.uncharge(it->second.charged);
    it = arrays_.erase(it);
  }
  for (auto it = mipmaps_.begin(); it != mipmaps_.end();) {
    if (it->second.ctx != ctx) { ++it; continue; }
    be_.mipmap_destroy(it->second.be);
    allocs_.uncharge(it->second.charged);
    it = mipmaps_.erase(it);
  }
}

void Session::arrays_forget() {
  for (auto& a : arrays_) allocs_.uncharge(a.second.charged);
  for (auto& m : mipmaps_) allocs_.uncharge(m.second.charged);
  arrays_.clear();
  mipmaps_.clear();
  texobjs_.clear();
  surfobjs_.clear();
}

}  // namespace avec
