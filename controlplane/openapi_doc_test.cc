// The generated OpenAPI document: every annotated method, and nothing else
// beside the four built-in routes, with the protos' comments.
#include "controlplane/openapi_doc.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "common/rest/services.h"

namespace clawos::controlplane {
namespace {

google::protobuf::FileDescriptorSet BuildSet() {
  google::protobuf::FileDescriptorSet set;
  std::ifstream in(CLAWOS_DESCRIPTOR_SET, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_TRUE(set.ParseFromString(bytes.str())) << CLAWOS_DESCRIPTOR_SET;
  return set;
}

TEST(OpenApiDocTest, EveryAnnotatedMethodAndNothingElse) {
  auto doc = OpenApiDocument(rest::RestServices(), BuildSet());
  ASSERT_TRUE(doc.ok()) << doc.status();
  auto j = nlohmann::json::parse(*doc);
  EXPECT_EQ(j["openapi"], "3.0.3");
  std::set<std::string> documented, bound = {"Healthz", "Readyz", "Metrics", "OpenApi"};
  for (const auto& [path, ops] : j["paths"].items()) {
    for (const auto& [verb, op] : ops.items()) documented.insert(op["operationId"]);
  }
  auto bindings = rest::BindingsOf(rest::RestServices());
  ASSERT_TRUE(bindings.ok());
  for (const auto& b : *bindings) {
    bound.insert(b.method->service()->name() + "_" + b.method->name());
  }
  EXPECT_EQ(documented, bound);
  // Methods without an http rule are not in it.
  EXPECT_FALSE(documented.count("LauncherService_WatchVms"));
  EXPECT_FALSE(documented.count("IdentityService_AccessSecret"));
}

TEST(OpenApiDocTest, PathsParametersAndCommentsComeFromTheProtos) {
  auto doc = OpenApiDocument(rest::RestServices(), BuildSet());
  ASSERT_TRUE(doc.ok());
  auto j = nlohmann::json::parse(*doc);
  const auto& start = j["paths"]["/v1/vms/{name}:start"]["post"];
  ASSERT_TRUE(start.is_object()) << j["paths"].dump(1).substr(0, 2000);
  EXPECT_EQ(start["x-clawos-access"], "ADMIN");
  EXPECT_NE(start["description"].get<std::string>().find("Starts a PENDING"), std::string::npos)
      << "the proto's comment, without [trusted]";
  EXPECT_EQ(start["parameters"][0]["in"], "path");
  const auto& logs = j["paths"]["/v1/vms/{name}/logs"]["get"];
  EXPECT_TRUE(logs["responses"]["200"]["content"].contains("text/event-stream"));
  std::set<std::string> query;
  for (const auto& p : logs["parameters"]) query.insert(p["name"].get<std::string>());
  EXPECT_TRUE(query.count("follow") && query.count("tail_lines") && query.count("Last-Event-ID"));
  const auto& vm = j["components"]["schemas"]["clawos.launcher.v1.Vm"];
  ASSERT_TRUE(vm.is_object());
  EXPECT_EQ(vm["properties"]["create_time"]["format"], "date-time");
  EXPECT_EQ(vm["properties"]["cgroup_id"]["type"], "string") << "64-bit integers are strings";
  EXPECT_TRUE(j["paths"]["/healthz"]["get"]["security"].empty());
  EXPECT_FALSE(j["paths"]["/v1/vms"]["get"]["security"].empty());
  // Every $ref points at a schema of the document.
  std::function<void(const nlohmann::json&)> refs = [&](const nlohmann::json& v) {
    if (v.is_object()) {
      if (v.contains("$ref")) {
        std::string r = v["$ref"];
        EXPECT_TRUE(j["components"]["schemas"].contains(r.substr(r.rfind('/') + 1))) << r;
      }
      for (const auto& [k, x] : v.items()) refs(x);
    } else if (v.is_array()) {
      for (const auto& x : v) refs(x);
    }
  };
  refs(j);
}

}  // namespace
}  // namespace clawos::controlplane
