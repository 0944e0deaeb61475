// Test helper: the rest of an upstream call's body, up to the first error.
#pragma once

#include <string>

#include "inference-proxy/upstream.h"

namespace clawos::proxy::testing {

inline std::string ReadAll(UpstreamCall& c) {
  std::string all;
  bool done = false;
  while (!done) {
    auto piece = c.Read(&done);
    if (!piece.ok()) break;
    all += *piece;
  }
  return all;
}

}  // namespace clawos::proxy::testing
