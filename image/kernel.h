// The guest kernel: Debian's cloud kernel package, fetched with
// `apt-get download` into a cache and unpacked with `dpkg -x` — never
// installed on the host.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace clawos::image {

struct GuestKernel {
  std::string package;  // linux-image-6.1.0-NN-cloud-amd64
  std::string package_version;
  std::string version;  // 6.1.0-NN-cloud-amd64 (the modules directory)
  std::string root;     // the unpacked package
  std::string bzimage() const { return root + "/boot/vmlinuz-" + version; }
};

// `package` may be the metapackage (linux-image-cloud-amd64); it is resolved
// to the versioned package it depends on. Downloads go to <cache>/debs and
// unpacked trees to <cache>/kernels; both are reused.
absl::StatusOr<GuestKernel> FetchKernel(const std::string& package, const std::string& cache_dir);

// The modules (and their dependencies, in load order) as paths relative to
// the kernel's modules directory. Built-in modules are skipped.
absl::StatusOr<std::vector<std::string>> ModuleLoadOrder(const GuestKernel& kernel,
                                                         const std::vector<std::string>& modules);

// The uncompressed ELF inside a bzImage (its LZ4 payload), for PVH boots.
absl::Status ExtractVmlinux(const std::string& bzimage, const std::string& out_path);

}  // namespace clawos::image
