// The shape of a CUDA array as both the session (bounds, memory accounting) and the emulated device
// (linear storage) see it: rows of width * element bytes, max(height, 1) rows per slice, max(depth, 1)
// slices (the layers of layered and cubemap arrays count as slices). Pure functions.
#pragma once
#include <cuda.h>

#include <cstdint>

#include "avec_wire.h"

namespace avec {

// Bytes of one element (all channels); 0 when the format (avec_array_format_bytes) or the channel count is
// not one we lay out.
inline uint32_t array_elem_bytes(uint32_t format, uint32_t channels) {
  if (channels != 1 && channels != 2 && channels != 4) return 0;
  return avec_array_format_bytes(format) * channels;
}

struct ArrayShape {
  uint64_t row_bytes = 0;  // width * element bytes
  uint64_t rows = 0;       // rows per slice
  uint64_t slices = 0;     // depth or layers
  uint64_t bytes = 0;      // row_bytes * rows * slices
};

// The shape of level `level` (0: the array itself): width and height halve per level (at least 1); depth
// halves for 3D arrays, not for layers. False when a dimension overflows or the element size is unknown.
inline bool array_shape(const avec_array_desc& d, uint32_t level, ArrayShape* out) {
  uint32_t elem = array_elem_bytes(d.format, d.channels);
  if (!elem || d.width == 0 || level >= 64) return false;
  bool layered = (d.flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP)) != 0;
  uint64_t w = d.width >> level, h = d.height >> level, z = layered ? d.depth : d.depth >> level;
  w = w ? w : 1;
  h = d.height == 0 ? 1 : (h ? h : 1);
  z = d.depth == 0 ? 1 : (z ? z : 1);
  ArrayShape s;
  s.rows = h;
  s.slices = z;
  if (__builtin_mul_overflow(w, (uint64_t)elem, &s.row_bytes) || __builtin_mul_overflow(s.row_bytes, h, &s.bytes) ||
      __builtin_mul_overflow(s.bytes, z, &s.bytes))
    return false;
  *out = s;
  return true;
}

// Whether a descriptor is one the driver accepts by shape: 1D (height 0, depth 0), 2D (depth 0), 3D, layered
// (1D layered: height 0), cubemap (square, 6 faces; layered: a multiple of 6), mipmapped (levels within the
// largest dimension's halvings; no 1D-layered-only quirks checked further).
inline bool array_desc_valid(const avec_array_desc& d) {
  ArrayShape s;
  if (!array_shape(d, 0, &s)) return false;
  bool layered = (d.flags & CUDA_ARRAY3D_LAYERED) != 0, cube = (d.flags & CUDA_ARRAY3D_CUBEMAP) != 0;
  if (cube) {
    if (d.width != d.height || d.depth == 0 || (layered ? d.depth % 6 != 0 : d.depth != 6)) return false;
  } else if (d.height == 0 && d.depth != 0 && !layered) {
    return false;
  } else if (layered && d.depth == 0) {
    return false;
  }
  if (d.levels > 1) {
    uint64_t m = d.width > d.height ? d.width : d.height;
    if (!layered && !cube && d.depth > m) m = d.depth;
    uint32_t max_levels = 1;
    while (m >>= 1) max_levels++;
    if (d.levels > max_levels) return false;
  }
  return true;
}

// Total bytes of all levels (levels 0 or 1: the array alone); false on overflow or an unknown format.
inline bool array_total_bytes(const avec_array_desc& d, uint64_t* out) {
  uint64_t total = 0;
  uint32_t n = d.levels ? d.levels : 1;
  for (uint32_t l = 0; l < n; l++) {
    ArrayShape s;
    if (!array_shape(d, l, &s) || __builtin_add_overflow(total, s.bytes, &total)) return false;
  }
  *out = total;
  return true;
}

// A copy region (x in bytes, y rows, z slices; width bytes, height rows, depth slices) inside an array of
// that shape, whole elements only.
inline bool array_region_ok(const ArrayShape& s, uint32_t elem, uint64_t x, uint64_t y, uint64_t z, uint64_t width,
                            uint64_t height, uint64_t depth) {
  uint64_t xe, ye, ze;
  if (__builtin_add_overflow(x, width, &xe) || __builtin_add_overflow(y, height, &ye) ||
      __builtin_add_overflow(z, depth, &ze))
    return false;
  if (elem && (x % elem || width % elem)) return false;
  return xe <= s.row_bytes && ye <= s.rows && ze <= s.slices;
}

}  // namespace avec
