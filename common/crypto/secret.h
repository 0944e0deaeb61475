// Handling of secret bytes: zeroing on release and constant-time comparison.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace clawos::crypto {

// Overwrites memory in a way the compiler may not elide.
void SecureZero(void* data, size_t size);

// True when a and b are equal; time depends only on the lengths.
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);

// A byte buffer that wipes itself when destroyed. Move-only.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(const uint8_t* data, size_t size) : bytes_(data, data + size) {}
  ~SecretBytes() { Wipe(); }
  SecretBytes(SecretBytes&& o) noexcept : bytes_(std::move(o.bytes_)) { o.bytes_.clear(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      Wipe();
      bytes_ = std::move(o.bytes_);
      o.bytes_.clear();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  std::span<const uint8_t> span() const { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  SecretBytes Copy() const { return SecretBytes(bytes_); }

 private:
  void Wipe() {
    if (!bytes_.empty()) SecureZero(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  std::vector<uint8_t> bytes_;
};

}  // namespace clawos::crypto
