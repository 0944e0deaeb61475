#include "common/http/sse.h"

#include <algorithm>

namespace clawos::http {
namespace {

constexpr size_t kMaxEvent = 8 << 20;

// The end of the first event in `b` (just past its blank line), or npos.
size_t EventEnd(const std::string& b) {
  size_t lf = b.find("\n\n"), crlf = b.find("\r\n\r\n");
  size_t a = lf == std::string::npos ? std::string::npos : lf + 2;
  size_t c = crlf == std::string::npos ? std::string::npos : crlf + 4;
  return std::min(a, c);
}

SseEvent Parse(std::string_view raw) {
  SseEvent e;
  bool first_data = true;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view line = raw.substr(pos, end - pos);
    pos = end + ((end + 1 < raw.size() && raw[end] == '\r' && raw[end + 1] == '\n') ? 2 : 1);
    if (line.empty() || line[0] == ':') continue;
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "event") {
      e.name = std::string(value);
    } else if (field == "id") {
      e.id = std::string(value);
    } else if (field == "data") {
      if (!first_data) e.data += '\n';
      e.data += value;
      first_data = false;
    }
  }
  return e;
}

}  // namespace

bool SseSplitter::Feed(std::string_view bytes, std::string* error) {
  buffer_.append(bytes);
  for (;;) {
    size_t end = EventEnd(buffer_);
    if (end == std::string::npos) break;
    std::string raw = buffer_.substr(0, end);
    buffer_.erase(0, end);
    sink_(Parse(raw), raw);
  }
  if (buffer_.size() > kMaxEvent) {
    *error = "an event of the stream is over 8 MiB";
    return false;
  }
  return true;
}

}  // namespace clawos::http
