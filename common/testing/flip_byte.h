// Test helper: flips the lowest bit of one byte of a file in place (tamper tests).
#pragma once

#include <fstream>
#include <string>

namespace clawos::testing {

inline void FlipByte(const std::string& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x01));
}

}  // namespace clawos::testing
