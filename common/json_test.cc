#include "common/json.h"

#include <gtest/gtest.h>

namespace clawos::json {
namespace {

TEST(JsonTest, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::json j{{"path", "/\xff"}, {"ok", "caf\xc3\xa9"}};
  EXPECT_ANY_THROW((void)j.dump()) << "what nlohmann does by default";
  std::string out = Dump(j);
  EXPECT_EQ(out, "{\"ok\":\"caf\xc3\xa9\",\"path\":\"/\xEF\xBF\xBD\"}");
  EXPECT_EQ(Dump(j, 2).find('\n') != std::string::npos, true);
}

TEST(JsonTest, TypedReadsNeverThrow) {
  auto j = nlohmann::json::parse(
      R"({"s":"x","b":true,"i":-3,"u":18446744073709551615,"f":1.5,"big":9223372036854775807,"n":null})");
  EXPECT_EQ(String(j, "s"), "x");
  EXPECT_EQ(String(j, "b"), std::nullopt);
  EXPECT_EQ(Bool(j, "b"), true);
  EXPECT_EQ(Bool(j, "i"), std::nullopt) << "1 is not true";
  EXPECT_EQ(Int(j, "i"), -3);
  EXPECT_EQ(Int(j, "u"), std::nullopt) << "past int64";
  EXPECT_EQ(Int(j, "f"), std::nullopt);
  EXPECT_EQ(Int(j, "b"), std::nullopt);
  EXPECT_EQ(Int(j, "big"), 9223372036854775807);
  EXPECT_EQ(Int(j, "missing"), std::nullopt);
  EXPECT_EQ(Member(j, "n")->is_null(), true);
  for (const char* not_object : {"[1]", "\"s\"", "3", "null"}) {
    auto v = nlohmann::json::parse(not_object);
    EXPECT_EQ(Member(v, "s"), nullptr);
    EXPECT_EQ(String(v, "s"), std::nullopt);
    EXPECT_EQ(Int(v, "s"), std::nullopt);
  }
}

}  // namespace
}  // namespace clawos::json
