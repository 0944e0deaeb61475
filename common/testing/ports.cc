#include "common/testing/ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

namespace clawos::testing {

int FreeLoopbackPort(int socktype) {
  int fd = socket(AF_INET, socktype | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sa);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(fd);
  return port;
}

namespace {

bool LoopbackPortIsFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

}  // namespace

int FreeStackPort() {
  for (int i = 0; i < 200; ++i) {
    int p = FreeLoopbackPort();
    if (p > 8080 && p + 363 < 65536 && LoopbackPortIsFree(p + 1) && LoopbackPortIsFree(p + 363)) {
      return p;
    }
  }
  return 0;
}

}  // namespace clawos::testing
