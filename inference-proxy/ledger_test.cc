#include "inference-proxy/ledger.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <algorithm>

#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/testing/eventually.h"
#include "common/testing/temp_dir.h"
#include "inference-proxy/audit_log.h"
#include "inference-proxy/ledger_writer.h"

namespace clawos::proxy {
namespace {

LedgerRow Row(const std::string& id, const std::string& subject, absl::Time t, int64_t in,
              int64_t out, Outcome o = Outcome::kSuccess) {
  LedgerRow r;
  r.request_id = id;
  r.time = t;
  r.subject = subject;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.provider = "openai";
  r.model = "gpt-4o-mini";
  r.outcome = o;
  r.http_status = o == Outcome::kSuccess ? 200 : 429;
  r.prompt_tokens = in;
  r.completion_tokens = out;
  r.latency = absl::Milliseconds(12);
  return r;
}

TEST(LedgerTest, RecordsQueriesAndSurvivesReopen) {
  clawos::testing::TempDir dir;
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  {
    auto l = Ledger::Open(dir.Sub("usage.db")).value();
    auto renamed = l->RecordBatch(
        {Row("r1", "agents/a", t0, 10, 5), Row("r2", "agents/a", t0 + absl::Minutes(1), 20, 7),
         Row("r3", "agents/b", t0 + absl::Minutes(2), 1, 1),
         Row("r4", "agents/a", t0 + absl::Minutes(3), 0, 0, Outcome::kRateLimited)});
    ASSERT_TRUE(renamed.ok()) << renamed.status();
    EXPECT_EQ(*renamed, 0);
  }
  auto l = Ledger::Open(dir.Sub("usage.db")).value();  // after a restart
  auto totals = l->Totals("agents/a", t0, t0 + absl::Hours(1));
  ASSERT_TRUE(totals.ok());
  EXPECT_EQ(totals->requests, 3);
  EXPECT_EQ(totals->rejected, 1);
  EXPECT_EQ(totals->prompt_tokens, 30);
  EXPECT_EQ(totals->completion_tokens, 12);
  EXPECT_EQ(l->Totals("", t0, t0 + absl::Hours(1))->requests, 4);
  EXPECT_EQ(l->Totals("agents/a", t0 + absl::Seconds(30), t0 + absl::Hours(1))->requests, 2);
  auto recent = l->Recent("agents/a", t0, 10).value();
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].request_id, "r4") << "newest first";
  EXPECT_EQ(recent[2].latency, absl::Milliseconds(12));
  auto spend = l->SpendSince(t0 + absl::Seconds(30)).value();
  ASSERT_EQ(spend.size(), 2u);
  EXPECT_EQ(spend[0].subject, "agents/a");
  EXPECT_EQ(spend[0].tokens, 27);
}

TEST(LedgerTest, PruningDeletesOnlyRowsPastTheCutoff) {
  clawos::testing::TempDir dir;
  absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  auto l = Ledger::Open(dir.Sub("usage.db")).value();
  std::vector<LedgerRow> rows;
  for (int i = 0; i < 120; ++i) {
    rows.push_back(Row(absl::StrCat("r", i), "agents/a", t0 + absl::Minutes(i), 1, 1));
  }
  ASSERT_TRUE(l->RecordBatch(rows).ok());
  auto n = l->PruneBefore(t0 + absl::Minutes(100), 30);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 30) << "one bounded batch";
  EXPECT_EQ(l->Totals("", t0, t0 + absl::Hours(3))->requests, 90);
  LedgerWriter w(*l);
  w.SetRetention([&] { return t0 + absl::Minutes(100); }, absl::Hours(1));
  auto all = w.PruneNow();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 70);
  EXPECT_EQ(l->Totals("", t0, t0 + absl::Hours(3))->requests, 20);
  EXPECT_EQ(l->Recent("", absl::InfinitePast(), 1000)->back().request_id, "r100");
}

TEST(LedgerWriterTest, RetentionRunsOnTheWriterThread) {
  clawos::testing::TempDir dir;
  auto l = Ledger::Open(dir.Sub("usage.db")).value();
  absl::Time now = absl::Now();
  ASSERT_TRUE(l->RecordBatch({Row("old", "agents/a", now - absl::Hours(24 * 100), 1, 1),
                              Row("new", "agents/a", now, 1, 1)})
                  .ok());
  LedgerWriter w(*l);
  w.SetRetention([] { return absl::Now() - absl::Hours(24 * 90); }, absl::Milliseconds(50));
  std::vector<LedgerRow> left;
  // The writer prunes at once, then every 50 ms.
  bool pruned = clawos::testing::Eventually([&] {
    left = l->Recent("", absl::InfinitePast(), 10).value();
    return left.size() == 1;
  });
  ASSERT_TRUE(pruned) << left.size() << " rows left";
  EXPECT_EQ(left[0].request_id, "new");
  w.Record(Row("later", "agents/a", absl::Now(), 1, 1));
  w.Flush();
  EXPECT_EQ(l->Recent("", absl::InfinitePast(), 10)->size(), 2u) << "rows still commit";
}

TEST(LedgerWriterTest, GroupCommitsEveryRowFromManyThreads) {
  clawos::testing::TempDir dir;
  auto ledger = Ledger::Open(dir.Sub("usage.db")).value();
  absl::Time t0 = absl::Now();
  {
    LedgerWriter writer(*ledger);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) {
          writer.Record(Row(absl::StrCat("r", t, "-", i), "agents/a", t0, 1, 1));
        }
      });
    }
    for (auto& th : threads) th.join();
    writer.Record(Row("r0-0", "agents/a", t0, 1, 1));  // a client reusing its request id
    writer.Flush();
    auto rows = ledger->Recent("agents/a", absl::InfinitePast(), 10000).value();
    EXPECT_EQ(rows.size(), 2001u) << "every row, the reused id under a suffixed one";
    int suffixed = 0;
    for (const auto& r : rows) suffixed += absl::StartsWith(r.request_id, "r0-0~");
    EXPECT_EQ(suffixed, 1);
    writer.Record(Row("last", "agents/a", t0, 1, 1));
  }  // the destructor commits what is queued
  EXPECT_EQ(ledger->Recent("agents/a", absl::InfinitePast(), 10000).value().size(), 2002u);
}

TEST(LedgerWriterTest, AFailedCommitIsRetriedNotDropped) {
  clawos::testing::TempDir dir;
  auto ledger = Ledger::Open(dir.Sub("usage.db")).value();
  // Another connection holds the write lock past the busy timeout (5 s).
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir.Sub("usage.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto audit = AuditLog::Open(dir.Sub("audit.jsonl")).value();
  LedgerWriter writer(*ledger, audit.get(), 1000, absl::Milliseconds(50));
  writer.Record(Row("kept", "agents/a", absl::Now(), 3, 4));
  EXPECT_TRUE(clawos::testing::Eventually([&] { return writer.failed_commits() >= 1; }));
  EXPECT_EQ(ledger->Recent("agents/a", absl::InfinitePast(), 10).value().size(), 0u);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  writer.Flush();
  auto rows = ledger->Recent("agents/a", absl::InfinitePast(), 10).value();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].completion_tokens, 4);
  // The row's audit line went out once, however many commits it took.
  std::string lines = ReadFile(dir.Sub("audit.jsonl")).value();
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1) << lines;
  EXPECT_NE(lines.find("\"request_id\":\"kept\""), std::string::npos);
}

TEST(AuditLogTest, ALineIsTheJsonDocumentOfTheRow) {
  LedgerRow r = Row("req-1", "agents/a", absl::FromUnixMillis(1'800'000'000'123), 3, 4);
  r.vm = "vm-\"1\"";
  r.error = "bad \xff\xfe bytes\n\"quoted\" \\ and \x01";
  r.latency = absl::Microseconds(1234);
  r.streamed = true;
  std::string line = AuditLine(r);
  ASSERT_EQ(line.back(), '\n');
  auto j = nlohmann::json::parse(line);  // valid JSON, valid UTF-8
  EXPECT_EQ(j.dump() + "\n", line) << "the same text a JSON document would dump";
  EXPECT_EQ(j["error"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes\n\"quoted\" \\ and \x01");
  EXPECT_EQ(j["vm"], "vm-\"1\"");
  EXPECT_EQ(j["ts"], "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(j["latency_ms"], 1.234);
  EXPECT_EQ(j["streamed"], true);
  EXPECT_EQ(j["prompt_tokens"], 3);
  EXPECT_EQ(j["completion_tokens"], 4);
  r.vm.clear();
  r.error.clear();
  j = nlohmann::json::parse(AuditLine(r));
  EXPECT_FALSE(j.contains("vm"));
  EXPECT_FALSE(j.contains("error"));
}

TEST(AuditLogTest, OneJsonLinePerRequestRotatedBySize) {
  clawos::testing::TempDir dir;
  std::string path = dir.Sub("audit.jsonl");
  auto a = AuditLog::Open(path, 600, 2).value();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a->Write(Row("req-" + std::to_string(i), "agents/a",
                             absl::FromUnixSeconds(1'800'000'000), 3, 4))
                    .ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_LE(st.st_size, 600);
  EXPECT_TRUE(PathExists(path + ".1"));
  EXPECT_TRUE(PathExists(path + ".2"));
  EXPECT_FALSE(PathExists(path + ".3")) << "keeps 2";
  std::string last = ReadFile(path).value();
  auto j = nlohmann::json::parse(last.substr(0, last.find('\n')));
  EXPECT_EQ(j["outcome"], "SUCCESS");
  EXPECT_EQ(j["prompt_tokens"], 3);
  EXPECT_EQ(last.find("messages"), std::string::npos) << "no bodies";
  EXPECT_NE(last.find("\"request_id\":\"req-9\""), std::string::npos);
}

}  // namespace
}  // namespace clawos::proxy
