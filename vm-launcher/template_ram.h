// A template's guest RAM in host memory: a memfd. While the template boots,
// its VMM maps it shared and writes it; then it is sealed (no write, no
// resize, no further seals), and every VM restored from the template maps it
// private copy-on-write, so that the pages no VM has written are one copy in
// the page cache for all of them. A sealed memfd can be opened read-write by
// a jailed VMM (QEMU 7.2 insists on O_RDWR) and still never be written.
// Saved to and loaded from a sparse file: only the pages the guest touched.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace clawos::launcher {

class TemplateRam {
 public:
  // A new, zero-filled, writable memfd of `bytes`.
  static absl::StatusOr<std::unique_ptr<TemplateRam>> Create(const std::string& name,
                                                             int64_t bytes);
  // A sealed memfd holding the sparse file `path` (`bytes` long); its
  // SHA-256 (of all `bytes`, holes as zeros) must be `sha256_hex`, else DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<TemplateRam>> Load(const std::string& name,
                                                           const std::string& path, int64_t bytes,
                                                           const std::string& sha256_hex);
  ~TemplateRam();
  TemplateRam(const TemplateRam&) = delete;
  TemplateRam& operator=(const TemplateRam&) = delete;

  int fd() const { return fd_; }
  int64_t bytes() const { return bytes_; }
  // Allocates all of it (zeros where the guest wrote nothing) and seals it
  // for good (fails while a writable shared mapping exists). The memfd then
  // holds the guest's whole memory size, once per template, and VMs
  // restored from it never add pages to it.
  absl::Status Seal();
  // Writes the data regions (SEEK_DATA/SEEK_HOLE) to a new sparse file
  // `path` (0600, synced); returns the hex SHA-256 of the whole content.
  absl::StatusOr<std::string> Save(const std::string& path) const;
  // Bytes of data (not holes) it holds.
  int64_t DataBytes() const;

 private:
  TemplateRam(int fd, int64_t bytes) : fd_(fd), bytes_(bytes) {}
  int fd_;
  int64_t bytes_;
};

}  // namespace clawos::launcher
