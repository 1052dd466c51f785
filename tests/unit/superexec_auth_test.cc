#include "flwr/core/superexec_auth.h"

#include <gtest/gtest.h>

#include "flwr/proto/runtime.pb.h"

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

}  // namespace
}  // namespace flwr::core
