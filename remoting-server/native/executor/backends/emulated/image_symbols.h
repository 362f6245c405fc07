// What the emulated device can tell about a module image without a driver: whether a symbol is named
// in its uncompressed parts (ELF cubins, PTX text, inside a fat binary or bare) and a global's size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace avec {

enum class Lookup { found, absent, unknown };

// `unknown` when part of the image is compressed (or not a format we read) and the name was not found
// in the readable parts.
Lookup image_find_function(const uint8_t* image, size_t len, const std::string& name);
// Globals: size from the ELF symbol table; `unknown` when no readable ELF names it.
Lookup image_find_global(const uint8_t* image, size_t len, const std::string& name, uint64_t* size);

}  // namespace avec
