// Structured logging: one JSON object per line on stderr, levels error < warn < info < debug.
#pragma once
#include <cstdint>
#include <string>

namespace avec {

enum class LogLevel { off = -1, error = 0, warn = 1, info = 2, debug = 3 };

bool log_level_parse(const std::string& s, LogLevel* out);
void log_set_level(LogLevel level);
bool log_enabled(LogLevel level);
// Fields attached to every line (e.g. the session id); set once per process.
void log_set_context(const std::string& key, const std::string& value);

// Builds one log line; the destructor writes it with a single write(2) so lines from forked children
// never interleave.
class LogLine {
 public:
  LogLine(LogLevel level, const char* event);
  ~LogLine();
  LogLine& str(const char* key, const std::string& value);
  LogLine& num(const char* key, long long value);
  LogLine& unum(const char* key, unsigned long long value);
  LogLine& dbl(const char* key, double value);
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

 private:
  bool on_;
  std::string buf_;
};

std::string json_escape(const std::string& s);

}  // namespace avec

#define AVEC_LOG(level, event) ::avec::LogLine(::avec::LogLevel::level, event)
