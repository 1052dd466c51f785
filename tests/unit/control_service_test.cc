// ControlService behaviour that depends on the caller's Flower line, node registration, run
// series, apps, automations and the NoOp federation management.
#include "flwr/superlink/control_service.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../temp_path.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/object_store.h"
#include "flwr/core/runtime_version.h"
#include "test_zip.h"

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

TEST_F(ControlServiceTest, hub_apps_are_code_32_where_the_transport_does_not_reach_the_hub) {
  // A SuperLink on `--fleet-api-type grpc-adapter`, as flwr's _get_remote_fab refuses it.
  ControlService control(state_.get());
  control.set_hub_transport_supported(false);
  proto::StartRunRequest hub_run;
  hub_run.set_app_spec("@flwrlabs/app");
  EXPECT_EQ(core::FlowerErrorCode(control.StartRun(hub_run).status()),
            core::api_error::kUnsupportedFabHubTransport);
  proto::AddAppRequest add;
  add.set_federation_id(std::string(kDefaultFederation));
  add.set_app_id("not-an-app");  // refused before the spec is read
  EXPECT_EQ(core::FlowerErrorCode(control.AddApp(add).status()),
            core::api_error::kUnsupportedFabHubTransport);
}

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
  const proto::GetRunSeriesResponse got = *control.GetRunSeries(get, "1.42.0");
  ASSERT_EQ(got.runs_size(), 1);
  EXPECT_EQ(got.runs(0).run_id(), series.run_ids(0));
  EXPECT_EQ(got.runs(0).account_name(), "");  // only ListRuns names the account
  EXPECT_EQ(control.ListRuns(proto::ListRunsRequest(), "1.42.0")
                ->run_dict()
                .at(series.run_ids(0))
                .account_name(),
            kNoAccountName);
  EXPECT_EQ(control.GetRunSeries(get, "1.36.0")->runs_size(), 0);  // 1.36 has no runs field
  get.set_series_id(series.series_id() + 1);
  EXPECT_EQ(core::FlowerErrorCode(control.GetRunSeries(get, "1.42.0").status()),
            core::api_error::kRunSeriesIdNotFound);

  proto::UpdateRunSeriesDescriptionRequest update;
  update.set_series_id(series.series_id());
  update.set_description(std::string(81, 'x'));
  EXPECT_EQ(core::FlowerErrorCode(control.UpdateRunSeriesDescription(update).status()),
            core::api_error::kInvalidRunSeriesDescription);
  update.set_description("  a federated study  ");
  ASSERT_TRUE(control.UpdateRunSeriesDescription(update).ok());
  get.set_series_id(series.series_id());
  EXPECT_EQ(control.GetRunSeries(get, "1.42.0")->series().description(), "a federated study");
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
  EXPECT_EQ(core::FlowerErrorCode(control.ListApps(apps, "1.42.0").status()),
            core::api_error::kFederationNotFound);
  apps.set_federation_id(std::string(kDefaultFederation));
  EXPECT_EQ(control.ListApps(apps, "1.42.0")->apps_size(),
            1);  // flwr's built-in Flower Agent entry
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

// Apps, run series and automations over both LinkState implementations, with a clock to move.
class ControlServiceStateTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string database(core::kInMemoryDatabase);
    if (GetParam() == "sqlite") {
      path_ = flwr::testing::TempPath("state.db");
      database = path_.string();
    }
    Open(database);
  }
  void TearDown() override {
    control_.reset();
    state_.reset();
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_.string() + suffix);
  }
  void Open(const std::string& database) {
    control_.reset();
    state_.reset();
    absl::StatusOr<std::unique_ptr<LinkState>> state =
        LinkState::Open(database, [this] { return now_; });
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
    control_ = std::make_unique<ControlService>(state_.get(), FederationRuntime::kDeployment,
                                                [this] { return now_; });
  }

  // A StartRun request for a FAB of the app "@flwrlabs/<name>".
  static proto::StartRunRequest RunRequest(const std::string& name) {
    const std::string pyproject = absl::StrCat(R"([project]
name = ")",
                                               name, R"("
version = "1.0.0"
description = "An app for tests"

[tool.flwr.app]
publisher = "flwrlabs"
display-name = "Test App"

[tool.flwr.app.components]
serverapp = "app.server_app:app"
clientapp = "app.client_app:app"
)");
    proto::StartRunRequest request;
    request.mutable_fab()->set_content(
        test_zip::MakeZip({{"app/__init__.py", ""}, {"pyproject.toml", pyproject}}));
    return request;
  }

  std::vector<std::string> AppIds() {
    proto::ListAppsRequest request;
    request.set_federation_id(std::string(kDefaultFederation));
    const proto::ListAppsResponse listed = *control_->ListApps(request, "1.42.0");
    std::vector<std::string> ids;
    for (const proto::AppInfo& app : listed.apps()) ids.push_back(app.app_id());
    return ids;
  }

  absl::Time now_ = absl::FromUnixSeconds(1767225600);  // 2026-01-01T00:00:00+00:00
  std::filesystem::path path_;
  std::unique_ptr<LinkState> state_;
  std::unique_ptr<ControlService> control_;
};

TEST_P(ControlServiceStateTest, a_runs_app_is_listed_before_the_agent_until_removed) {
  EXPECT_EQ(AppIds(), std::vector<std::string>{"@flwrlabs/flwr-agent"});
  ASSERT_TRUE(control_->StartRun(RunRequest("first")).ok());
  now_ += absl::Seconds(1);
  ASSERT_TRUE(control_->StartRun(RunRequest("second")).ok());
  ASSERT_TRUE(control_->StartRun(RunRequest("first")).ok());  // stays where it was added
  EXPECT_EQ(AppIds(), (std::vector<std::string>{"@flwrlabs/second", "@flwrlabs/first",
                                                "@flwrlabs/flwr-agent"}));

  proto::ListAppsRequest limited;
  limited.set_federation_id(std::string(kDefaultFederation));
  limited.set_limit(2);
  const proto::ListAppsResponse two = *control_->ListApps(limited, "1.42.0");
  ASSERT_EQ(two.apps_size(), 2);
  EXPECT_EQ(two.apps(0).app_id(), "@flwrlabs/second");
  EXPECT_EQ(two.apps(0).app_type(), "flwr-serverapp");
  EXPECT_EQ(two.apps(0).display_name(), "Test App");
  EXPECT_EQ(two.apps(0).description(), "An app for tests");
  EXPECT_FALSE(two.apps(0).is_hub_app());
  EXPECT_EQ(two.apps(0).fab_hash().size(), 64u);
  EXPECT_EQ(two.apps(1).app_id(), "@flwrlabs/flwr-agent");
  const proto::ListAppsResponse plain = *control_->ListApps(limited, "1.36.0");
  EXPECT_EQ(plain.apps(0).display_name(), "");  // 1.36's AppInfo has no details
  EXPECT_EQ(plain.apps(1).color(), "");

  proto::ListAppAssociationsRequest associations;
  associations.set_app_id("@flwrlabs/first");
  EXPECT_EQ(control_->ListAppAssociations(associations)->federation_ids_size(), 1);

  // A stored app starts again from its ID and FAB hash alone.
  proto::StartRunRequest stored;
  stored.set_app_spec("@flwrlabs/second");
  stored.mutable_fab()->set_hash_str(two.apps(0).fab_hash());
  EXPECT_TRUE(control_->StartRun(stored).ok());
  stored.set_app_spec("@flwrlabs/first");
  EXPECT_EQ(core::FlowerErrorCode(control_->StartRun(stored).status()),
            core::api_error::kFabDownloadFailure);
  stored.set_app_spec("not-an-app");
  EXPECT_EQ(core::FlowerErrorCode(control_->StartRun(stored).status()),
            core::api_error::kInvalidAppSpec);

  proto::RemoveAppRequest remove;
  remove.set_federation_id(std::string(kDefaultFederation));
  remove.set_app_id("@flwrlabs/second");
  ASSERT_TRUE(control_->RemoveApp(remove).ok());
  EXPECT_EQ(AppIds(), (std::vector<std::string>{"@flwrlabs/first", "@flwrlabs/flwr-agent"}));
}

TEST_P(ControlServiceStateTest, a_run_joins_an_existing_series_of_its_federation_only) {
  const proto::StartRunResponse first = *control_->StartRun(RunRequest("app"));
  now_ += absl::Seconds(5);
  proto::StartRunRequest again = RunRequest("app");
  again.set_series_id(first.series_id());
  const proto::StartRunResponse second = *control_->StartRun(again);
  EXPECT_EQ(second.series_id(), first.series_id());
  again.set_series_id(first.series_id() + 1);
  EXPECT_EQ(core::FlowerErrorCode(control_->StartRun(again).status()),
            core::api_error::kFailedToCreateRun);

  proto::GetRunSeriesRequest get;
  get.set_series_id(first.series_id());
  const proto::RunSeries series = control_->GetRunSeries(get, "1.42.0")->series();
  ASSERT_EQ(series.run_ids_size(), 2);
  EXPECT_EQ(series.run_ids(0), first.run_id());
  EXPECT_EQ(series.run_ids(1), second.run_id());
  EXPECT_EQ(series.created_at(), "2026-01-01T00:00:00+00:00");
  EXPECT_EQ(series.updated_at(), "2026-01-01T00:00:05+00:00");
  EXPECT_EQ(series.last_run_status().status(), kStatusPending);
}

TEST_P(ControlServiceStateTest, an_automation_is_refused_as_flwr_refuses_it) {
  proto::StartAutomationRequest request;
  *request.mutable_start_run_request() = RunRequest("app");
  auto code = [&] { return core::FlowerErrorCode(control_->StartAutomation(request).status()); };
  EXPECT_EQ(code(), core::api_error::kInvalidAutomationRequest);  // no series
  request.mutable_start_run_request()->set_series_id(7);
  request.set_start_at("2026-01-01T10:00:00");  // no timezone
  EXPECT_EQ(code(), core::api_error::kInvalidAutomationRequest);
  request.set_start_at("2026-01-01T10:00:00+02:00");
  request.set_max_runs(2);
  EXPECT_EQ(code(), core::api_error::kInvalidAutomationRequest);  // no interval
  request.set_fixed_interval(0);
  EXPECT_EQ(code(), core::api_error::kInvalidAutomationRequest);
  request.set_fixed_interval(60);
  absl::StatusOr<proto::StartAutomationResponse> started = control_->StartAutomation(request);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->automation_id(), 1u);
  EXPECT_EQ(started->series_id(), 7u);
  EXPECT_EQ(started->next_run_at(), "2026-01-01T08:00:00+00:00");
}

TEST_P(ControlServiceStateTest, a_recurring_automation_starts_runs_when_due_until_stopped) {
  const proto::StartRunResponse first = *control_->StartRun(RunRequest("app"));
  proto::StartAutomationRequest request;
  *request.mutable_start_run_request() = RunRequest("app");
  request.mutable_start_run_request()->set_series_id(first.series_id());
  request.set_fixed_interval(10);
  const proto::StartAutomationResponse started = *control_->StartAutomation(request);
  EXPECT_EQ(started.next_run_at(), "2026-01-01T00:00:00+00:00");  // now

  auto series_runs = [&] {
    proto::GetRunSeriesRequest get;
    get.set_series_id(first.series_id());
    return control_->GetRunSeries(get, "1.42.0")->series().run_ids_size();
  };
  EXPECT_EQ(control_->ProcessDueAutomations(16), 1u);
  EXPECT_EQ(series_runs(), 2);
  now_ += absl::Seconds(9);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 0u);
  now_ += absl::Seconds(1);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 1u);
  EXPECT_EQ(series_runs(), 3);

  proto::Automation listed = control_->ListAutomations({})->automations(0);
  EXPECT_EQ(listed.status(), kAutomationActive);
  EXPECT_EQ(listed.next_run_at(), "2026-01-01T00:00:20+00:00");
  EXPECT_EQ(listed.fixed_interval(), 10u);
  EXPECT_FALSE(listed.has_remaining_runs());

  proto::StopAutomationRequest stop;
  stop.set_automation_id(started.automation_id());
  ASSERT_TRUE(control_->StopAutomation(stop).ok());
  now_ += absl::Seconds(60);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 0u);
  listed = control_->ListAutomations({})->automations(0);
  EXPECT_EQ(listed.status(), kAutomationStopped);
  EXPECT_EQ(listed.stopped_at(), "2026-01-01T00:00:10+00:00");
  EXPECT_EQ(series_runs(), 3);
}

TEST_P(ControlServiceStateTest, finite_automations_complete_or_fail_with_their_runs) {
  const proto::StartRunResponse first = *control_->StartRun(RunRequest("app"));
  proto::StartAutomationRequest twice;
  *twice.mutable_start_run_request() = RunRequest("app");
  twice.mutable_start_run_request()->set_series_id(first.series_id());
  twice.set_fixed_interval(5);
  twice.set_max_runs(2);
  twice.set_start_at("2026-01-01T00:00:30Z");
  const uint64_t finite = control_->StartAutomation(twice)->automation_id();
  proto::StartAutomationRequest broken = twice;  // a series that does not exist
  broken.mutable_start_run_request()->set_series_id(first.series_id() + 1);
  broken.clear_fixed_interval();
  broken.clear_max_runs();
  const uint64_t failing = control_->StartAutomation(broken)->automation_id();

  auto status_of = [&](uint64_t id) {
    const proto::ListAutomationsResponse listed = *control_->ListAutomations({});
    for (const proto::Automation& a : listed.automations()) {
      if (a.automation_id() == id) return a.status();
    }
    return std::string();
  };
  EXPECT_EQ(control_->ProcessDueAutomations(16), 0u);
  now_ += absl::Seconds(30);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 2u);
  EXPECT_EQ(status_of(finite), kAutomationActive);
  EXPECT_EQ(status_of(failing), kAutomationFailed);
  now_ += absl::Seconds(5);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 1u);
  EXPECT_EQ(status_of(finite), kAutomationCompleted);
  now_ += absl::Seconds(5);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 0u);
  proto::GetRunSeriesRequest get;
  get.set_series_id(first.series_id());
  EXPECT_EQ(control_->GetRunSeries(get, "1.42.0")->series().run_ids_size(), 3);
}

TEST_P(ControlServiceStateTest, a_runs_task_events_are_listed_and_streamed_until_it_finishes) {
  const proto::StartRunResponse first = *control_->StartRun(RunRequest("app"));
  proto::StartRunRequest again = RunRequest("app");
  again.set_series_id(first.series_id());
  const proto::StartRunResponse second = *control_->StartRun(again);
  auto event_of = [&](uint64_t run_id, const std::string& data) {
    proto::TaskEvent event;
    event.set_run_id(run_id);
    event.set_task_id(state_->GetRun(run_id)->primary_task_id());
    event.set_event("message");
    event.set_data(data);
    return event;
  };
  ASSERT_TRUE(state_->tasks().StoreTaskEvents(
      {event_of(first.run_id(), R"({"n": 1})"), event_of(second.run_id(), R"({"n": 2})")}));
  proto::TaskEvent other_task = event_of(first.run_id(), "{}");
  other_task.set_task_id(other_task.task_id() + 1);
  ASSERT_TRUE(state_->tasks().StoreTaskEvents({other_task}));

  proto::ListRunSeriesEventsRequest list;
  list.set_series_id(first.series_id());
  const proto::ListRunSeriesEventsResponse listed = *control_->ListRunSeriesEvents(list);
  ASSERT_EQ(listed.events_size(), 2);
  EXPECT_EQ(listed.events(0).data(), R"({"n": 1})");
  EXPECT_EQ(listed.events(1).data(), R"({"n": 2})");
  list.set_series_id(first.series_id() + 1);
  EXPECT_EQ(core::FlowerErrorCode(control_->ListRunSeriesEvents(list).status()),
            core::api_error::kRunSeriesIdNotFound);

  // A finished run's stream ends once its events are written.
  ASSERT_TRUE(state_->StopRun(first.run_id()));
  proto::StreamRunEventsRequest stream;
  stream.set_run_id(first.run_id());
  std::vector<std::string> written;
  auto write = [&](const proto::StreamRunEventsResponse& r) {
    written.push_back(r.task_event().data());
    return true;
  };
  ASSERT_TRUE(control_->StreamRunEvents(stream, write, [] { return false; }).ok());
  EXPECT_EQ(written, std::vector<std::string>{R"({"n": 1})"});
  stream.set_after_task_event_id(listed.events(0).id());
  ASSERT_TRUE(control_->StreamRunEvents(stream, write, [] { return false; }).ok());
  EXPECT_EQ(written.size(), 1u);
  stream.set_run_id(4242);
  EXPECT_EQ(core::FlowerErrorCode(control_->StreamRunEvents(stream, write, [] { return false; })),
            core::api_error::kRunIdNotFound);
}

// Only SQLite state outlives a restart.
class ControlServiceRestartTest : public ControlServiceStateTest {};

TEST_P(ControlServiceRestartTest, apps_series_descriptions_and_automations_survive_a_restart) {
  const proto::StartRunResponse run = *control_->StartRun(RunRequest("app"));
  proto::UpdateRunSeriesDescriptionRequest describe;
  describe.set_series_id(run.series_id());
  describe.set_description("kept");
  ASSERT_TRUE(control_->UpdateRunSeriesDescription(describe).ok());
  proto::StartAutomationRequest automation;
  *automation.mutable_start_run_request() = RunRequest("app");
  automation.mutable_start_run_request()->set_series_id(run.series_id());
  automation.set_start_at("2026-01-02T00:00:00+00:00");
  ASSERT_TRUE(control_->StartAutomation(automation).ok());

  Open(path_.string());
  EXPECT_EQ(AppIds(), (std::vector<std::string>{"@flwrlabs/app", "@flwrlabs/flwr-agent"}));
  proto::GetRunSeriesRequest get;
  get.set_series_id(run.series_id());
  EXPECT_EQ(control_->GetRunSeries(get, "1.42.0")->series().description(), "kept");
  ASSERT_EQ(control_->ListAutomations({})->automations_size(), 1);
  now_ += absl::Hours(24);
  EXPECT_EQ(control_->ProcessDueAutomations(16), 1u);
  EXPECT_EQ(control_->GetRunSeries(get, "1.42.0")->series().run_ids_size(), 2);
  EXPECT_EQ(control_->ListAutomations({})->automations(0).status(), kAutomationCompleted);
}

INSTANTIATE_TEST_SUITE_P(Backends, ControlServiceStateTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, ControlServiceRestartTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flwr::superlink
