#include "cli/identity_commands.h"

#include "cli/api_client.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/ascii.h"
#include "clawos/identity/v1/identity.grpc.pb.h"
#include "common/crypto/encoding.h"
#include "common/duration.h"
#include "common/grpc_status.h"
#include "common/utf8.h"

namespace clawos::cli {
namespace {

namespace pb = ::clawos::identity::v1;
using google::protobuf::util::TimeUtil;

// Runs one unary call against the identity daemon; returns the exit code.
// (The identity daemon's commands speak to it directly, on its trusted transport.)
template <typename Req, typename Resp, typename Ok>
int Call(const Context& ctx, const char* what, const char* method, const Req& req, Ok on_ok) {
  auto api = MakeDirectApiClient(ctx);
  if (!api.ok()) return ReportError(what, api.status());
  auto resp = (*api)->Call<Resp>(absl::StrCat("clawos.identity.v1.IdentityService.", method), req);
  if (!resp.ok()) return ReportError(what, resp.status());
  on_ok(*resp);
  return 0;
}

std::string Time(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

google::protobuf::Duration ProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  int64_t secs = absl::ToInt64Seconds(d);
  out.set_seconds(secs);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d - absl::Seconds(secs))));
  return out;
}

// A --ttl value checked at parse time.
CLI::Option* AddTtl(CLI::App* cmd, std::string* ttl) {
  return cmd->add_option("--ttl", *ttl, "Lifetime, e.g. 10m, 1h (default: the daemon's)")
      ->check([](const std::string& v) {
        auto d = ParseDuration(v);
        return d.ok() ? std::string() : std::string(d.status().message());
      });
}

nlohmann::json ClaimsJson(const pb::Claims& c) {
  return {{"iss", c.issuer()},
          {"sub", c.subject()},
          {"aud", c.audience()},
          {"iat", Time(c.issue_time())},
          {"nbf", Time(c.not_before_time())},
          {"exp", Time(c.expire_time())},
          {"jti", c.jti()},
          {"role", c.role()},
          {"idp", c.identity_provider()}};
}

void PrintIssued(const Context& ctx, const pb::IssueTokenResponse& r) {
  if (ctx.json()) {
    PrintJson({{"token", r.token()},
               {"jti", r.jti()},
               {"kid", r.kid()},
               {"expire_time", Time(r.expire_time())}});
  } else {
    std::cout << r.token() << "\n";
  }
}

std::string TrimToken(std::string s) { return std::string(absl::StripAsciiWhitespace(s)); }

}  // namespace

void AddTokenCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* token =
      app.add_subcommand("token", "Issue, verify and revoke agent tokens")->require_subcommand(1);

  struct IssueArgs {
    std::string subject, audience, ttl, role = "agent", model;
  };
  auto issue_args = std::make_shared<IssueArgs>();
  auto* issue = token->add_subcommand("issue", "Issue a token; prints it on stdout");
  issue->add_option("--subject", issue_args->subject, "sub claim, e.g. agents/research-1")
      ->required();
  issue->add_option("--audience", issue_args->audience, "aud claim, e.g. clawos-inference-proxy")
      ->required();
  AddTtl(issue, &issue_args->ttl);
  issue->add_option("--role", issue_args->role, "agent, admin (= operator) or viewer")
      ->capture_default_str();
  issue->add_option("--model", issue_args->model,
                    "clawos_model claim: the only LLM model the proxy serves the token");
  issue->callback([&ctx, &rc, issue_args] {
    pb::IssueTokenRequest req;
    req.set_subject(issue_args->subject);
    req.set_audience(issue_args->audience);
    req.set_role(issue_args->role);
    req.set_model(issue_args->model);
    if (!issue_args->ttl.empty())
      *req.mutable_ttl() = ProtoDuration(*ParseDuration(issue_args->ttl));
    rc = Call<pb::IssueTokenRequest, pb::IssueTokenResponse>(
        ctx, "token issue", "IssueToken", req,
        [&](const pb::IssueTokenResponse& r) { PrintIssued(ctx, r); });
  });

  auto audience = std::make_shared<std::string>();
  auto* verify = token->add_subcommand(
      "verify", "Verify a token read from stdin; exit 0 when valid, else the reason on stderr");
  verify->add_option("--audience", *audience, "The audience the token must be for")->required();
  verify->callback([&ctx, &rc, audience] {
    pb::VerifyTokenRequest req;
    req.set_token(TrimToken(ReadStdin()));
    req.set_audience(*audience);
    rc = Call<pb::VerifyTokenRequest, pb::VerifyTokenResponse>(
        ctx, "token verify", "VerifyToken", req, [&](const pb::VerifyTokenResponse& r) {
          if (ctx.json()) {
            PrintJson(ClaimsJson(r.claims()));
          } else {
            std::cout << "valid: sub=" << r.claims().subject() << " aud=" << r.claims().audience()
                      << " exp=" << Time(r.claims().expire_time()) << " jti=" << r.claims().jti()
                      << "\n";
          }
        });
  });

  struct RevokeArgs {
    std::string jti, subject, reason;
  };
  auto rv = std::make_shared<RevokeArgs>();
  auto* revoke = token->add_subcommand("revoke", "Revoke one token (--jti) or a subject's tokens");
  auto* jti_opt = revoke->add_option("--jti", rv->jti, "The token's jti");
  auto* sub_opt =
      revoke->add_option("--subject", rv->subject, "Every token of this subject so far");
  jti_opt->excludes(sub_opt);
  revoke->add_option("--reason", rv->reason, "Why, kept with the revocation");
  revoke->callback([&ctx, &rc, rv, jti_opt, sub_opt] {
    if (!*jti_opt && !*sub_opt) {
      std::cerr << "clawos: token revoke: give --jti or --subject\n";
      rc = 2;
      return;
    }
    pb::CreateRevocationRequest req;
    if (*jti_opt) req.set_jti(rv->jti);
    if (*sub_opt) req.set_subject(rv->subject);
    req.set_reason(rv->reason);
    rc = Call<pb::CreateRevocationRequest, pb::Revocation>(
        ctx, "token revoke", "CreateRevocation", req, [&](const pb::Revocation& r) {
          if (ctx.json()) {
            PrintJson({{"name", r.name()}, {"create_time", Time(r.create_time())}});
          } else {
            std::cout << "revoked " << r.name() << "\n";
          }
        });
  });

  auto* rotate = token->add_subcommand("rotate", "Make a new signing key current");
  rotate->callback([&ctx, &rc] {
    rc = Call<pb::RotateSigningKeyRequest, pb::SigningKey>(
        ctx, "token rotate", "RotateSigningKey", pb::RotateSigningKeyRequest(),
        [&](const pb::SigningKey& k) {
          if (ctx.json()) {
            PrintJson({{"kid", k.kid()}, {"create_time", Time(k.create_time())}});
          } else {
            std::cout << "current signing key: " << k.kid() << "\n";
          }
        });
  });

  auto* jwks = token->add_subcommand("jwks", "Print the JWKS (public keys) as JSON");
  jwks->callback([&ctx, &rc] {
    rc = Call<pb::GetJwksRequest, pb::Jwks>(
        ctx, "token jwks", "GetJwks", pb::GetJwksRequest(),
        [&](const pb::Jwks& j) { PrintJson(nlohmann::json::parse(j.json())); });
  });

  auto* keys = token->add_subcommand("keys", "List signing keys (current and retired)");
  keys->callback([&ctx, &rc] {
    rc = Call<pb::ListSigningKeysRequest, pb::ListSigningKeysResponse>(
        ctx, "token keys", "ListSigningKeys", pb::ListSigningKeysRequest(),
        [&](const pb::ListSigningKeysResponse& r) {
          nlohmann::json out = nlohmann::json::array();
          for (const auto& k : r.signing_keys()) {
            std::string state = k.state() == pb::SigningKey::CURRENT ? "current" : "retired";
            out.push_back(
                {{"kid", k.kid()}, {"state", state}, {"create_time", Time(k.create_time())}});
            if (!ctx.json())
              std::cout << k.kid() << "  " << state << "  " << Time(k.create_time()) << "\n";
          }
          if (ctx.json()) PrintJson(out);
        });
  });

  auto ex_ttl = std::make_shared<std::string>();
  auto* exchange = token->add_subcommand(
      "exchange-oidc", "Exchange an OIDC ID token (stdin) for a ClawOS operator token");
  AddTtl(exchange, ex_ttl.get());
  exchange->callback([&ctx, &rc, ex_ttl] {
    pb::ExchangeOidcTokenRequest req;
    req.set_id_token(TrimToken(ReadStdin()));
    if (!ex_ttl->empty()) *req.mutable_ttl() = ProtoDuration(*ParseDuration(*ex_ttl));
    rc = Call<pb::ExchangeOidcTokenRequest, pb::IssueTokenResponse>(
        ctx, "token exchange-oidc", "ExchangeOidcToken", req,
        [&](const pb::IssueTokenResponse& r) { PrintIssued(ctx, r); });
  });
}

void AddSecretCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* secret =
      app.add_subcommand("secret", "Sealed secrets (provider API keys)")->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto raw = std::make_shared<bool>(false);

  auto* put = secret->add_subcommand(
      "put", "Create or replace a secret; the value is read from stdin (never argv)");
  put->add_option("name", *name, "Secret id, e.g. openai")->required();
  put->add_flag("--raw", *raw, "Keep stdin byte for byte (default: drop one trailing newline)");
  put->callback([&ctx, &rc, name, raw] {
    std::string value = ReadStdin();
    if (!*raw && !value.empty() && value.back() == '\n') value.pop_back();
    if (!*raw && !value.empty() && value.back() == '\r') value.pop_back();
    pb::UpdateSecretRequest req;
    req.set_name("secrets/" + *name);
    req.set_value(value);
    req.set_allow_missing(true);
    rc = Call<pb::UpdateSecretRequest, pb::Secret>(
        ctx, "secret put", "UpdateSecret", req, [&](const pb::Secret& s) {
          if (ctx.json()) {
            PrintJson({{"name", s.name()},
                       {"size_bytes", s.size_bytes()},
                       {"update_time", Time(s.update_time())}});
          } else {
            std::cout << "stored " << s.name() << " (" << s.size_bytes() << " bytes)\n";
          }
        });
  });

  auto* get = secret->add_subcommand("get", "Print a secret's value on stdout");
  get->add_option("name", *name, "Secret id")->required();
  get->callback([&ctx, &rc, name] {
    pb::AccessSecretRequest req;
    req.set_name("secrets/" + *name);
    rc = Call<pb::AccessSecretRequest, pb::AccessSecretResponse>(
        ctx, "secret get", "AccessSecret", req, [&](const pb::AccessSecretResponse& r) {
          if (ctx.json()) {
            // Binary values go out as base64url so the JSON stays valid.
            if (IsValidUtf8(r.value())) {
              PrintJson({{"name", r.name()}, {"value", r.value()}});
            } else {
              PrintJson(
                  {{"name", r.name()}, {"value_base64url", crypto::Base64UrlEncode(r.value())}});
            }
          } else {
            std::cout << r.value();
            if (isatty(1)) std::cout << "\n";
          }
        });
  });

  auto* list = secret->add_subcommand("list", "List secrets (names and sizes, never values)");
  list->callback([&ctx, &rc] {
    nlohmann::json all = nlohmann::json::array();
    std::string token;
    do {
      pb::ListSecretsRequest req;
      req.set_page_size(1000);
      req.set_page_token(token);
      token.clear();
      rc = Call<pb::ListSecretsRequest, pb::ListSecretsResponse>(
          ctx, "secret list", "ListSecrets", req, [&](const pb::ListSecretsResponse& r) {
            for (const auto& s : r.secrets()) {
              all.push_back({{"name", s.name()},
                             {"size_bytes", s.size_bytes()},
                             {"update_time", Time(s.update_time())}});
            }
            token = r.next_page_token();
          });
    } while (rc == 0 && !token.empty());
    if (rc != 0) return;
    if (ctx.json()) {
      PrintJson(all);
    } else {
      for (const auto& s : all) {
        std::cout << s["name"].get<std::string>() << "  " << s["size_bytes"] << " bytes  "
                  << s["update_time"].get<std::string>() << "\n";
      }
    }
  });

  auto* del = secret->add_subcommand("delete", "Delete a secret");
  del->add_option("name", *name, "Secret id")->required();
  del->callback([&ctx, &rc, name] {
    pb::DeleteSecretRequest req;
    req.set_name("secrets/" + *name);
    rc = Call<pb::DeleteSecretRequest, google::protobuf::Empty>(
        ctx, "secret delete", "DeleteSecret", req, [&](const google::protobuf::Empty&) {
          if (!ctx.json()) std::cout << "deleted secrets/" << *name << "\n";
        });
  });

  auto* rotate = secret->add_subcommand(
      "rotate-master-key", "Re-seal every secret and signing key under a fresh master key");
  rotate->callback([&ctx, &rc] {
    rc = Call<pb::RotateMasterKeyRequest, pb::RotateMasterKeyResponse>(
        ctx, "secret rotate-master-key", "RotateMasterKey", pb::RotateMasterKeyRequest(),
        [&](const pb::RotateMasterKeyResponse& r) {
          if (ctx.json()) {
            PrintJson({{"resealed_records", r.resealed_records()}});
          } else {
            std::cout << "re-sealed " << r.resealed_records() << " records\n";
          }
        });
  });
}

}  // namespace clawos::cli
