// bench_verity: our dm-verity hash-tree build against `veritysetup format`
// on the same file, same salt and UUID, in the same run. Prints both times,
// the ratio (veritysetup time / ours: above 1.0 means we are faster) and
// checks that the root hashes are identical.
//
//   build/bench/bench_verity [--mib 256] [--rounds 3] [--threads 0]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/process.h"
#include "image/verity.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr char kSalt[] = "5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17c0ffee5a17";
constexpr char kUuid[] = "8d2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b";

double Seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  int mib = 256, rounds = 3, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--mib")) mib = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/clawos_bench_verity_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string data = dir + "/data.img";
  {
    std::mt19937_64 rng(42);
    std::string block(1 << 20, '\0');
    FILE* f = std::fopen(data.c_str(), "wb");
    for (int m = 0; m < mib; ++m) {
      for (size_t i = 0; i < block.size(); i += 8) {
        uint64_t v = rng();
        std::memcpy(&block[i], &v, 8);
      }
      std::fwrite(block.data(), 1, block.size(), f);
    }
    std::fclose(f);
  }
  clawos::image::VerityParams p;
  p.salt = clawos::crypto::HexDecode(kSalt).value();
  std::string uuid_hex;
  for (char c : std::string(kUuid)) {
    if (c != '-') uuid_hex += c;
  }
  auto u = clawos::crypto::HexDecode(uuid_hex).value();
  std::copy(u.begin(), u.end(), p.uuid.begin());
  p.threads = threads;

  // Warm the page cache so both read from memory.
  clawos::RunChecked({"cat", data}).IgnoreError();
  double best_ours = 1e9, best_theirs = 1e9;
  std::string ours_root, theirs_root;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = Clock::now();
    auto tree = clawos::image::VerityFormat(data, dir + "/ours.hash", p);
    best_ours = std::min(best_ours, Seconds(t0));
    if (!tree.ok()) {
      std::fprintf(stderr, "ours failed: %s\n", std::string(tree.status().message()).c_str());
      return 1;
    }
    ours_root = clawos::crypto::HexEncode(tree->root_hash);
    t0 = Clock::now();
    auto out = clawos::RunChecked(
        {"veritysetup", "format", data, dir + "/theirs.hash", "--salt", kSalt, "--uuid", kUuid});
    best_theirs = std::min(best_theirs, Seconds(t0));
    if (!out.ok()) {
      std::fprintf(stderr, "veritysetup failed: %s\n", std::string(out.status().message()).c_str());
      return 1;
    }
    size_t at = out->find("Root hash:");
    theirs_root = out->substr(out->find_first_of("0123456789abcdef", at + 10), 64);
  }
  bool same_file = clawos::ReadFile(dir + "/ours.hash").value_or("a") ==
                   clawos::ReadFile(dir + "/theirs.hash").value_or("b");
  std::filesystem::remove_all(dir);
  std::printf("dm-verity format of %d MiB (sha256, 4096-byte blocks), best of %d\n", mib, rounds);
  std::printf("  veritysetup format (baseline)   %7.3f s  %7.0f MiB/s\n", best_theirs,
              mib / best_theirs);
  std::printf("  clawos VerityFormat             %7.3f s  %7.0f MiB/s  ratio %.2fx\n", best_ours,
              mib / best_ours, best_theirs / best_ours);
  std::printf("  root hash identical: %s; hash file identical: %s\n",
              ours_root == theirs_root ? "yes" : "NO", same_file ? "yes" : "NO");
  return ours_root == theirs_root && same_file ? 0 : 1;
}
