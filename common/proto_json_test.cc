#include "common/proto_json.h"

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <gtest/gtest.h>

#include "common/utf8.h"

namespace clawos {
namespace {

TEST(ProtoJsonTest, APrintableMessageIsItsJson) {
  google::protobuf::Timestamp t;
  t.set_seconds(86400);
  auto json = TryToJson(t);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, "\"1970-01-02T00:00:00Z\"");
  EXPECT_EQ(ToJson(t), *json);
}

TEST(ProtoJsonTest, AMessageWithNoJsonFormIsAnErrorNotEmptyText) {
  google::protobuf::Timestamp t;
  t.set_seconds(int64_t{1} << 50);  // past year 9999
  auto json = TryToJson(t);
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(json.status().message().find("Timestamp"), std::string::npos) << json.status();
  EXPECT_TRUE(IsValidUtf8(std::string(json.status().message())));
  EXPECT_EQ(ToJson(t), "");

  google::protobuf::Duration d;
  d.set_seconds(int64_t{1} << 50);  // past +-10000 years
  EXPECT_FALSE(TryToJson(d).ok());
}

TEST(ProtoJsonTest, FromJsonErrorsAreValidUtf8WhateverTheInput) {
  google::protobuf::Timestamp t;
  auto s = FromJson("\"\xff\xfe not a time\"", &t);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsValidUtf8(std::string(s.message())));
}

}  // namespace
}  // namespace clawos
