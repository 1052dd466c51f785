// ControlService behaviour that depends on the caller's Flower line.
#include "flwr/superlink/control_service.h"

#include <gtest/gtest.h>

#include "flwr/core/object_store.h"
#include "flwr/core/runtime_version.h"

namespace flwr::superlink {
namespace {

class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LinkState>> state = LinkState::Open(core::kInMemoryDatabase);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
    for (int i = 0; i < 25; ++i) {
      NewRun run;
      run.fab_id = "flwrcpp/app";
      run.fab_version = "1.0.0";
      run.fab_hash = "h";
      ASSERT_TRUE(state_->CreateRun(run).ok());
    }
  }

  size_t Listed(const proto::ListRunsRequest& request, absl::string_view line) {
    absl::StatusOr<proto::ListRunsResponse> response =
        ControlService(state_.get()).ListRuns(request, line);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->run_dict_size() : 0;
  }

  std::unique_ptr<LinkState> state_;
};

TEST_F(ControlServiceTest, list_runs_pages_for_the_http_line_only) {
  proto::ListRunsRequest all;
  // control_handlers.list_runs of 1.42: 20 without a limit; 1.36: every run.
  EXPECT_EQ(Listed(all, "1.42.0"), 20u);
  EXPECT_EQ(Listed(all, "1.36.0"), 25u);
  proto::ListRunsRequest page;
  page.set_limit(10);
  page.set_skip(20);
  EXPECT_EQ(Listed(page, "1.42.0"), 5u);
  EXPECT_EQ(Listed(page, "1.36.0"), 10u);  // 1.36 has no `skip`
  page.set_skip(100);
  EXPECT_EQ(Listed(page, "1.42.0"), 0u);
}

}  // namespace
}  // namespace flwr::superlink
