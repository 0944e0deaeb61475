// The bootstrap admin token: <state>/admin.token (0600 in a 0700 dir), made
// on the first start so an operator can make the first calls, and renewed
// while it has less than half of its lifetime left (identity caps token
// lifetimes, 24 h by default).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clawos/identity/v1/identity.grpc.pb.h"

namespace clawos::controlplane {

inline constexpr char kBootstrapSubject[] = "operators/bootstrap-admin";

// Issues a new token when the file is missing, unreadable or past half its
// life; leaves a good one alone. Returns whether it wrote one.
absl::StatusOr<bool> EnsureAdminToken(identity::v1::IdentityService::Stub& identity,
                                      const std::string& path,
                                      absl::Duration ttl = absl::Hours(24));

}  // namespace clawos::controlplane
