// clawos-openapi-gen DESCRIPTOR_SET OUT: writes the REST API's OpenAPI
// document (openapi_doc.h) from protoc's descriptor set (with source info,
// for the comments). Run by the build; exits 1 with the reason on error.
// clawos-openapi-gen --operation-ids: the operation ids the document must
// hold, read straight from the methods' options (test/openapi/run.sh).
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/rest/services.h"
#include "controlplane/openapi_doc.h"
#include "google/api/annotations.pb.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--operation-ids") {
    for (const auto* s : clawos::rest::RestServices()) {
      for (int i = 0; i < s->method_count(); ++i) {
        if (s->method(i)->options().HasExtension(google::api::http)) {
          std::cout << s->name() << "_" << s->method(i)->name() << "\n";
        }
      }
    }
    std::cout << "Healthz\nReadyz\nMetrics\nOpenApi\n";
    return 0;
  }
  if (argc != 3) {
    std::cerr << "usage: clawos-openapi-gen DESCRIPTOR_SET OUT\n";
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  google::protobuf::FileDescriptorSet set;
  if (!in || !set.ParseFromString(bytes.str())) {
    std::cerr << "clawos-openapi-gen: cannot read the descriptor set " << argv[1] << "\n";
    return 1;
  }
  auto doc = clawos::controlplane::OpenApiDocument(clawos::rest::RestServices(), set);
  if (!doc.ok()) {
    std::cerr << "clawos-openapi-gen: " << doc.status().message() << "\n";
    return 1;
  }
  std::ofstream out(argv[2], std::ios::trunc);
  out << *doc << "\n";
  if (!out.good()) {
    std::cerr << "clawos-openapi-gen: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
