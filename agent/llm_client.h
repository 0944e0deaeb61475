// One HTTP/1.1 POST to the in-guest inference endpoint (plain TCP to
// 127.0.0.1, Connection: close), for `clawos-agent run`.
#pragma once

#include <string>

namespace clawos::agent {

struct HttpReply {
  int status = 0;
  std::string body;
  std::string error;  // set when there is no reply at all
};

HttpReply PostJson(int port, const std::string& path, const std::string& body, int timeout_s);

}  // namespace clawos::agent
