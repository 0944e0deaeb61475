// CEF round trip through the real parser: thousands of events whose strings
// are random (|, \, =, CR, LF, tab, NUL, other controls, spaces at either end,
// long values, multi-byte UTF-8 and emoji, invalid UTF-8, empty), formatted by
// FormatCef and parsed back in one batch by liblognorm's lognormalizer with
// the project's rulebase (deploy/rsyslog/clawos-cef.rb). Every header field
// and extension value must come back as the formatter documents: the value
// itself, with invalid UTF-8 and NUL as U+FFFD (and line breaks as spaces in
// the header). The seed is printed; CLAWOS_CEF_SEED=<n> replays a run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/grpc_util.h"
#include "common/process.h"
#include "common/utf8.h"
#include "monitor/cef.h"

namespace clawos::monitor {
namespace {

namespace pb = ::clawos::monitor::v1;
using json = nlohmann::json;

constexpr char kLognormalizer[] = "/usr/bin/lognormalizer";
constexpr char kRulebase[] = CLAWOS_SOURCE_DIR "/deploy/rsyslog/clawos-cef.rb";
constexpr int kEvents = 5000;

// Pieces a value is built from, chosen to trip an escaper or a parser.
const std::vector<std::string>& Pieces() {
  static const auto* pieces = new std::vector<std::string>{
      "|", "\\", "=", "\r", "\n", "\r\n", "\t", " ", "  ", std::string(1, '\0'), "\x01", "\x1b[31m",
      "\x7f", "\\n", "\\r", "\\=", "\\\\", "\\|", " k=v", " cs1=x", "=\\", "a", "Z", "0", "-",
      "/tmp/x", "agents/a", "CEF:0|", "é", "☃", "😀", "日本語", "\xc2\x80", "\xc2\x9f",
      "\xef\xbf\xbd",
      "\xf4\x8f\xbf\xbf",  // U+10FFFF
      // invalid UTF-8: a lone continuation, a cut sequence, overlong, surrogate, > U+10FFFF
      "\x80", "\xff", "\xc3", "\xe2\x98", "\xf0\x9f\x98", "\xc0\xaf", "\xe0\x80\xaf",
      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xfe"};
  return *pieces;
}

std::string RandomValue(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> pick(0, 99);
  int shape = pick(rng);
  if (shape < 6) return "";
  size_t pieces = shape < 70 ? 1 + rng() % 8 : shape < 97 ? 8 + rng() % 60 : 300 + rng() % 1200;
  std::string out;
  if (pick(rng) < 10) out += std::string(1 + rng() % 3, ' ');  // spaces at the start
  for (size_t i = 0; i < pieces; ++i) {
    if (pick(rng) < 40) {
      out += static_cast<char>(0x20 + rng() % 95);  // printable ASCII
    } else if (pick(rng) < 5) {
      out += static_cast<char>(rng() % 256);  // any byte
    } else {
      out += Pieces()[rng() % Pieces().size()];
    }
  }
  if (pick(rng) < 10) out += std::string(1 + rng() % 3, ' ');  // and at the end
  return out;
}

pb::Event RandomEvent(std::mt19937_64& rng, uint64_t sequence) {
  static constexpr pb::Event::Kind kKinds[] = {pb::Event::SYSCALL, pb::Event::PROCESS_FORK,
                                               pb::Event::PROCESS_EXEC, pb::Event::PROCESS_EXIT};
  pb::Event e;
  e.set_sequence(sequence);
  e.set_kind(kKinds[rng() % 4]);
  e.set_severity(static_cast<pb::Severity>(rng() % 5));
  *e.mutable_time() = ToProtoTime(absl::FromUnixMillis(1700000000000 + rng() % 100000000000));
  e.set_pid(static_cast<int32_t>(rng()));
  e.set_tid(static_cast<int32_t>(rng()));
  e.set_uid(static_cast<uint32_t>(rng()));
  e.set_child_pid(static_cast<int32_t>(rng()));
  e.set_exit_code(static_cast<int32_t>(rng()));
  e.mutable_syscall()->set_at_entry(rng() % 4 == 0);
  e.mutable_syscall()->set_return_value(static_cast<int64_t>(rng()));
  for (std::string* s :
       {e.mutable_rule(), e.mutable_target(), e.mutable_vm(), e.mutable_agent_subject(),
        e.mutable_comm(), e.mutable_filename(), e.mutable_llm_request_id(), e.mutable_action(),
        e.mutable_syscall()->mutable_name(), e.mutable_syscall()->mutable_args_summary()}) {
    *s = RandomValue(rng);
  }
  for (int n = rng() % 4; n > 0; --n) e.add_argv(RandomValue(rng));
  return e;
}

// What the formatter documents a value becomes: valid UTF-8, NUL as U+FFFD.
std::string Text(std::string_view s) {
  std::string out;
  for (char c : ToValidUtf8(s)) {
    if (c == '\0') {
      out += "\xEF\xBF\xBD";
    } else {
      out += c;
    }
  }
  return out;
}
// In the header, line breaks are spaces too.
std::string Header(std::string_view s) {
  std::string out = Text(s);
  for (char& c : out) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

// The header fields and extension values FormatCef documents for `e`.
std::map<std::string, std::string> Expected(const pb::Event& e, const std::string& host) {
  std::map<std::string, std::string> x;
  std::string sig = "unknown", name = "unknown";
  switch (e.kind()) {
    case pb::Event::SYSCALL:
      sig = "syscall:" + e.syscall().name();
      name = absl::StrCat(e.syscall().name(), " by ", e.comm());
      x["cn1"] = e.syscall().at_entry() ? "" : std::to_string(e.syscall().return_value());
      x["msg"] = e.syscall().args_summary();
      break;
    case pb::Event::PROCESS_FORK:
      sig = "process:fork";
      name = "fork by " + e.comm();
      x["cn3"] = std::to_string(e.child_pid());
      break;
    case pb::Event::PROCESS_EXEC:
      sig = "process:exec";
      name = "exec " + e.filename();
      break;
    case pb::Event::PROCESS_EXIT:
      sig = "process:exit";
      name = "exit of " + e.comm();
      x["cn3"] = std::to_string(e.exit_code());
      break;
    default:
      break;
  }
  if (!e.rule().empty()) name = absl::StrCat(e.rule(), ": ", name);
  x["SignatureID"] = Header(sig);
  x["Name"] = Header(name);
  x["Severity"] = std::to_string(CefSeverity(e.severity()));
  x["rt"] = std::to_string(absl::ToUnixMillis(FromProtoTime(e.time())));
  x["dvchost"] = host;
  x["externalId"] = std::to_string(e.sequence());
  x["act"] = e.action();
  x["suser"] = e.agent_subject();
  x["cs1"] = e.vm();
  x["cs2"] = e.target();
  x["cs3"] = e.rule();
  x["cs4"] = absl::StrJoin(e.argv(), " ");
  x["cs5"] = e.llm_request_id();
  x["dproc"] = e.comm();
  x["dpid"] = std::to_string(e.pid());
  x["cn2"] = std::to_string(e.tid());
  x["duid"] = std::to_string(e.uid());
  x["fname"] = e.filename();
  for (auto& [k, v] : x) {
    if (k != "SignatureID" && k != "Name") v = Text(v);
  }
  return x;
}

// `s` quoted and escaped for a failure message, whatever its bytes.
std::string Quoted(const std::string& s) {
  return json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The parsed record's value for `key`: a header field or an extension ("" if absent).
std::string Got(const json& cef, const std::string& key) {
  const json& from = cef.contains(key) ? cef : cef["Extensions"];
  return from.contains(key) && from[key].is_string() ? from[key].get<std::string>() : "";
}

TEST(CefRoundTripTest, RandomValuesComeBackFromLognormalizer) {
  if (!std::filesystem::exists(kLognormalizer)) {
    GTEST_SKIP() << "SKIPPED: " << kLognormalizer
                 << " is missing (apt-get install liblognorm-utils)";
  }
  const char* env = std::getenv("CLAWOS_CEF_SEED");
  uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::cout << "seed " << seed << " (CLAWOS_CEF_SEED=" << seed << " replays it)" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE(absl::StrCat("seed ", seed));
  std::mt19937_64 rng(seed);

  std::vector<std::map<std::string, std::string>> expected;
  std::vector<std::string> records;
  std::string input;
  for (int i = 0; i < kEvents; ++i) {
    pb::Event e = RandomEvent(rng, i);
    std::string host = RandomValue(rng);
    expected.push_back(Expected(e, host));
    records.push_back(FormatCef(e, host));
    ASSERT_EQ(records.back().find_first_of(std::string_view("\r\n\0", 3)), std::string::npos)
        << "a record is one line of text: " << Quoted(records.back());
    absl::StrAppend(&input, records.back(), "\n");
  }
  auto r = RunProcess({kLognormalizer, "-r", kRulebase, "-e", "json"},
                      {.stdin_data = input, .timeout = absl::Seconds(60)});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  std::vector<std::string> lines = absl::StrSplit(r->out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), records.size()) << "one parsed record per line";

  int failures = 0;
  for (size_t i = 0; i < lines.size() && failures < 20; ++i) {
    json p = json::parse(lines[i], nullptr, false);
    if (!p.is_object() || !p.contains("cef") || !p["cef"].contains("Extensions")) {
      ++failures;
      ADD_FAILURE() << "record " << i << " not parsed: " << lines[i];
      continue;
    }
    const json& cef = p["cef"];
    EXPECT_EQ(cef["DeviceVendor"], "ClawOS");
    EXPECT_EQ(cef["DeviceProduct"], "clawos-monitor");
    for (const auto& [key, want] : expected[i]) {
      std::string got = Got(cef, key);
      if (got == want) continue;
      ++failures;
      ADD_FAILURE() << "record " << i << " field " << key << ": want " << Quoted(want) << ", got "
                    << Quoted(got) << "\nrecord: " << Quoted(records[i]);
    }
    // Label keys are fixed; nothing beyond the documented keys appears.
    for (const auto& [key, value] : cef["Extensions"].items()) {
      bool known = expected[i].count(key) || absl::EndsWith(key, "Label");
      EXPECT_TRUE(known) << "record " << i << ": unexpected key " << key;
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace clawos::monitor
