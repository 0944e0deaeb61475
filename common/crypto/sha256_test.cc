#include "common/crypto/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/crypto/encoding.h"
#include "common/files.h"

namespace clawos::crypto {
namespace {

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(HexEncode(Sha256Of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256Of("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, StreamingEqualsOneShotAndResets) {
  std::string data(3 * 1000 + 17, 'x');
  Sha256 h;
  for (size_t i = 0; i < data.size(); i += 100) h.Update(std::string_view(data).substr(i, 100));
  EXPECT_EQ(h.Final(), Sha256Of(data));
  h.Update("abc");
  EXPECT_EQ(h.Final(), Sha256Of("abc"));
}

TEST(Sha256Test, HashesFilesAndReportsMissing) {
  std::string path = ::testing::TempDir() + "/sha_" + std::to_string(getpid());
  std::string data(3 << 20, 'a');  // spans several 1 MiB reads
  ASSERT_TRUE(WriteFileAtomic(path, data, 0600).ok());
  auto d = Sha256File(path);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, Sha256Of(data));
  unlink(path.c_str());
  EXPECT_EQ(Sha256File(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos::crypto
