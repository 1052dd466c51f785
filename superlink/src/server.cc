#include "flwr/superlink/server.h"

#include <chrono>
#include <climits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "flwr/core/health_server.h"
#include "flwr/core/logging.h"
#include "flwr/superlink/http_api.h"

namespace flwr::superlink {
namespace {

void ShutdownGrpc(std::unique_ptr<grpc::Server>& server) {
  if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  std::unique_ptr<Server> server(new Server(std::move(options)));
  if (absl::Status s = server->StartAll(); !s.ok()) return s;
  return server;
}

Server::~Server() { Stop(); }

absl::Status Server::StartAll() {
  absl::StatusOr<std::unique_ptr<LinkState>> state =
      LinkState::Open(options_.database, options_.clock);
  if (!state.ok()) {
    return absl::Status(state.status().code(),
                        absl::StrCat("Cannot open the database: ", state.status().message()));
  }
  state_ = *std::move(state);
  state_->set_push_session_ttl(options_.push_session_ttl);
  fleet_ = std::make_unique<FleetService>(state_.get(), options_.enable_supernode_auth);
  control_ = std::make_unique<ControlService>(
      state_.get(),
      options_.simulation ? FederationRuntime::kSimulation : FederationRuntime::kDeployment,
      options_.clock);
  control_->set_hub_transport_supported(options_.fleet_api_type != FleetApiType::kGrpcAdapter);
  runtime_ = std::make_unique<RuntimeService>(state_.get());

  core::LogInfo(absl::StrCat("Starting the SuperLink Runtime HTTP API on ", options_.runtime_host,
                             ":", options_.runtime_port, "."));
  if (!options_.metrics_address.empty()) AddMetrics();
  core::HttpProtoServerOptions http_options;
  http_options.num_threads = 32;
  if (metrics_) http_options.on_call = metrics_->HttpCallRecorder("runtime");
  http_options.tls_cert_file = options_.http_tls_cert_file;
  http_options.tls_key_file = options_.http_tls_key_file;
  absl::StatusOr<std::unique_ptr<core::RuntimeHttpApi>> http = core::RuntimeHttpApi::Start(
      runtime_.get(), options_.runtime_host, options_.runtime_port, "SuperLink",
      std::move(http_options),
      [this](core::HttpProtoServer& server) {
        // Flower 1.42's Control and Fleet APIs share the port.
        AddControlRoutes(server, control_.get());
        AddFleetRoutes(server, fleet_.get());
      },
      options_.superexec_auth_secret);
  if (!http.ok()) return http.status();
  http_ = *std::move(http);

  control_servicer_ = std::make_unique<ControlGrpcServicer>(control_.get());
  const bool adapter = options_.fleet_api_type == FleetApiType::kGrpcAdapter;
  if (adapter) {
    adapter_fleet_ = std::make_unique<FleetService>(state_.get());
    fleet_servicer_ = std::make_unique<GrpcAdapterServicer>(adapter_fleet_.get());
  } else {
    fleet_servicer_ = std::make_unique<FleetGrpcServicer>(fleet_.get());
  }
  const std::shared_ptr<grpc::ServerCredentials> credentials =
      options_.credentials ? options_.credentials : grpc::InsecureServerCredentials();
  for (auto [address, service, server, bound_port, name] :
       {std::tuple{&options_.control_api_address,
                   static_cast<grpc::Service*>(control_servicer_.get()), &control_server_,
                   &control_port_, "Control API"},
        std::tuple{&options_.fleet_api_address, fleet_servicer_.get(), &fleet_server_, &fleet_port_,
                   adapter ? "Fleet API (GrpcAdapter)" : "Fleet API (gRPC-rere)"}}) {
    if (address->empty() || (server == &fleet_server_ && options_.simulation)) continue;
    core::LogInfo(absl::StrCat("Flower Deployment Runtime: Starting ", name, " on ", *address));
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(INT32_MAX);
    builder.SetMaxSendMessageSize(INT32_MAX);
    builder.AddListeningPort(*address, credentials, bound_port);
    builder.RegisterService(service);
    if (metrics_) {
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
      creators.push_back(
          metrics_->GrpcInterceptor(server == &control_server_ ? "control" : "fleet"));
      builder.experimental().SetInterceptorCreators(std::move(creators));
    }
    *server = builder.BuildAndStart();
    if (!*server || *bound_port == 0) {
      return absl::UnavailableError(
          absl::StrCat("Port in server address ", *address, " is already in use."));
    }
  }

  if (!options_.health_server_address.empty()) {
    absl::StatusOr<std::unique_ptr<grpc::Server>> health =
        core::StartHealthServer(options_.health_server_address);
    if (!health.ok()) return health.status();
    health_ = *std::move(health);
  }
  if (metrics_) {
    if (absl::Status s = metrics_->Serve(options_.metrics_address); !s.ok()) return s;
  }
  if (options_.launch_server_apps) StartLauncher();
  automation_scheduler_ = std::thread([this] { RunAutomationScheduler(); });
  return absl::OkStatus();
}

void Server::AddMetrics() {
  metrics_ = std::make_unique<core::ServerMetrics>("superlink");
  LinkState* state = state_.get();
  metrics_->AddGauge("runs", "Runs by status (status:sub-status once finished)", [state] {
    std::vector<std::string> statuses;
    // Without account authentication (not supported) every run belongs to kNoAccountId.
    for (const proto::Run& run : state->ListRuns(kNoAccountId)) {
      const proto::RunStatus& status = run.status();
      statuses.push_back(status.sub_status().empty()
                             ? status.status()
                             : absl::StrCat(status.status(), ":", status.sub_status()));
    }
    return core::ServerMetrics::CountBy("status", statuses);
  });
  metrics_->AddGauge("nodes", "SuperNodes by status", [state] {
    std::vector<std::string> statuses;
    for (const proto::NodeInfo& node : state->ListNodes()) statuses.push_back(node.status());
    return core::ServerMetrics::CountBy("status", statuses);
  });
  runtime_->set_round_observer(metrics_->AddHistogram(
      "round_seconds",
      "Seconds between consecutive batches of instructions a run's ServerApp pushes (one round "
      "of a synchronous strategy)"));
  metrics_->AddGauge("objects", "Objects in the object store", [state] {
    return std::vector<core::ServerMetrics::Sample>{
        {{}, static_cast<double>(state->object_store().Size())}};
  });
  FleetService* fleet = fleet_.get();
  metrics_->AddGauge("fleet_signature_checks",
                     "Signature checks of Fleet calls (both transports) since the start", [fleet] {
                       return std::vector<core::ServerMetrics::Sample>{
                           {{}, static_cast<double>(fleet->signature_checks())}};
                     });
  metrics_->AddGauge(
      "fleet_signature_check_cpu_seconds",
      "CPU time the signature checks of Fleet calls took, on their threads, since the start",
      [fleet] {
        return std::vector<core::ServerMetrics::Sample>{
            {{}, absl::ToDoubleSeconds(fleet->signature_check_cpu())}};
      });
}

// The built-in executor starts each run's ServerApp, or with `simulation` its stock
// `flwr-simulation` (the stock SuperLink starts a `flower-superexec` child, whose plugin does
// the same for both task types).
void Server::StartLauncher() {
  LinkState* st = state_.get();
  launcher_source_.emplace(st->tasks(), [st](absl::string_view hash) { return st->GetFab(hash); });
  core::AppLauncherOptions options;
  options.runtime_api_address = absl::StrCat(
      options_.runtime_host == "0.0.0.0" ? "127.0.0.1" : options_.runtime_host, ":", http_->port());
  options.root_certificates = options_.http_tls_ca_file;
  if (options_.simulation) {
    // Python only: no native executable simulates a federation.
    options.task_type = std::string(kSimulationTaskType);
    options.native_key = "simulation";
    options.default_program = "flwr-simulation";
  } else {
    options.task_type = std::string(kServerAppTaskType);
    options.native_key = "serverapp";
    options.default_program = "flwr-serverapp";
    options.native_program_env = "FLWR_NATIVE_SERVERAPP";
    options.native_program =
        core::FindNativeProgram(options.native_program_env, "flwr-serverapp", "serverapp");
  }
  options.allow_runtime_dependency_installation = options_.allow_runtime_dependency_installation;
  // As the stock ServerApp plugin: the app's output does not go to the SuperLink's console (it
  // reaches `flwr log` through PushLogs).
  options.discard_output = true;
  launcher_.emplace(*launcher_source_, std::move(options));
  launcher_->Start();
}

void Server::RunAutomationScheduler() {
  // flwr's AUTOMATION_BATCH_LIMIT is per AcquireTask call; a tick here takes what is due.
  constexpr size_t kAutomationBatch = 16;
  while (!stopping_.WaitForNotificationWithTimeout(options_.automation_interval)) {
    while (control_->ProcessDueAutomations(kAutomationBatch) == kAutomationBatch) {
    }
  }
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.Notify();
  if (automation_scheduler_.joinable()) automation_scheduler_.join();
  if (launcher_) launcher_->Stop();
  ShutdownGrpc(control_server_);
  ShutdownGrpc(fleet_server_);
  if (http_) http_->Stop();
  ShutdownGrpc(health_);
}

}  // namespace flwr::superlink
