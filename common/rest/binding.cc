#include "common/rest/binding.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/api/annotations.pb.h"

namespace clawos::rest {
namespace {

namespace gp = google::protobuf;

// The field at a dotted path of `d`, or nullptr.
const gp::FieldDescriptor* FieldAt(const gp::Descriptor* d, absl::string_view path) {
  const gp::FieldDescriptor* f = nullptr;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!d) return nullptr;
    f = d->FindFieldByName(std::string(part));
    if (!f) return nullptr;
    d = f->message_type();
  }
  return f;
}

absl::StatusOr<Binding> FromRule(const gp::MethodDescriptor* m, const google::api::HttpRule& rule) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(m->full_name(), ": ", why));
  };
  Binding b;
  b.method = m;
  std::string path;
  switch (rule.pattern_case()) {
    case google::api::HttpRule::kGet:
      b.verb = "GET", path = rule.get();
      break;
    case google::api::HttpRule::kPut:
      b.verb = "PUT", path = rule.put();
      break;
    case google::api::HttpRule::kPost:
      b.verb = "POST", path = rule.post();
      break;
    case google::api::HttpRule::kDelete:
      b.verb = "DELETE", path = rule.delete_();
      break;
    case google::api::HttpRule::kPatch:
      b.verb = "PATCH", path = rule.patch();
      break;
    default:
      return bad("the http rule has no get, put, post, delete or patch");
  }
  auto t = PathTemplate::Parse(path);
  if (!t.ok()) return bad(t.status().message());
  b.path = *std::move(t);
  for (const auto& v : b.path.variables()) {
    const gp::FieldDescriptor* f = FieldAt(m->input_type(), v.field_path);
    if (!f || f->is_repeated() || f->type() != gp::FieldDescriptor::TYPE_STRING) {
      return bad(absl::StrCat("path variable ", v.field_path, " is not a string field"));
    }
  }
  b.body = rule.body();
  if (!b.body.empty() && b.body != "*" && !m->input_type()->FindFieldByName(b.body)) {
    return bad(absl::StrCat("body ", b.body, " names no field"));
  }
  b.response_body = rule.response_body();
  if (!b.response_body.empty() && !m->output_type()->FindFieldByName(b.response_body)) {
    return bad(absl::StrCat("response_body ", b.response_body, " names no field"));
  }
  const auto& opts = m->options();
  b.access = opts.GetExtension(api::v1::access);
  if (b.access == api::v1::ACCESS_UNSPECIFIED)
    return bad("an http rule needs (clawos.api.v1.access)");
  // A client stream is one NDJSON body (grpc-gateway's form): no path
  // variables, since there is no one request message to take them from.
  if (m->client_streaming() && (b.body != "*" || !b.path.variables().empty())) {
    return bad("a client-streaming method's rule needs body \"*\" and no path variables");
  }
  if (int s = opts.GetExtension(api::v1::timeout_seconds); s > 0) b.timeout = absl::Seconds(s);
  b.stream = opts.GetExtension(api::v1::stream);
  if (m->server_streaming() && b.stream.format() == api::v1::RestStream::FORMAT_UNSPECIFIED) {
    b.stream.set_format(api::v1::RestStream::NDJSON);
  }
  return b;
}

}  // namespace

absl::StatusOr<std::vector<Binding>> BindingsOf(
    const std::vector<const gp::ServiceDescriptor*>& services) {
  std::vector<Binding> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (const gp::ServiceDescriptor* s : services) {
    for (int i = 0; i < s->method_count(); ++i) {
      const gp::MethodDescriptor* m = s->method(i);
      if (!m->options().HasExtension(google::api::http)) continue;
      const google::api::HttpRule& rule = m->options().GetExtension(google::api::http);
      std::vector<const google::api::HttpRule*> rules = {&rule};
      for (const auto& extra : rule.additional_bindings()) rules.push_back(&extra);
      for (const auto* r : rules) {
        auto b = FromRule(m, *r);
        if (!b.ok()) return b.status();
        if (!seen.insert({b->verb, b->path.text()}).second) {
          return absl::InvalidArgumentError(
              absl::StrCat(m->full_name(), ": ", b->verb, " ", b->path.text(), " is bound twice"));
        }
        out.push_back(*std::move(b));
      }
    }
  }
  return out;
}

const Binding* FindBinding(const std::vector<Binding>& bindings,
                           const gp::MethodDescriptor* method) {
  for (const Binding& b : bindings) {
    if (b.method == method) return &b;
  }
  return nullptr;
}

RouteTable::RouteTable(std::vector<Binding> bindings) : bindings_(std::move(bindings)) {}

std::optional<RouteTable::Match> RouteTable::Find(absl::string_view verb, absl::string_view path,
                                                  std::vector<std::string>* allowed) const {
  std::optional<Match> best;
  std::set<std::string> verbs;
  for (const Binding& b : bindings_) {
    auto values = b.path.Match(path);
    if (!values) continue;
    if (b.verb != verb) {
      verbs.insert(b.verb);
      continue;
    }
    if (!best || b.path.MoreSpecificThan(best->binding->path)) {
      best = Match{&b, *std::move(values)};
    }
  }
  if (!best && allowed) allowed->assign(verbs.begin(), verbs.end());
  return best;
}

}  // namespace clawos::rest
