#include "common/http/http1.h"

#include <cctype>
#include <cstdlib>
#include <string_view>

namespace clawos::http {
namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// Whether `head` has CR only before LF, LF only after CR, and no NUL: a
// value holding them would be read one way here and another by the next
// parser (or log line) that sees it.
bool CleanHead(std::string_view head) {
  for (size_t i = 0; i < head.size(); ++i) {
    char c = head[i];
    if (c == '\0' || (c == '\r' && (i + 1 == head.size() || head[i + 1] != '\n')) ||
        (c == '\n' && (i == 0 || head[i - 1] != '\r'))) {
      return false;
    }
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// chunk-size [ chunk-ext ] (RFC 9112 7.1.1): 1 to 16 hex digits (so no
// overflow; no sign, no "0x", no space inside), then nothing, or optional
// spaces or tabs and ";" extensions, which are ignored but may not hold
// control bytes other than tab.
bool ParseChunkSize(const std::string& line, uint64_t* size) {
  size_t i = 0;
  uint64_t v = 0;
  for (; i < line.size() && HexDigit(line[i]) >= 0; ++i) {
    if (i == 16) return false;
    v = v << 4 | static_cast<uint64_t>(HexDigit(line[i]));
  }
  if (i == 0) return false;
  size_t ext = line.find_first_not_of(" \t", i);
  if (ext == std::string::npos) {
    if (i != line.size()) return false;  // whitespace only after ';'
  } else if (line[ext] != ';') {
    return false;
  }
  for (size_t k = i; k < line.size(); ++k) {
    unsigned char c = line[k];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  *size = v;
  return true;
}

// Splits the head into lines; the first goes to `start`, the rest to headers.
Parse ParseHead(const std::string& buf, Head* out, size_t* consumed, std::string* start,
                std::string* error) {
  size_t end = buf.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (buf.size() > kMaxHeadBytes) {
      *error = "the message head is over 64 KiB";
      return Parse::kError;
    }
    return Parse::kNeedMore;
  }
  if (end + 4 > kMaxHeadBytes) {
    *error = "the message head is over 64 KiB";
    return Parse::kError;
  }
  if (!CleanHead(std::string_view(buf).substr(0, end + 4))) {
    *error = "a bare CR or LF, or a NUL, in the message head";
    return Parse::kError;
  }
  size_t pos = buf.find("\r\n");
  *start = buf.substr(0, pos);
  out->headers.clear();
  while (pos < end) {
    size_t next = buf.find("\r\n", pos + 2);
    std::string line = buf.substr(pos + 2, next - pos - 2);
    pos = next;
    size_t colon = line.find(':');
    if (colon == std::string::npos || !IsToken(line.substr(0, colon))) {
      *error = "malformed header line";
      return Parse::kError;
    }
    if (out->headers.size() >= 100) {
      *error = "more than 100 headers";
      return Parse::kError;
    }
    out->headers.emplace_back(line.substr(0, colon), Trim(line.substr(colon + 1)));
  }
  *consumed = end + 4;
  return Parse::kDone;
}

}  // namespace

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsToken(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string("!#$%&'*+-.^_`|~").find(c) != std::string::npos)) {
      return false;
    }
  }
  return true;
}

bool IsSafeRequestId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

std::string FindHeader(const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& name) {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

std::string Head::Get(const std::string& name) const { return FindHeader(headers, name); }

bool Head::Has(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

Parse ParseRequestHead(const std::string& buf, Head* out, size_t* consumed, std::string* error) {
  std::string start;
  Parse p = ParseHead(buf, out, consumed, &start, error);
  if (p != Parse::kDone) return p;
  size_t a = start.find(' '), b = start.rfind(' ');
  if (a == std::string::npos || a == b) {
    *error = "malformed request line";
    return Parse::kError;
  }
  out->method = start.substr(0, a);
  out->target = start.substr(a + 1, b - a - 1);
  out->version = start.substr(b + 1);
  if (!IsToken(out->method) || out->target.empty() || out->target[0] != '/' ||
      out->version.rfind("HTTP/1.", 0) != 0) {
    *error = "malformed request line";
    return Parse::kError;
  }
  return Parse::kDone;
}

Parse ParseResponseHead(const std::string& buf, Head* out, size_t* consumed, std::string* error) {
  std::string start;
  Parse p = ParseHead(buf, out, consumed, &start, error);
  if (p != Parse::kDone) return p;
  if (start.rfind("HTTP/1.", 0) != 0 || start.size() < 12 || start[8] != ' ') {
    *error = "malformed status line";
    return Parse::kError;
  }
  out->version = start.substr(0, 8);
  out->status = std::atoi(start.substr(9, 3).c_str());
  out->reason = start.size() > 13 ? start.substr(13) : "";
  if (out->status < 100 || out->status > 599) {
    *error = "malformed status code";
    return Parse::kError;
  }
  return Parse::kDone;
}

bool IsHopByHop(const std::string& name) {
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                        "trailer", "upgrade", "proxy-authorization", "proxy-authenticate"}) {
    if (EqualsIgnoreCase(name, h)) return true;
  }
  return false;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

bool ChunkedDecoder::Feed(const char* data, size_t n, std::string* out, std::string* error) {
  size_t i = 0;
  while (i < n && state_ != State::kDone) {
    if (state_ == State::kData) {
      size_t take = std::min<uint64_t>(left_, n - i);
      out->append(data + i, take);
      i += take;
      left_ -= take;
      if (left_ == 0) state_ = State::kDataEnd;
      continue;
    }
    char c = data[i++];
    line_ += c;
    if (line_.size() > 4096) {
      *error = "chunk line too long";
      return false;
    }
    if (line_.size() < 2 || line_.compare(line_.size() - 2, 2, "\r\n") != 0) continue;
    std::string line = line_.substr(0, line_.size() - 2);
    line_.clear();
    if (state_ == State::kDataEnd) {
      if (!line.empty()) {
        *error = "chunk data not followed by CRLF";
        return false;
      }
      state_ = State::kSize;
    } else if (state_ == State::kSize) {
      if (!ParseChunkSize(line, &left_)) {
        *error = "malformed chunk size (1 to 16 hex digits, then optional \";\" extensions)";
        return false;
      }
      state_ = left_ == 0 ? State::kTrailer : State::kData;
    } else if (state_ == State::kTrailer) {
      if (line.empty()) state_ = State::kDone;
    }
  }
  return true;
}

}  // namespace clawos::http
