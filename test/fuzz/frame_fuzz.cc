// libFuzzer target for the agent channel as a guest can write it: the frame
// decoder both ends use (agent/frame.h FrameReader and the protobuf parse of
// clawos.agent.v1.Frame), and the launcher's keeping of what the guest says
// (vm-launcher/vm_log.h: agent LogLines and serial console bytes, stored,
// rotated, truncated and read back after a restart).
//
// Input byte 0: bit 0 picks the mode, bits 1..7 the piece size (1..128);
//   mode 0: the rest is the channel's byte stream (length-prefixed frames);
//           every LogLine frame goes to a VmLog as the launcher appends it;
//   mode 1: the rest is what the guest writes to its serial console, appended
//           to console.log piece by piece (at most 16) and pumped after each.
// Properties checked beside the sanitizers: the reader's results are the
// same whether the stream comes whole or in pieces; a decoded frame's string
// fields are valid UTF-8, it re-encodes within bounds and decodes to the same
// frame; once broken the reader stays broken. Every stored line's level and
// text are safe text within their bounds, sequences rise by one, console.log
// stays under its bound, and a VmLog reopened on the same directory reads
// back every line it kept identically.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>

#include "absl/time/clock.h"
#include "agent/frame.h"
#include "common/utf8.h"
#include "test/fuzz/require.h"
#include "test/fuzz/scratch_dir.h"
#include "vm-launcher/vm_log.h"

namespace {

using namespace clawos;
using agent::FrameReader;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using launcher::LogRecord;
using launcher::LogSource;
using launcher::VmLog;

using clawos::fuzz::Require;

std::string Deterministic(const Message& m) {
  std::string s;
  {
    google::protobuf::io::StringOutputStream out(&s);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    Require(m.SerializeToCodedStream(&coded));
  }
  return s;
}

// Every string (not bytes) field set in `m`, recursively, is valid UTF-8.
void RequireUtf8(const Message& m) {
  const auto* refl = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    int n = f->is_repeated() ? refl->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      if (f->type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& v = f->is_repeated()
                                   ? refl->GetRepeatedStringReference(m, f, i, &scratch)
                                   : refl->GetStringReference(m, f, &scratch);
        Require(IsValidUtf8(v));
      } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        RequireUtf8(f->is_repeated() ? refl->GetRepeatedMessage(m, f, i) : refl->GetMessage(m, f));
      }
    }
  }
}

void CheckFrame(const agent::pb::Frame& f) {
  RequireUtf8(f);
  std::string wire = agent::EncodeFrame(f);
  Require(wire.empty() == (f.ByteSizeLong() == 0));
  if (wire.empty()) return;
  Require(wire.size() <= 4 + agent::kMaxFrameBytes);
  agent::pb::Frame again;
  Require(again.ParseFromArray(wire.data() + 4, static_cast<int>(wire.size() - 4)));
  Require(Deterministic(again) == Deterministic(f));
}

// One result of FrameReader::Next: 'F' and the frame, 'S' skipped, 'E' error.
struct Step {
  char kind;
  std::string frame;
  bool operator==(const Step&) const = default;
};

// Drains `r` until it needs more; false once it reported an error.
bool Drain(FrameReader& r, std::vector<Step>* steps, std::vector<agent::pb::Frame>* frames) {
  for (;;) {
    agent::pb::Frame f;
    std::string error;
    FrameReader::Result res = r.Next(&f, &error);
    if (res == FrameReader::Result::kNeedMore) return true;
    if (res == FrameReader::Result::kFrame) {
      steps->push_back({'F', Deterministic(f)});
      if (frames) frames->push_back(std::move(f));
      continue;
    }
    Require(!error.empty());
    if (res == FrameReader::Result::kError) {
      steps->push_back({'E', ""});
      Require(r.Next(&f, &error) == FrameReader::Result::kError);  // stays broken
      return false;
    }
    steps->push_back({'S', ""});  // a frame that did not parse, skipped
  }
}

launcher::LogBounds Bounds() {
  launcher::LogBounds b;
  b.max_text_bytes = 512;
  b.max_level_bytes = 16;
  b.memory_bytes = 64 << 10;  // everything stays in memory: it can all be compared
  b.file_bytes = 4 << 10;     // rotates within one input
  b.console_bytes = 1 << 10;  // truncated within one input
  b.pump_bytes = 4 << 10;     // each pump catches up (pieces are smaller)
  return b;
}

// A directory of this process (test/fuzz/scratch_dir.h), removed at exit.
const std::string& Dir() {
  static const std::string* dir = [] {
    auto* d = new std::string(fuzz::ScratchDir("frame_fuzz"));
    std::atexit([] { fuzz::RemoveScratch(Dir()); });
    return d;
  }();
  return *dir;
}

void Clean() {
  for (const char* f : {"logs.jsonl", "logs.jsonl.1", "console.log", "console.offset"}) {
    unlink((Dir() + "/" + f).c_str());
  }
}

void RequireSafe(const LogRecord& r, const launcher::LogBounds& b) {
  Require(r.text.size() <= b.max_text_bytes && r.level.size() <= b.max_level_bytes);
  Require(ToSafeText(r.text, b.max_text_bytes, false) == r.text);
  Require(ToSafeText(r.level, b.max_level_bytes, false) == r.level);
}

// What the log kept is safe, in sequence, and reads back the same after a restart.
void CheckLog(const VmLog& log, const launcher::LogBounds& b) {
  std::vector<LogRecord> kept = log.Read({});
  for (size_t i = 0; i < kept.size(); ++i) {
    RequireSafe(kept[i], b);
    if (i > 0) Require(kept[i].sequence == kept[i - 1].sequence + 1);
  }
  auto reopened = VmLog::Open(Dir(), b);
  Require(reopened.ok());
  std::vector<LogRecord> back = (*reopened)->Read({});
  if (kept.empty()) {
    Require(back.empty());
    return;
  }
  Require(!back.empty() && back.back().sequence == kept.back().sequence);
  for (const LogRecord& r : back) {
    RequireSafe(r, b);
    if (r.sequence < kept.front().sequence) continue;  // only on disk now
    size_t i = static_cast<size_t>(r.sequence - kept.front().sequence);
    Require(i < kept.size());
    const LogRecord& k = kept[i];
    Require(k.sequence == r.sequence && k.source == r.source && k.level == r.level &&
            k.text == r.text && absl::ToUnixMicros(k.time) == absl::ToUnixMicros(r.time));
  }
}

void Channel(const std::string& stream, size_t step) {
  FrameReader whole;
  whole.Feed(stream.data(), stream.size());
  std::vector<Step> whole_steps;
  std::vector<agent::pb::Frame> frames;
  Drain(whole, &whole_steps, &frames);
  FrameReader pieces;
  std::vector<Step> piece_steps;
  for (size_t off = 0; off < stream.size(); off += step) {
    pieces.Feed(stream.data() + off, std::min(step, stream.size() - off));
    if (!Drain(pieces, &piece_steps, nullptr)) break;
  }
  Require(whole_steps == piece_steps);

  bool logs = false;
  for (const auto& f : frames) {
    CheckFrame(f);
    logs = logs || f.has_log_line();
  }
  if (!logs) return;  // the files cost time
  Clean();
  const launcher::LogBounds b = Bounds();
  auto log = VmLog::Open(Dir(), b);
  Require(log.ok());
  for (const auto& f : frames) {
    if (f.has_log_line()) {
      (*log)->Append(LogSource::kAgent, absl::Now(), f.log_line().level(), f.log_line().text());
    }
  }
  CheckLog(**log, b);
}

void Console(const std::string& bytes, size_t step) {
  step = std::max(step, bytes.size() / 16 + 1);  // at most 16 pumps: each costs file operations
  Clean();
  const launcher::LogBounds b = Bounds();
  auto log = VmLog::Open(Dir(), b);
  Require(log.ok());
  const std::string path = Dir() + "/console.log";
  for (size_t off = 0; off < bytes.size(); off += step) {
    int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    Require(fd >= 0);
    size_t n = std::min(step, bytes.size() - off);
    Require(write(fd, bytes.data() + off, n) == static_cast<ssize_t>(n));
    close(fd);
    (*log)->PumpConsole(path);
    struct stat st {};
    Require(stat(path.c_str(), &st) == 0 && st.st_size < b.console_bytes);
  }
  CheckLog(**log, b);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // no log line per string that is not UTF-8
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t step = 1 + (data[0] >> 1);
  if (data[0] & 1) {
    Console(rest, step);
  } else {
    Channel(rest, step);
  }
  return 0;
}
