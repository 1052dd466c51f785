#include "flwr/core/superexec_auth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "absl/time/time.h"
#include "flwr/core/flower_error.h"
#include "flwr/proto/runtime.pb.h"
#include "../temp_path.h"

namespace flwr::core {
namespace {

// The values of flwr's compute_request_body_sha256 and compute_superexec_signature (pinned
// wheels) for this request, secret, time and nonce.
TEST(SuperExecAuthTest, SignsAsStockFlower) {
  proto::AcquireTaskRequest request;
  request.add_supported_task_types("flwr-clientapp");
  const auto headers = SuperExecAuthHeaders("master secret", kAcquireTaskMethod, request,
                                            1700000000, "0123456789abcdef0123456789abcdef");
  ASSERT_EQ(headers.size(), 4u);
  EXPECT_EQ(headers[0], (std::pair<std::string, std::string>{"flwr-superexec-ts", "1700000000"}));
  EXPECT_EQ(headers[1].second, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(headers[2], (std::pair<std::string, std::string>{
                            "flwr-superexec-body-sha256",
                            "61e5fa7d728778547a32e8472bbe60079bbf4ce48bc6885efa93f22b840be234"}));
  EXPECT_EQ(headers[3], (std::pair<std::string, std::string>{
                            "flwr-superexec-signature",
                            "070dfc15ccde7141c31a0ca832064f88a4c5b42168cdea11aa42afc96880ef93"}));
}

TEST(SuperExecAuthTest, FreshNonceEachTime) {
  const proto::PullPendingTasksRequest request;
  const auto first = SuperExecAuthHeaders("s", kPullPendingTasksMethod, request);
  const auto second = SuperExecAuthHeaders("s", kPullPendingTasksMethod, request);
  EXPECT_EQ(first[1].second.size(), 32u);
  EXPECT_NE(first[1].second, second[1].second);
  EXPECT_NE(first[3].second, second[3].second);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kSignedAt = 1700000000;

Headers Signed(absl::string_view secret, absl::string_view method,
               const google::protobuf::MessageLite& request,
               absl::string_view nonce = "0123456789abcdef0123456789abcdef") {
  return SuperExecAuthHeaders(secret, method, request, kSignedAt, nonce);
}

bool Refused(const absl::Status& status, absl::string_view method) {
  return FlowerErrorCode(status) == api_error::kRuntimeAuthenticationFailed &&
         status.message() == absl::StrCat("SuperExec authentication failed for ", method, ".");
}

TEST(SuperExecAuthVerifierTest, accepts_a_signed_request_once) {
  SuperExecAuthVerifier verifier("master secret");
  proto::AcquireTaskRequest request;
  request.add_supported_task_types("flwr-clientapp");
  const Headers headers = Signed("master secret", kAcquireTaskMethod, request);
  const absl::Time now = absl::FromUnixSeconds(kSignedAt) + absl::Seconds(1);
  EXPECT_TRUE(verifier.Verify(kAcquireTaskMethod, request, headers, now).ok());
  // The same signature again: a replay.
  EXPECT_TRUE(
      Refused(verifier.Verify(kAcquireTaskMethod, request, headers, now), kAcquireTaskMethod));
}

TEST(SuperExecAuthVerifierTest, refuses_a_wrong_secret_method_or_body) {
  SuperExecAuthVerifier verifier("master secret");
  proto::ClaimTaskRequest request;
  request.set_task_id(7);
  const absl::Time now = absl::FromUnixSeconds(kSignedAt);
  EXPECT_TRUE(Refused(verifier.Verify(kClaimTaskMethod, request,
                                      Signed("other secret", kClaimTaskMethod, request), now),
                      kClaimTaskMethod));
  EXPECT_TRUE(Refused(verifier.Verify(kClaimTaskMethod, request,
                                      Signed("master secret", kAcquireTaskMethod, request), now),
                      kClaimTaskMethod));
  proto::ClaimTaskRequest other;
  other.set_task_id(8);
  EXPECT_TRUE(Refused(verifier.Verify(kClaimTaskMethod, other,
                                      Signed("master secret", kClaimTaskMethod, request), now),
                      kClaimTaskMethod));
  // Failed checks did not use the nonce up.
  EXPECT_TRUE(verifier
                  .Verify(kClaimTaskMethod, request,
                          Signed("master secret", kClaimTaskMethod, request), now)
                  .ok());
}

TEST(SuperExecAuthVerifierTest, refuses_missing_empty_or_repeated_headers) {
  SuperExecAuthVerifier verifier("s");
  const proto::PullPendingTasksRequest request;
  const absl::Time now = absl::FromUnixSeconds(kSignedAt);
  for (size_t i = 0; i < 4; ++i) {
    Headers missing = Signed("s", kPullPendingTasksMethod, request);
    missing.erase(missing.begin() + i);
    EXPECT_TRUE(Refused(verifier.Verify(kPullPendingTasksMethod, request, missing, now),
                        kPullPendingTasksMethod));
    Headers empty = Signed("s", kPullPendingTasksMethod, request);
    empty[i].second.clear();
    EXPECT_TRUE(Refused(verifier.Verify(kPullPendingTasksMethod, request, empty, now),
                        kPullPendingTasksMethod));
    Headers repeated = Signed("s", kPullPendingTasksMethod, request);
    repeated.push_back(repeated[i]);
    EXPECT_TRUE(Refused(verifier.Verify(kPullPendingTasksMethod, request, repeated, now),
                        kPullPendingTasksMethod));
  }
}

TEST(SuperExecAuthVerifierTest, accepts_timestamps_under_305_s_old_and_under_5_s_ahead) {
  SuperExecAuthVerifier verifier("s");
  const proto::PullPendingTasksRequest request;
  const absl::Time signed_at = absl::FromUnixSeconds(kSignedAt);
  int nonce = 0;
  auto verify_at = [&](absl::Time now) {
    const std::string fresh = absl::StrCat("nonce-", ++nonce);
    return verifier.Verify(kPullPendingTasksMethod, request,
                           Signed("s", kPullPendingTasksMethod, request, fresh), now);
  };
  EXPECT_TRUE(verify_at(signed_at + absl::Seconds(304.9)).ok());
  EXPECT_FALSE(verify_at(signed_at + absl::Seconds(305)).ok());
  EXPECT_TRUE(verify_at(signed_at - absl::Seconds(4.9)).ok());
  EXPECT_FALSE(verify_at(signed_at - absl::Seconds(5)).ok());
}

TEST(SuperExecAuthVerifierTest, nonces_are_per_method) {
  SuperExecAuthVerifier verifier("s");
  const proto::PullPendingTasksRequest pull;
  proto::ClaimTaskRequest claim;
  claim.set_task_id(1);
  const absl::Time now = absl::FromUnixSeconds(kSignedAt);
  EXPECT_TRUE(
      verifier
          .Verify(kPullPendingTasksMethod, pull, Signed("s", kPullPendingTasksMethod, pull), now)
          .ok());
  EXPECT_TRUE(
      verifier.Verify(kClaimTaskMethod, claim, Signed("s", kClaimTaskMethod, claim), now).ok());
}

TEST(LoadSuperExecAuthSecretTest, reads_exact_bytes_and_refuses_empty_or_missing_files) {
  const std::string secret = flwr::testing::TempPath("superexec.secret").string();
  std::ofstream(secret, std::ios::binary) << "a shared secret\n";
  EXPECT_EQ(*LoadSuperExecAuthSecret(secret), "a shared secret\n");
  std::ofstream(secret, std::ios::binary | std::ios::trunc).flush();
  EXPECT_EQ(LoadSuperExecAuthSecret(secret).status().message(),
            "SuperExec auth secret must not be empty");
  const std::string missing = flwr::testing::TempPath("missing.secret").string();
  EXPECT_EQ(LoadSuperExecAuthSecret(missing).status().message(),
            absl::StrCat("Failed to read SuperExec auth secret from file '", missing,
                         "': [Errno 2] No such file or directory: '", missing, "'"));
}

}  // namespace
}  // namespace flwr::core
