// ControlService behaviour that depends on the caller's Flower line, node registration, run
// series and the NoOp federation management.
#include "flwr/superlink/control_service.h"

#include <gtest/gtest.h>

#include "flwr/core/flower_error.h"
#include "flwr/core/node_auth.h"
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

// A PEM public key of a fresh SECP384R1 key, as `flwr supernode register` sends it.
std::string FreshPublicKey() { return core::NodeKey::Generate()->PublicKeyPem(); }

proto::RegisterNodeRequest Registration(std::string public_key) {
  proto::RegisterNodeRequest request;
  request.set_public_key(std::move(public_key));
  return request;
}

TEST_F(ControlServiceTest, register_node_takes_a_nist_ec_key_once) {
  ControlService control(state_.get());
  EXPECT_EQ(
      core::FlowerErrorCode(control.RegisterNode(Registration("not a key"), "1.36.0").status()),
      core::api_error::kPublicKeyNotValid);
  const proto::RegisterNodeRequest request = Registration(FreshPublicKey());
  absl::StatusOr<proto::RegisterNodeResponse> registered = control.RegisterNode(request, "1.36.0");
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_GT(registered->node_id(), kSuperLinkNodeId);
  EXPECT_EQ(core::FlowerErrorCode(control.RegisterNode(request, "1.42.0").status()),
            core::api_error::kPublicKeyAlreadyInUse);

  proto::ListNodesResponse listed = *control.ListNodes(proto::ListNodesRequest());
  ASSERT_EQ(listed.nodes_info_size(), 1);
  const proto::NodeInfo& node = listed.nodes_info(0);
  EXPECT_EQ(node.node_id(), registered->node_id());
  EXPECT_EQ(node.status(), kNodeRegistered);
  EXPECT_EQ(node.owner_aid(), kNoAccountId);
  EXPECT_EQ(node.owner_name(), kNoAccountName);
  EXPECT_EQ(node.heartbeat_interval(), 30);  // HEARTBEAT_DEFAULT_INTERVAL
  EXPECT_EQ(node.public_key(), request.public_key());
}

TEST_F(ControlServiceTest, register_node_keeps_name_and_location_for_the_http_line_only) {
  ControlService control(state_.get());
  proto::RegisterNodeRequest request = Registration(FreshPublicKey());
  request.set_name("hospital-a");
  request.set_location(" 37.4056, -122.0775");
  ASSERT_TRUE(control.RegisterNode(request, "1.42.0").ok());
  request.set_public_key(FreshPublicKey());
  request.set_location("not checked for 1.36");
  ASSERT_TRUE(control.RegisterNode(request, "1.36.0").ok());
  int with_details = 0;
  const proto::ListNodesResponse listed = *control.ListNodes(proto::ListNodesRequest());
  for (const proto::NodeInfo& node : listed.nodes_info()) {
    if (!node.has_name()) continue;
    ++with_details;
    EXPECT_EQ(node.name(), "hospital-a");
    EXPECT_EQ(node.location(), " 37.4056, -122.0775");
  }
  EXPECT_EQ(with_details, 1);
}

TEST_F(ControlServiceTest, register_node_refuses_a_bad_location_with_flwrs_reason) {
  ControlService control(state_.get());
  const std::pair<const char*, const char*> cases[] = {
      {"37.4", "Location must contain two comma-separated numbers: \"<latitude>,<longitude>\"."},
      {"1,2,3", "Location must contain two comma-separated numbers: \"<latitude>,<longitude>\"."},
      {"north,east",
       "Location must contain two comma-separated numbers: \"<latitude>,<longitude>\"."},
      {"nan,0", "Latitude and longitude must be finite numbers."},
      {"0,inf", "Latitude and longitude must be finite numbers."},
      {"90.5,0", "Latitude must be between -90 and 90 and longitude must be between -180 and 180."},
      {"0,-181", "Latitude must be between -90 and 90 and longitude must be between -180 and 180."},
  };
  for (const auto& [location, reason] : cases) {
    proto::RegisterNodeRequest request = Registration(FreshPublicKey());
    request.set_location(location);
    absl::Status status = control.RegisterNode(request, "1.42.0").status();
    EXPECT_EQ(core::FlowerErrorCode(status), core::api_error::kInvalidSupernodeLocation)
        << location;
    EXPECT_EQ(core::FlowerErrorPublicDetails(status), reason) << location;
  }
  EXPECT_EQ(control.ListNodes(proto::ListNodesRequest())->nodes_info_size(), 0);
}

TEST_F(ControlServiceTest, unregister_node_is_refused_for_unknown_and_unregistered_nodes) {
  ControlService control(state_.get());
  proto::UnregisterNodeRequest request;
  request.set_node_id(12345);
  EXPECT_EQ(core::FlowerErrorCode(control.UnregisterNode(request).status()),
            core::api_error::kNodeNotFound);
  request.set_node_id(control.RegisterNode(Registration(FreshPublicKey()), "1.36.0")->node_id());
  EXPECT_TRUE(control.UnregisterNode(request).ok());
  EXPECT_EQ(core::FlowerErrorCode(control.UnregisterNode(request).status()),
            core::api_error::kNodeNotFound);
  EXPECT_EQ(control.ListNodes(proto::ListNodesRequest())->nodes_info(0).status(),
            kNodeUnregistered);
}

TEST_F(ControlServiceTest, each_run_is_a_run_series_whose_description_can_change) {
  ControlService control(state_.get());
  proto::ListRunSeriesRequest list;
  list.set_limit(3);
  const proto::ListRunSeriesResponse listed = *control.ListRunSeries(list);
  ASSERT_EQ(listed.entries_size(), 3);
  const proto::RunSeries& series = listed.entries(0);
  ASSERT_EQ(series.run_ids_size(), 1);
  EXPECT_EQ(series.federation(), kDefaultFederation);

  proto::GetRunSeriesRequest get;
  get.set_series_id(series.series_id());
  const proto::GetRunSeriesResponse got = *control.GetRunSeries(get);
  ASSERT_EQ(got.runs_size(), 1);
  EXPECT_EQ(got.runs(0).run_id(), series.run_ids(0));
  get.set_series_id(series.series_id() + 1);
  EXPECT_EQ(core::FlowerErrorCode(control.GetRunSeries(get).status()),
            core::api_error::kRunSeriesIdNotFound);

  proto::UpdateRunSeriesDescriptionRequest update;
  update.set_series_id(series.series_id());
  update.set_description(std::string(81, 'x'));
  EXPECT_EQ(core::FlowerErrorCode(control.UpdateRunSeriesDescription(update).status()),
            core::api_error::kInvalidRunSeriesDescription);
  update.set_description("  a federated study  ");
  ASSERT_TRUE(control.UpdateRunSeriesDescription(update).ok());
  get.set_series_id(series.series_id());
  EXPECT_EQ(control.GetRunSeries(get)->series().description(), "a federated study");
}

TEST_F(ControlServiceTest, federation_management_answers_as_flwrs_noop_manager) {
  ControlService control(state_.get());
  proto::ShowFederationRequest show;
  show.set_federation_name(std::string(kDefaultFederation));
  const proto::ShowFederationResponse shown = *control.ShowFederation(show);
  EXPECT_EQ(shown.federation().runs_size(), 25);
  EXPECT_EQ(shown.federation().member_count(), 1u);
  show.set_federation_name("@alice/other");
  EXPECT_EQ(control.ShowFederation(show).status().code(), absl::StatusCode::kInternal);

  proto::CreateFederationRequest create;
  EXPECT_EQ(core::FlowerErrorCode(control.CreateFederation(create).status()),
            core::api_error::kFederationNotSpecified);
  create.set_federation_name("1fed");
  absl::Status refused = control.CreateFederation(create).status();
  EXPECT_EQ(core::FlowerErrorCode(refused), core::api_error::kInvalidFederationName);
  EXPECT_EQ(core::FlowerErrorPublicDetails(refused), "Must start with a letter.");
  create.set_federation_name("fed-1");
  EXPECT_EQ(core::FlowerErrorCode(control.CreateFederation(create).status()),
            core::api_error::kNoFederationManagementSupport);

  proto::ListAppsRequest apps;
  apps.set_federation_id("@alice/other");
  EXPECT_EQ(core::FlowerErrorCode(control.ListApps(apps).status()),
            core::api_error::kFederationNotFound);
  apps.set_federation_id(std::string(kDefaultFederation));
  EXPECT_EQ(control.ListApps(apps)->apps_size(), 1);  // flwr's built-in Flower Agent entry
}

TEST_F(ControlServiceTest, only_a_simulation_federation_has_a_simulation_config) {
  ControlService deployment(state_.get());
  EXPECT_FALSE(deployment.ListFederations({})->federations(0).simulation());
  proto::ShowFederationRequest show;
  show.set_federation_name(std::string(kDefaultFederation));
  EXPECT_FALSE(deployment.ShowFederation(show)->federation().has_config());
  proto::ConfigureSimulationFederationRequest configure;
  configure.mutable_config()->set_num_supernodes(5);
  EXPECT_EQ(core::FlowerErrorCode(deployment.ConfigureSimulationFederation(configure).status()),
            core::api_error::kFederationNotFoundOrNoPermission);

  // flwr's NoOpFederationManager(simulation=True): DEFAULT_SIMULATION_CONFIG, merged into.
  ControlService simulation(state_.get(), FederationRuntime::kSimulation);
  EXPECT_TRUE(simulation.ListFederations({})->federations(0).simulation());
  EXPECT_FALSE(simulation.ListFederations({})->federations(0).has_config());
  proto::Federation shown = simulation.ShowFederation(show)->federation();
  EXPECT_TRUE(shown.simulation());
  EXPECT_EQ(shown.config().num_supernodes(), 2u);
  EXPECT_EQ(shown.config().client_resources_num_cpus(), 2u);
  EXPECT_EQ(shown.config().backend(), "ray");
  EXPECT_FALSE(shown.config().has_init_args_num_cpus());
  absl::StatusOr<proto::ConfigureSimulationFederationResponse> configured =
      simulation.ConfigureSimulationFederation(configure);  // no federation: the default one
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_EQ(configured->federation_name(), kDefaultFederation);
  shown = simulation.ShowFederation(show)->federation();
  EXPECT_EQ(shown.config().num_supernodes(), 5u);
  EXPECT_EQ(shown.config().client_resources_num_cpus(), 2u);
  configure.set_federation_name("@alice/other");
  EXPECT_EQ(core::FlowerErrorCode(simulation.ConfigureSimulationFederation(configure).status()),
            core::api_error::kFederationNotFoundOrNoPermission);
}

}  // namespace
}  // namespace flwr::superlink
