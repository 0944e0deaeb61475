#include "common/rest/transcode.h"

#include <google/protobuf/reflection.h>

#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/proto_json.h"
#include "common/utf8.h"

namespace clawos::rest {
namespace {

namespace gp = google::protobuf;
using FD = gp::FieldDescriptor;

// The std:: view the JSON and UTF-8 helpers take (Debian's Abseil has its own).
std::string_view SV(absl::string_view s) { return {s.data(), s.size()}; }

bool IsWellKnownScalar(const gp::Descriptor* d) {
  static const std::set<std::string> kTypes = {
      "google.protobuf.Timestamp",   "google.protobuf.Duration",    "google.protobuf.FieldMask",
      "google.protobuf.StringValue", "google.protobuf.Int64Value",  "google.protobuf.Int32Value",
      "google.protobuf.UInt64Value", "google.protobuf.UInt32Value", "google.protobuf.BoolValue",
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.BytesValue"};
  return kTypes.count(d->full_name()) > 0;
}

// The field at a dotted path (proto or JSON names) and the message holding
// it, made on the way when `create`. nullptr when the path names no field.
// The fields along a dotted path (proto or JSON names) of `d`; empty when
// the path names no field, or passes through a repeated or scalar one.
std::vector<const FD*> FieldsAlong(const gp::Descriptor* d, absl::string_view path) {
  std::vector<const FD*> out;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!d) return {};
    const FD* f = d->FindFieldByName(std::string(part));
    if (!f) f = d->FindFieldByCamelcaseName(std::string(part));
    if (!f) return {};
    out.push_back(f);
    const bool message = !f->is_repeated() && f->cpp_type() == FD::CPPTYPE_MESSAGE &&
                         !IsWellKnownScalar(f->message_type());
    d = message ? f->message_type() : nullptr;
  }
  return out;
}

// The field at a dotted path and the message holding it. With `create`, the
// messages on the way are made, but only once the whole path is known to
// name a field (an unknown parameter leaves the request as it was); without,
// nullptr when one of them is not set.
const FD* Resolve(gp::Message* m, absl::string_view path, bool create, gp::Message** holder) {
  std::vector<const FD*> fields = FieldsAlong(m->GetDescriptor(), path);
  if (fields.empty()) return nullptr;
  for (size_t i = 0; i + 1 < fields.size(); ++i) {
    if (!create && !m->GetReflection()->HasField(*m, fields[i])) return nullptr;
    m = m->GetReflection()->MutableMessage(m, fields[i]);
  }
  *holder = m;
  return fields.back();
}

// Sets a scalar (or well-known scalar message) field from its text form.
absl::Status SetFromText(gp::Message* m, const FD* f, absl::string_view text,
                         absl::string_view what) {
  const gp::Reflection* r = m->GetReflection();
  auto bad = [&](absl::string_view want) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be ", want));
  };
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_STRING: {
      if (f->type() == FD::TYPE_STRING && !IsValidUtf8(SV(text))) return bad("valid UTF-8");
      std::string v(text);
      rep ? r->AddString(m, f, v) : r->SetString(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      rep ? r->AddInt32(m, f, v) : r->SetInt32(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("an integer");
      rep ? r->AddInt64(m, f, v) : r->SetInt64(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      rep ? r->AddUInt32(m, f, v) : r->SetUInt32(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(text, &v)) return bad("a non-negative integer");
      rep ? r->AddUInt64(m, f, v) : r->SetUInt64(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return bad("a number");
      if (f->cpp_type() == FD::CPPTYPE_FLOAT) {
        rep ? r->AddFloat(m, f, static_cast<float>(v)) : r->SetFloat(m, f, static_cast<float>(v));
      } else {
        rep ? r->AddDouble(m, f, v) : r->SetDouble(m, f, v);
      }
      return absl::OkStatus();
    }
    case FD::CPPTYPE_BOOL: {
      bool v;
      if (text == "true" || text == "1") {
        v = true;
      } else if (text == "false" || text == "0") {
        v = false;
      } else {
        return bad("true or false");
      }
      rep ? r->AddBool(m, f, v) : r->SetBool(m, f, v);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_ENUM: {
      const gp::EnumValueDescriptor* e = f->enum_type()->FindValueByName(std::string(text));
      int n;
      if (!e && absl::SimpleAtoi(text, &n)) e = f->enum_type()->FindValueByNumber(n);
      if (!e) return bad(absl::StrCat("one of ", f->enum_type()->name(), "'s values"));
      rep ? r->AddEnum(m, f, e) : r->SetEnum(m, f, e);
      return absl::OkStatus();
    }
    case FD::CPPTYPE_MESSAGE: {
      if (!IsWellKnownScalar(f->message_type())) return bad("a scalar");
      // A Timestamp, Duration, FieldMask or wrapper parses from its JSON string.
      std::unique_ptr<gp::Message> v(
          gp::MessageFactory::generated_factory()->GetPrototype(f->message_type())->New());
      if (!v) return bad("a known type");
      nlohmann::json j = std::string(text);
      if (f->message_type()->full_name() == "google.protobuf.BoolValue") j = text == "true";
      if (!FromJson(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), v.get())
               .ok()) {
        return bad(absl::StrCat("a ", f->message_type()->name(),
                                f->message_type()->name() == "Timestamp"  ? " (RFC 3339)"
                                : f->message_type()->name() == "Duration" ? " (e.g. 30s)"
                                                                          : ""));
      }
      rep ? r->AddMessage(m, f)->CopyFrom(*v) : r->MutableMessage(m, f)->CopyFrom(*v);
      return absl::OkStatus();
    }
  }
  return bad("a scalar");
}

// The string at a dotted path, or "" when it is not set.
std::string StringAt(const gp::Message& m, absl::string_view path) {
  gp::Message* holder = nullptr;
  const FD* f = Resolve(const_cast<gp::Message*>(&m), path, false, &holder);
  if (!f || f->cpp_type() != FD::CPPTYPE_STRING || f->is_repeated()) return "";
  return holder->GetReflection()->GetString(*holder, f);
}

// Whether a top-level field is at its default (unset).
bool Unset(const gp::Message& m, const FD* f) {
  const gp::Reflection* r = m.GetReflection();
  return f->is_repeated() ? r->FieldSize(m, f) == 0 : !r->HasField(m, f);
}

// The body's top-level keys as field names of `d` (the update mask).
absl::StatusOr<std::vector<std::string>> BodyKeys(absl::string_view body, const gp::Descriptor* d) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body must be a JSON object (a ", d->name(), ")"));
  }
  std::vector<std::string> out;
  for (const auto& [key, value] : j.items()) {
    const FD* f = d->FindFieldByName(key);
    if (!f) f = d->FindFieldByCamelcaseName(key);
    if (f) out.push_back(f->name());  // an unknown key fails the body's parse
  }
  return out;
}

absl::Status ApplyBody(const Binding& b, absl::string_view body, gp::Message* out) {
  if (b.body.empty() || body.empty()) return absl::OkStatus();
  if (b.body == "*") return FromJson(SV(body), out);
  const FD* f = out->GetDescriptor()->FindFieldByName(b.body);
  if (!f || f->cpp_type() != FD::CPPTYPE_MESSAGE || f->is_repeated()) {
    return absl::InternalError(
        absl::StrCat(b.method->full_name(), ": body ", b.body, " is not a message field"));
  }
  return FromJson(SV(body), out->GetReflection()->MutableMessage(out, f));
}

// The path's values, checked against what the body set.
absl::Status ApplyPath(const Binding& b, const PathTemplate::Bindings& values, gp::Message* out) {
  for (const auto& [path, value] : values) {
    std::string in_body = StringAt(*out, path);
    if (!in_body.empty() && in_body != value) {
      std::string rel = path;
      if (b.body != "*" && absl::StartsWith(path, b.body + "."))
        rel = path.substr(b.body.size() + 1);
      return absl::InvalidArgumentError(
          absl::StrCat("the body's ", rel, " \"", ToValidUtf8(in_body), "\" is not ", value));
    }
    gp::Message* holder = nullptr;
    const FD* f = Resolve(out, path, true, &holder);
    if (!f) return absl::InternalError(absl::StrCat("path variable ", path, " names no field"));
    holder->GetReflection()->SetString(holder, f, value);
  }
  return absl::OkStatus();
}

bool BoundByPath(const Binding& b, absl::string_view path) {
  for (const auto& v : b.path.variables()) {
    if (v.field_path == path || absl::StartsWith(v.field_path, absl::StrCat(path, "."))) {
      return true;
    }
  }
  return false;
}

absl::Status ApplyQuery(const Binding& b,
                        const std::vector<std::pair<std::string, std::string>>& query,
                        gp::Message* out, std::set<std::string>* given) {
  if (b.body == "*") return absl::OkStatus();  // everything came in the body
  for (const auto& [key, value] : query) {
    if (BoundByPath(b, key)) continue;
    gp::Message* holder = nullptr;
    const FD* f = Resolve(out, key, true, &holder);
    if (!f || f->is_map()) continue;  // unknown parameters are ignored
    std::string top(key.substr(0, key.find('.')));
    if (!b.body.empty() && (top == b.body || f->name() == b.body)) continue;
    if (f->cpp_type() == FD::CPPTYPE_MESSAGE && !IsWellKnownScalar(f->message_type())) continue;
    if (auto s = SetFromText(holder, f, value, absl::StrCat("query parameter ", key)); !s.ok()) {
      return s;
    }
    given->insert(std::string(top));
  }
  return absl::OkStatus();
}

absl::Status ApplyDefaults(const Binding& b, absl::string_view body,
                           const std::set<std::string>& given, gp::Message* out) {
  const gp::Descriptor* d = out->GetDescriptor();
  // The body's keys are read (a second parse) only for a request that has a
  // field with a REST default.
  std::set<std::string> in_body;
  bool read_keys = false;
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    if (!read_keys && b.body == "*" && !body.empty() &&
        !f->options().GetExtension(api::v1::rest_default).empty()) {
      read_keys = true;
      auto keys = BodyKeys(body, d);
      if (keys.ok()) in_body.insert(keys->begin(), keys->end());
    }
    const std::string& def = f->options().GetExtension(api::v1::rest_default);
    if (def.empty() || given.count(f->name()) || in_body.count(f->name()) || !Unset(*out, f)) {
      continue;
    }
    if (auto s = SetFromText(out, f, def, f->name()); !s.ok()) return s;
  }
  // grpc-gateway's rule: a body that is one field gives the mask of its keys.
  const FD* mask = d->FindFieldByName("update_mask");
  if (mask && mask->message_type() &&
      mask->message_type()->full_name() == "google.protobuf.FieldMask" && !b.body.empty() &&
      b.body != "*" && !given.count("update_mask")) {
    auto keys = BodyKeys(body.empty() ? "{}" : body, d->FindFieldByName(b.body)->message_type());
    if (!keys.ok()) return keys.status();
    std::vector<std::string> paths;
    for (const auto& k : *keys) {
      if (!BoundByPath(b, absl::StrCat(b.body, ".", k))) paths.push_back(k);
    }
    if (paths.empty()) return absl::InvalidArgumentError("the body sets no field");
    gp::Message* fm = out->GetReflection()->MutableMessage(out, mask);
    const FD* pf = fm->GetDescriptor()->FindFieldByName("paths");
    for (const auto& p : paths) fm->GetReflection()->AddString(fm, pf, p);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RequestFromHttp(const Binding& b, const PathTemplate::Bindings& values,
                             const HttpRequest& http, gp::Message* out) {
  if (auto s = ApplyBody(b, http.body, out); !s.ok()) return s;
  if (auto s = ApplyPath(b, values, out); !s.ok()) return s;
  std::set<std::string> given;
  if (http.query) {
    if (auto s = ApplyQuery(b, *http.query, out, &given); !s.ok()) return s;
  }
  if (!http.last_event_id.empty() && !b.stream.resume_field().empty()) {
    gp::Message* holder = nullptr;
    const FD* f = Resolve(out, b.stream.resume_field(), true, &holder);
    if (!f) return absl::InternalError("the stream's resume_field names no field");
    if (!SetFromText(holder, f, http.last_event_id, "Last-Event-ID").ok()) {
      return absl::InvalidArgumentError("Last-Event-ID must be an event id (an integer)");
    }
    given.insert(f->name());
  }
  return ApplyDefaults(b, http.body, given, out);
}

void ClearHidden(api::v1::Access access, gp::Message* m) {
  if (access >= api::v1::ADMIN) return;  // nothing is hidden from admins: no walk
  const gp::Reflection* r = m->GetReflection();
  std::vector<const FD*> fields;
  r->ListFields(*m, &fields);
  for (const FD* f : fields) {
    api::v1::Access need = f->options().GetExtension(api::v1::visible_to);
    if (need != api::v1::ACCESS_UNSPECIFIED && access < need) {
      r->ClearField(m, f);
      continue;
    }
    if (f->cpp_type() != FD::CPPTYPE_MESSAGE) continue;
    if (f->is_map()) {
      const FD* value = f->message_type()->FindFieldByName("value");
      if (!value || value->cpp_type() != FD::CPPTYPE_MESSAGE) continue;
    }
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*m, f); ++i) {
        ClearHidden(access, r->MutableRepeatedMessage(m, f, i));
      }
    } else {
      ClearHidden(access, r->MutableMessage(m, f));
    }
  }
}

absl::StatusOr<std::string> ResponseToJson(const Binding& b, api::v1::Access access,
                                           gp::Message* resp) {
  ClearHidden(access, resp);
  if (b.response_body.empty()) return TryToJson(*resp);
  const FD* f = resp->GetDescriptor()->FindFieldByName(b.response_body);
  if (!f || f->cpp_type() != FD::CPPTYPE_MESSAGE || f->is_repeated()) {
    return absl::InternalError(absl::StrCat(b.method->full_name(), ": response_body ",
                                            b.response_body, " is not a message field"));
  }
  return TryToJson(resp->GetReflection()->GetMessage(*resp, f));
}

namespace {

// A JSON value flattened into query parameters ("a.b=1", repeated keys).
void Flatten(const std::string& prefix, const nlohmann::json& j, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) Flatten(prefix.empty() ? k : prefix + "." + k, v, out);
    return;
  }
  if (j.is_array()) {
    for (const auto& v : j) Flatten(prefix, v, out);
    return;
  }
  std::string text = j.is_string() ? j.get<std::string>() : j.dump();
  out->push_back(absl::StrCat(PercentEncode(prefix), "=", PercentEncode(text)));
}

}  // namespace

absl::StatusOr<HttpCall> RequestToHttp(const Binding& b, const gp::Message& req) {
  HttpCall call;
  call.verb = b.verb;
  PathTemplate::Bindings values;
  for (const auto& v : b.path.variables())
    values.emplace_back(v.field_path, StringAt(req, v.field_path));
  auto path = b.path.Expand(values);
  if (!path.ok()) return path.status();
  call.path = *std::move(path);
  // What is left once the path took its fields.
  std::unique_ptr<gp::Message> rest(req.New());
  rest->CopyFrom(req);
  for (const auto& v : b.path.variables()) {
    gp::Message* holder = nullptr;
    if (const FD* f = Resolve(rest.get(), v.field_path, false, &holder)) {
      holder->GetReflection()->ClearField(holder, f);
    }
  }
  const gp::Reflection* r = rest->GetReflection();
  if (b.body == "*") {
    auto json = TryToJson(*rest);
    if (!json.ok()) return json.status();
    call.body = *std::move(json);
    return call;
  }
  if (!b.body.empty()) {
    const FD* f = rest->GetDescriptor()->FindFieldByName(b.body);
    auto json = TryToJson(r->GetMessage(*rest, f));
    if (!json.ok()) return json.status();
    call.body = *std::move(json);
    r->ClearField(rest.get(), f);
  }
  auto json = TryToJson(*rest);
  if (!json.ok()) return json.status();
  std::vector<std::string> params;
  Flatten("", nlohmann::json::parse(*json), &params);
  call.query = absl::StrJoin(params, "&");
  return call;
}

absl::Status ResponseFromJson(const Binding& b, absl::string_view json, gp::Message* out) {
  if (b.response_body.empty()) return FromJson(SV(json), out, /*ignore_unknown=*/true);
  const FD* f = out->GetDescriptor()->FindFieldByName(b.response_body);
  if (!f || f->cpp_type() != FD::CPPTYPE_MESSAGE) {
    return absl::InternalError("response_body is not a message field");
  }
  return FromJson(SV(json), out->GetReflection()->MutableMessage(out, f), true);
}

absl::Status StreamMessageFromSse(const Binding& b, absl::string_view event, absl::string_view data,
                                  gp::Message* out) {
  if (b.stream.event_oneof().empty()) return FromJson(SV(data), out, true);
  const FD* f = out->GetDescriptor()->FindFieldByName(std::string(event));
  if (!f || f->cpp_type() != FD::CPPTYPE_MESSAGE || !f->containing_oneof() ||
      f->containing_oneof()->name() != b.stream.event_oneof()) {
    return absl::InvalidArgumentError(
        absl::StrCat("an unknown event \"", ToValidUtf8(std::string(event)), "\""));
  }
  return FromJson(SV(data), out->GetReflection()->MutableMessage(out, f), true);
}

}  // namespace clawos::rest
