// FleetService node registration with and without SuperNode authentication.
#include "flwr/superlink/fleet_service.h"

#include <gtest/gtest.h>

#include "flwr/core/flower_error.h"
#include "flwr/core/object_store.h"

namespace flwr::superlink {
namespace {

class FleetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<LinkState>> state = LinkState::Open(core::kInMemoryDatabase);
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
  }

  std::unique_ptr<LinkState> state_;
};

proto::ActivateNodeRequest Activation(const std::string& public_key) {
  proto::ActivateNodeRequest request;
  request.set_public_key(public_key);
  request.set_heartbeat_interval(30);
  return request;
}

TEST_F(FleetServiceTest, supernodes_register_themselves_without_supernode_auth) {
  FleetService fleet(state_.get());
  proto::RegisterNodeFleetRequest request;
  request.set_public_key("key");
  absl::StatusOr<proto::RegisterNodeFleetResponse> registered = fleet.RegisterNode(request);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(fleet.ActivateNode(Activation("key"))->node_id(), registered->node_id());
  proto::UnregisterNodeFleetRequest unregister;
  unregister.set_node_id(registered->node_id());
  EXPECT_TRUE(fleet.UnregisterNode(unregister).ok());
}

TEST_F(FleetServiceTest, supernode_auth_admits_only_keys_registered_through_control) {
  FleetService fleet(state_.get(), /*enable_supernode_auth=*/true);
  proto::RegisterNodeFleetRequest request;
  request.set_public_key("key");
  EXPECT_EQ(core::FlowerErrorCode(fleet.RegisterNode(request).status()),
            core::api_error::kFleetSupernodeRegistrationDisabled);
  EXPECT_EQ(core::FlowerErrorCode(fleet.ActivateNode(Activation("key")).status()),
            core::api_error::kFleetNodeActivationFailed);

  const uint64_t node_id = *state_->CreateNode("key", 30);  // `flwr supernode register`
  EXPECT_EQ(fleet.ActivateNode(Activation("key"))->node_id(), node_id);
  proto::UnregisterNodeFleetRequest unregister;
  unregister.set_node_id(node_id);
  EXPECT_EQ(core::FlowerErrorCode(fleet.UnregisterNode(unregister).status()),
            core::api_error::kFleetSupernodeUnregistrationDisabled);

  ASSERT_TRUE(state_->UnregisterNode(node_id).ok());  // `flwr supernode unregister`
  EXPECT_EQ(core::FlowerErrorCode(fleet.ActivateNode(Activation("key")).status()),
            core::api_error::kFleetNodeActivationFailed);
}

}  // namespace
}  // namespace flwr::superlink
