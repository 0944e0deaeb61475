// A deterministic newc cpio writer for initramfs images: entries are written
// sorted by path with fixed owners (0:0), a fixed mtime and sequential inode
// numbers, so the same inputs give the same bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"

namespace clawos::image {

class CpioArchive {
 public:
  explicit CpioArchive(int64_t mtime) : mtime_(mtime) {}
  void AddDirectory(const std::string& path, uint32_t mode = 0755);
  void AddFile(const std::string& path, std::string contents, uint32_t mode = 0644);
  void AddSymlink(const std::string& path, const std::string& target);
  void AddCharDevice(const std::string& path, uint32_t major, uint32_t minor, uint32_t mode = 0600);
  // Parent directories of every entry are added implicitly.
  std::string Serialize() const;

 private:
  struct Entry {
    uint32_t mode;  // with type bits
    std::string data;
    uint32_t rdev_major = 0;
    uint32_t rdev_minor = 0;
  };
  void AddParents(const std::string& path);
  int64_t mtime_;
  std::map<std::string, Entry> entries_;
};

}  // namespace clawos::image
