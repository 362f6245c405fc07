#include "log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <vector>

namespace avec {
namespace {
LogLevel g_level = LogLevel::info;
std::vector<std::pair<std::string, std::string>> g_context;
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    case LogLevel::off: return "off";
  }
  return "info";
}
}  // namespace

bool log_level_parse(const std::string& s, LogLevel* out) {
  if (s == "error") *out = LogLevel::error;
  else if (s == "warn") *out = LogLevel::warn;
  else if (s == "info") *out = LogLevel::info;
  else if (s == "debug") *out = LogLevel::debug;
  else return false;
  return true;
}

void log_set_level(LogLevel level) { g_level = level; }
bool log_enabled(LogLevel level) { return static_cast<int>(level) <= static_cast<int>(g_level); }

void log_set_context(const std::string& key, const std::string& value) {
  for (auto& kv : g_context)
    if (kv.first == key) { kv.second = value; return; }
  g_context.emplace_back(key, value);
}

std::string json_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

LogLine::LogLine(LogLevel level, const char* event) : on_(log_enabled(level)) {
  if (!on_) return;
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char ts[64];
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(tv.tv_usec / 1000));
  buf_ = "{\"ts\":\"";
  buf_ += ts;
  buf_ += "\",\"level\":\"";
  buf_ += level_name(level);
  buf_ += "\",\"component\":\"avec-executor\",\"pid\":";
  buf_ += std::to_string(getpid());
  buf_ += ",\"event\":\"";
  buf_ += json_escape(event);
  buf_ += "\"";
  for (auto& kv : g_context) str(kv.first.c_str(), kv.second);
}

LogLine::~LogLine() {
  if (!on_) return;
  buf_ += "}\n";
  ssize_t off = 0, n = static_cast<ssize_t>(buf_.size());
  while (off < n) {
    ssize_t w = write(2, buf_.data() + off, n - off);
    if (w <= 0) break;
    off += w;
  }
}

LogLine& LogLine::str(const char* key, const std::string& value) {
  if (!on_) return *this;
  buf_ += ",\"";
  buf_ += key;
  buf_ += "\":\"";
  buf_ += json_escape(value);
  buf_ += "\"";
  return *this;
}

LogLine& LogLine::num(const char* key, long long value) {
  if (!on_) return *this;
  buf_ += ",\"";
  buf_ += key;
  buf_ += "\":";
  buf_ += std::to_string(value);
  return *this;
}

LogLine& LogLine::unum(const char* key, unsigned long long value) {
  if (!on_) return *this;
  buf_ += ",\"";
  buf_ += key;
  buf_ += "\":";
  buf_ += std::to_string(value);
  return *this;
}

LogLine& LogLine::dbl(const char* key, double value) {
  if (!on_) return *this;
  char b[64];
  snprintf(b, sizeof b, "%.6g", value);
  buf_ += ",\"";
  buf_ += key;
  buf_ += "\":";
  buf_ += b;
  return *this;
}

}  // namespace avec
