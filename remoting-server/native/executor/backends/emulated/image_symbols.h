// What the emulated device can tell about a module image without a driver: whether a symbol is named
// in its uncompressed parts (ELF cubins, PTX text, inside a fat binary or bare) and a global's size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace avec {

enum class Lookup { found, absent, unknown };

// `unknown` when part of the image is compressed (or not a format we read) and the name was not found
// in the readable parts.
Lookup image_find_function(const uint8_t* image, size_t len, const std::string& name);
// Globals: size from the ELF symbol table, and whether it is a __managed__ variable (st_other 0x4, as nvcc
// 13.0 marks them); `unknown` when no readable ELF names it.
Lookup image_find_global(const uint8_t* image, size_t len, const std::string& name, uint64_t* size,
                         bool* managed = nullptr);

// Kernel names (CUDA entry functions of an ELF cubin, `.entry` of PTX) of the first readable part of the
// image (the parts of a fat binary are the same kernels for different targets). False when no part can
// be read (compressed, or not a format we read).
bool image_kernel_names(const uint8_t* image, size_t len, std::vector<std::string>* names);

// Parameter layout of kernel `name`, (offset, size) by ordinal, from the EIATTR_KPARAM_INFO records
// (attribute 0x17) of its `.nv.info.NAME` section in the first ELF cubin that has one. False when none
// does (PTX only, compressed) or the records are malformed.
bool image_kernel_params(const uint8_t* image, size_t len, const std::string& name,
                         std::vector<std::pair<uint32_t, uint32_t>>* params);

}  // namespace avec
