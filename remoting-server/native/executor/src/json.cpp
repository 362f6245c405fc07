#include "json.h"

#include <cerrno>
#include <cstdlib>

namespace avec {
namespace {

struct Parser {
  const std::string& s;
  size_t p = 0;
  int depth = 0;

  void ws() {
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) p++;
  }
  bool lit(const char* w) {
    size_t n = 0;
    while (w[n]) n++;
    if (s.compare(p, n, w) != 0) return false;
    p += n;
    return true;
  }
  static void utf8(std::string* o, unsigned cp) {
    if (cp < 0x80) o->push_back((char)cp);
    else if (cp < 0x800) { o->push_back((char)(0xC0 | (cp >> 6))); o->push_back((char)(0x80 | (cp & 0x3F))); }
    else if (cp < 0x10000) {
      o->push_back((char)(0xE0 | (cp >> 12))); o->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      o->push_back((char)(0x80 | (cp & 0x3F)));
    } else {
      o->push_back((char)(0xF0 | (cp >> 18))); o->push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
      o->push_back((char)(0x80 | ((cp >> 6) & 0x3F))); o->push_back((char)(0x80 | (cp & 0x3F)));
    }
  }
  bool hex4(unsigned* out) {
    if (p + 4 > s.size()) return false;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
      char c = s[p++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return false;
    }
    *out = v;
    return true;
  }
  bool string(std::string* o) {
    if (p >= s.size() || s[p] != '"') return false;
    p++;
    while (p < s.size()) {
      unsigned char c = (unsigned char)s[p++];
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') { o->push_back((char)c); continue; }
      if (p >= s.size()) return false;
      char e = s[p++];
      switch (e) {
        case '"': o->push_back('"'); break;
        case '\\': o->push_back('\\'); break;
        case '/': o->push_back('/'); break;
        case 'b': o->push_back('\b'); break;
        case 'f': o->push_back('\f'); break;
        case 'n': o->push_back('\n'); break;
        case 'r': o->push_back('\r'); break;
        case 't': o->push_back('\t'); break;
        case 'u': {
          unsigned cp;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            unsigned lo;
            if (p + 2 > s.size() || s[p] != '\\' || s[p + 1] != 'u') return false;
            p += 2;
            if (!hex4(&lo) || lo < 0xDC00 || lo >= 0xE000) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return false;
          }
          utf8(o, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }
  bool number(Json* v) {
    size_t b = p;
    if (p < s.size() && s[p] == '-') p++;
    if (p >= s.size() || s[p] < '0' || s[p] > '9') return false;
    if (s[p] == '0') p++;
    else while (p < s.size() && s[p] >= '0' && s[p] <= '9') p++;
    bool integral = true;
    if (p < s.size() && s[p] == '.') {
      integral = false;
      p++;
      if (p >= s.size() || s[p] < '0' || s[p] > '9') return false;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') p++;
    }
    if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
      integral = false;
      p++;
      if (p < s.size() && (s[p] == '+' || s[p] == '-')) p++;
      if (p >= s.size() || s[p] < '0' || s[p] > '9') return false;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') p++;
    }
    std::string t = s.substr(b, p - b);
    v->type = Json::Type::number;
    v->num = strtod(t.c_str(), nullptr);
    if (integral) {
      errno = 0;
      long long x = strtoll(t.c_str(), nullptr, 10);
      v->integral = errno == 0;
      v->i = x;
    }
    return true;
  }
  bool value(Json* v) {
    if (++depth > 32) return false;
    ws();
    if (p >= s.size()) return false;
    char c = s[p];
    bool ok;
    if (c == '{') {
      p++;
      v->type = Json::Type::object;
      ws();
      ok = true;
      if (p < s.size() && s[p] == '}') { p++; }
      else {
        for (;;) {
          ws();
          std::string k;
          if (!string(&k)) { ok = false; break; }
          ws();
          if (p >= s.size() || s[p] != ':') { ok = false; break; }
          p++;
          Json child;
          if (!value(&child)) { ok = false; break; }
          v->obj[k] = std::move(child);
          ws();
          if (p < s.size() && s[p] == ',') { p++; continue; }
          if (p < s.size() && s[p] == '}') { p++; break; }
          ok = false;
          break;
        }
      }
    } else if (c == '[') {
      p++;
      v->type = Json::Type::array;
      ws();
      ok = true;
      if (p < s.size() && s[p] == ']') { p++; }
      else {
        for (;;) {
          Json child;
          if (!value(&child)) { ok = false; break; }
          v->arr.push_back(std::move(child));
          ws();
          if (p < s.size() && s[p] == ',') { p++; continue; }
          if (p < s.size() && s[p] == ']') { p++; break; }
          ok = false;
          break;
        }
      }
    } else if (c == '"') {
      v->type = Json::Type::string;
      ok = string(&v->str);
    } else if (c == 't') {
      v->type = Json::Type::boolean; v->b = true; ok = lit("true");
    } else if (c == 'f') {
      v->type = Json::Type::boolean; ok = lit("false");
    } else if (c == 'n') {
      ok = lit("null");
    } else {
      ok = number(v);
    }
    depth--;
    return ok;
  }
};

}  // namespace

bool json_parse(const std::string& text, Json* out) {
  Parser ps{text};
  *out = Json();
  if (!ps.value(out)) return false;
  ps.ws();
  return ps.p == text.size();
}

}  // namespace avec
