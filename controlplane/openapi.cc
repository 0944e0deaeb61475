#include "controlplane/openapi.h"

namespace clawos::controlplane {

const std::string& OpenApiJson() {
  static const std::string kDoc =
#include "openapi.inc"
      ;
  return kDoc;
}

}  // namespace clawos::controlplane
