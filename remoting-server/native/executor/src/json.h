// A small JSON reader (objects, arrays, strings, numbers, booleans, null) for ticket payloads and the
// shared ticket test vectors. Strict: trailing garbage, bad escapes or depth > 32 fail the parse.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace avec {

struct Json {
  enum class Type { null, boolean, number, string, array, object } type = Type::null;
  bool b = false;
  double num = 0;
  bool integral = false;  // number written without fraction or exponent
  long long i = 0;        // its value when integral and in range
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  const Json* get(const std::string& key) const {
    if (type != Type::object) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &it->second;
  }
};

bool json_parse(const std::string& text, Json* out);

}  // namespace avec
