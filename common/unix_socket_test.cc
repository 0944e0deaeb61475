#include "common/unix_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/testing/temp_dir.h"

namespace clawos {
namespace {

TEST(UnixSocketTest, ConnectsReportsMissingAndRefusesLongPaths) {
  clawos::testing::TempDir dir;
  std::string path = dir.Sub("s.sock");
  EXPECT_EQ(ConnectUnixSocket(path).status().code(), absl::StatusCode::kNotFound);
  int srv = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(srv, 1), 0);
  auto fd = ConnectUnixSocket(path);
  ASSERT_TRUE(fd.ok()) << fd.status();
  close(*fd);
  close(srv);
  EXPECT_EQ(ConnectUnixSocket("/" + std::string(200, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument)
      << "a long path must not be truncated into another socket's name";
}

}  // namespace
}  // namespace clawos
