#include "controlplane/openapi_doc.h"

#include <google/protobuf/descriptor.h>

#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/rest/services.h"

namespace clawos::controlplane {
namespace {

namespace gp = google::protobuf;
using FD = gp::FieldDescriptor;
using json = nlohmann::json;

// Comments by element, from the descriptor set's source info.
class Comments {
 public:
  explicit Comments(const gp::FileDescriptorSet& set) {
    for (const auto& f : set.file()) pool_.BuildFile(f);  // best effort: comments only
  }
  template <typename D>
  std::string Of(const D* d) const {
    if (!d) return "";
    std::string out;
    gp::SourceLocation loc;
    if (d->GetSourceLocation(&loc)) out = loc.leading_comments;
    return Clean(out);
  }
  std::string Method(const gp::MethodDescriptor* m) const {
    return Of(pool_.FindMethodByName(m->full_name()));
  }
  std::string Service(const gp::ServiceDescriptor* s) const {
    return Of(pool_.FindServiceByName(s->full_name()));
  }
  std::string Message(const gp::Descriptor* d) const {
    return Of(pool_.FindMessageTypeByName(d->full_name()));
  }
  std::string Field(const FD* f) const {
    const gp::Descriptor* d = pool_.FindMessageTypeByName(f->containing_type()->full_name());
    return d ? Of(d->FindFieldByName(f->name())) : "";
  }

 private:
  // One paragraph per blank line; "[trusted]" is the gRPC side's business.
  static std::string Clean(const std::string& text) {
    std::vector<std::string> lines;
    for (absl::string_view l : absl::StrSplit(text, '\n')) {
      lines.push_back(std::string(absl::StripAsciiWhitespace(l)));
    }
    std::string out = absl::StrJoin(lines, "\n");
    out = std::string(absl::StripAsciiWhitespace(out));
    if (absl::StartsWith(out, "[trusted] ")) out = out.substr(10);
    return out;
  }

  gp::DescriptorPool pool_;
};

class Builder {
 public:
  explicit Builder(const Comments& comments) : comments_(comments) {}

  json Schemas() {
    json out = json::object();
    while (!pending_.empty()) {
      const gp::Descriptor* d = *pending_.begin();
      pending_.erase(pending_.begin());
      out[d->full_name()] = MessageSchema(d);
    }
    out["clawos.Error"] = {
        {"type", "object"},
        {"description",
         "An error: the gRPC status code, its message and no details (grpc-gateway's shape)."},
        {"properties",
         {{"code", {{"type", "integer"}}},
          {"message", {{"type", "string"}}},
          {"details", {{"type", "array"}, {"items", {{"type", "object"}}}}}}},
        {"required", {"code", "message", "details"}}};
    return out;
  }

  json Ref(const gp::Descriptor* d) {
    if (json wk = WellKnown(d); !wk.is_null()) return wk;
    if (!done_.count(d)) {
      done_.insert(d);
      pending_.insert(d);
    }
    return {{"$ref", "#/components/schemas/" + d->full_name()}};
  }

  json FieldSchema(const FD* f, bool element = false) {
    if (f->is_map() && !element) {
      return {{"type", "object"},
              {"additionalProperties", FieldSchema(f->message_type()->FindFieldByName("value"))}};
    }
    if (f->is_repeated() && !element) {
      return {{"type", "array"}, {"items", FieldSchema(f, true)}};
    }
    switch (f->type()) {
      case FD::TYPE_STRING:
        return {{"type", "string"}};
      case FD::TYPE_BYTES:
        return {{"type", "string"}, {"format", "byte"}};
      case FD::TYPE_BOOL:
        return {{"type", "boolean"}};
      case FD::TYPE_DOUBLE:
      case FD::TYPE_FLOAT:
        return {{"type", "number"}};
      case FD::TYPE_INT64:
      case FD::TYPE_SINT64:
      case FD::TYPE_SFIXED64:
      case FD::TYPE_UINT64:
      case FD::TYPE_FIXED64:
        return {{"type", "string"}, {"format", "int64"}};
      case FD::TYPE_ENUM: {
        json values = json::array();
        for (int i = 0; i < f->enum_type()->value_count(); ++i) {
          values.push_back(f->enum_type()->value(i)->name());
        }
        return {{"type", "string"}, {"enum", values}};
      }
      case FD::TYPE_MESSAGE:
      case FD::TYPE_GROUP:
        return Ref(f->message_type());
      default:
        return {{"type", "integer"}, {"format", "int32"}};
    }
  }

 private:
  static json WellKnown(const gp::Descriptor* d) {
    const std::string& n = d->full_name();
    if (n == "google.protobuf.Timestamp") return {{"type", "string"}, {"format", "date-time"}};
    if (n == "google.protobuf.Duration") {
      return {{"type", "string"}, {"description", "seconds with an s suffix, e.g. \"1.5s\""}};
    }
    if (n == "google.protobuf.FieldMask") {
      return {{"type", "string"}, {"description", "field paths, comma-separated"}};
    }
    if (n == "google.protobuf.Empty") return {{"type", "object"}};
    if (n == "google.protobuf.Struct") return {{"type", "object"}};
    return nullptr;
  }

  json MessageSchema(const gp::Descriptor* d) {
    json props = json::object();
    for (int i = 0; i < d->field_count(); ++i) {
      const FD* f = d->field(i);
      json s = FieldSchema(f);
      std::string desc = comments_.Field(f);
      if (!desc.empty()) {
        // $ref siblings are ignored in OpenAPI 3.0: wrap it.
        if (s.contains("$ref")) s = {{"allOf", json::array({s})}};
        s["description"] = desc;
      }
      props[f->name()] = s;
    }
    json out = {{"type", "object"}, {"properties", props}};
    if (std::string desc = comments_.Message(d); !desc.empty()) out["description"] = desc;
    return out;
  }

  const Comments& comments_;
  std::set<const gp::Descriptor*> done_;
  std::set<const gp::Descriptor*> pending_;
};

const char* AccessName(api::v1::Access a) {
  return a == api::v1::PUBLIC ? "PUBLIC" : a == api::v1::VIEWER ? "VIEWER" : "ADMIN";
}

json ErrorResponse() {
  return {{"description", "An error"},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/clawos.Error"}}}}}}}};
}

// The query parameters of a binding: the request's top-level scalar fields
// that neither the path nor the body sets.
json QueryParams(const rest::Binding& b, Builder& builder) {
  json out = json::array();
  if (b.body == "*") return out;
  const gp::Descriptor* in = b.method->input_type();
  for (int i = 0; i < in->field_count(); ++i) {
    const FD* f = in->field(i);
    bool bound = f->name() == b.body;
    for (const auto& v : b.path.variables()) {
      if (v.field_path == f->name() || absl::StartsWith(v.field_path, f->name() + "."))
        bound = true;
    }
    if (bound || f->is_map()) continue;
    json schema = builder.FieldSchema(f);
    if (schema.contains("$ref") || (schema.contains("items") && schema["items"].contains("$ref"))) {
      continue;  // messages do not travel in the query
    }
    out.push_back({{"name", f->name()}, {"in", "query"}, {"required", false}, {"schema", schema}});
  }
  return out;
}

json Operation(const rest::Binding& b, const Comments& comments, Builder& builder) {
  const gp::MethodDescriptor* m = b.method;
  json op = {{"operationId", absl::StrCat(m->service()->name(), "_", m->name())},
             {"tags", {m->service()->name()}},
             {"x-clawos-rpc", m->full_name()},
             {"x-clawos-access", AccessName(b.access)}};
  std::string desc = comments.Method(m);
  if (!desc.empty()) {
    op["summary"] = std::string(desc.substr(0, desc.find_first_of(".\n")));
    op["description"] = desc;
  }
  op["security"] =
      b.access == api::v1::PUBLIC ? json::array() : json::array({{{"bearer", json::array()}}});
  json params = json::array();
  std::vector<std::pair<std::string, const rest::PathTemplate::Variable*>> names;
  b.path.OpenApiPath(&names);
  for (const auto& [name, var] : names) {
    params.push_back({{"name", name},
                      {"in", "path"},
                      {"required", true},
                      {"description", absl::StrCat("a segment of ", var ? var->field_path : name)},
                      {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9._-]{1,128}$"}}}});
  }
  for (auto& q : QueryParams(b, builder)) params.push_back(q);
  if (m->server_streaming() && !b.stream.resume_field().empty()) {
    params.push_back({{"name", "Last-Event-ID"},
                      {"in", "header"},
                      {"required", false},
                      {"description",
                       absl::StrCat("resumes after this id (sets ", b.stream.resume_field(), ")")},
                      {"schema", {{"type", "string"}}}});
  }
  if (!params.empty()) op["parameters"] = params;
  if (!b.body.empty()) {
    const gp::Descriptor* body =
        b.body == "*" ? m->input_type() : m->input_type()->FindFieldByName(b.body)->message_type();
    if (m->client_streaming()) {
      op["requestBody"] = {
          {"required", true},
          {"description", "JSON lines (NDJSON): one request message per line, in order"},
          {"content", {{"application/x-ndjson", {{"schema", builder.Ref(body)}}}}}};
    } else {
      op["requestBody"] = {{"required", false},
                           {"content", {{"application/json", {{"schema", builder.Ref(body)}}}}}};
    }
  }
  const gp::Descriptor* out = m->output_type();
  if (!b.response_body.empty()) out = out->FindFieldByName(b.response_body)->message_type();
  json ok;
  if (m->server_streaming()) {
    bool sse = b.stream.format() == api::v1::RestStream::SSE;
    ok = {{"description", sse ? "A stream of server-sent events, one per message"
                              : "A stream of JSON lines, one per message; an error ends it as "
                                "{\"error\":{...}}"},
          {"content",
           {{sse ? "text/event-stream" : "application/x-ndjson", {{"schema", builder.Ref(out)}}}}}};
  } else {
    ok = {{"description", "OK"},
          {"content", {{"application/json", {{"schema", builder.Ref(out)}}}}}};
  }
  op["responses"] = {{"200", ok}, {"default", ErrorResponse()}};
  return op;
}

// The routes that are not methods.
json BuiltIn(const char* id, const char* summary, const std::string& type, bool token) {
  json schema = {{"type", type == "application/json" ? "object" : "string"}};
  json ok = {{"description", "OK"}, {"content", {{type, {{"schema", schema}}}}}};
  json op = {{"operationId", id},
             {"summary", summary},
             {"tags", {"ControlPlane"}},
             {"responses", {{"200", ok}, {"default", ErrorResponse()}}}};
  op["security"] = token ? json::array({{{"bearer", json::array()}}}) : json::array();
  return {{"get", op}};
}

void BuiltIns(json& paths) {
  paths["/healthz"] = BuiltIn("Healthz", "The control plane is up", "application/json", false);
  paths["/readyz"] = BuiltIn("Readyz", "Every daemon answers (503 naming those that do not)",
                             "application/json", false);
  paths["/metrics"] =
      BuiltIn("Metrics", "Prometheus metrics: no token on a loopback listener, else a viewer token",
              "text/plain", true);
  paths["/v1/openapi.json"] = BuiltIn("OpenApi", "This document", "application/json", false);
}

}  // namespace

absl::StatusOr<std::string> OpenApiDocument(
    const std::vector<const gp::ServiceDescriptor*>& services, const gp::FileDescriptorSet& set) {
  auto bindings = rest::BindingsOf(services);
  if (!bindings.ok()) return bindings.status();
  Comments comments(set);
  Builder builder(comments);
  json paths = json::object();
  for (const rest::Binding& b : *bindings) {
    std::vector<std::pair<std::string, const rest::PathTemplate::Variable*>> names;
    std::string path = b.path.OpenApiPath(&names);
    std::string verb = absl::AsciiStrToLower(b.verb);
    if (paths.contains(path) && paths[path].contains(verb)) {
      return absl::InvalidArgumentError(absl::StrCat(b.verb, " ", path, " is documented twice"));
    }
    paths[path][verb] = Operation(b, comments, builder);
  }
  BuiltIns(paths);
  json tags = json::array();
  for (const gp::ServiceDescriptor* s : services) {
    json t = {{"name", s->name()}};
    std::string desc = comments.Service(s);
    t["description"] =
        desc.empty() ? absl::StrCat("The ", rest::DaemonName(s), " (", s->full_name(), ")") : desc;
    tags.push_back(t);
  }
  json doc = {
      {"openapi", "3.0.3"},
      {"info",
       {{"title", "ClawOS control plane"},
        {"version", "v1"},
        {"description",
         "The REST API of ClawOS, transcoded from the daemons' gRPC methods by their "
         "google.api.http rules (generated from the protos; docs/controlplane.md). Errors are "
         "{\"code\", \"message\", \"details\"} with grpc-gateway's HTTP statuses. "
         "x-clawos-access says who may call: PUBLIC (no token), VIEWER (any operator token), "
         "ADMIN (role admin or operator; audited)."}}},
      {"servers", json::array({{{"url", "/"}}})},
      {"tags", tags},
      {"paths", paths},
      {"components",
       {{"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}}}},
        {"schemas", builder.Schemas()}}}};
  return doc.dump(1);
}

}  // namespace clawos::controlplane
