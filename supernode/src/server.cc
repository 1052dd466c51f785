#include "flwr/supernode/server.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/health_server.h"
#include "flwr/core/logging.h"
#include "flwr/core/task.h"
#include "grpcpp/grpcpp.h"

namespace flwr::supernode {

std::string ChildAddress(const std::string& host, int port) {
  if (host == "0.0.0.0") return absl::StrCat("127.0.0.1:", port);
  if (host == "::" || host == "[::]") return absl::StrCat("[::1]:", port);
  if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  std::unique_ptr<Server> server(new Server(std::move(options)));
  if (absl::Status s = server->StartAll(); !s.ok()) return s;
  return server;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { Stop(); }

std::function<void(const core::HttpCall&)> Server::MetricsRecorder() {
  if (options_.metrics_address.empty()) return nullptr;
  metrics_ = std::make_unique<core::ServerMetrics>("supernode");
  return metrics_->HttpCallRecorder("runtime");
}

absl::Status Server::StartAll() {
  state_ = NodeState::CreateInMemory();
  runtime_ = std::make_unique<NodeRuntimeService>(state_.get());
  absl::StatusOr<std::unique_ptr<core::RuntimeHttpApi>> http =
      // One ClientApp at a time, each with 2 object transfers and a heartbeat in flight (plus
      // an external executor's polling): 8 workers are plenty.
      core::RuntimeHttpApi::Start(
          runtime_.get(), options_.runtime_host, options_.runtime_port, "SuperNode",
          [this] {
            core::HttpProtoServerOptions http;
            http.num_threads = 8;
            http.on_call = MetricsRecorder();
            http.tls_cert_file = options_.runtime_tls_cert_file;
            http.tls_key_file = options_.runtime_tls_key_file;
            return http;
          }(),
          /*add_routes=*/nullptr, options_.superexec_auth_secret);
  if (!http.ok()) {
    return absl::Status(
        http.status().code(),
        absl::StrCat("Cannot start the SuperNode Runtime HTTP API on ", options_.runtime_host, ":",
                     options_.runtime_port, ": ", http.status().message()));
  }
  http_ = *std::move(http);
  core::LogInfo(absl::StrCat("SuperNode Runtime HTTP API running on ",
                             options_.runtime_tls_cert_file.empty() ? "http://" : "https://",
                             ChildAddress(options_.runtime_host, http_->port())));

  if (!options_.health_server_address.empty()) {
    absl::StatusOr<std::unique_ptr<grpc::Server>> health =
        core::StartHealthServer(options_.health_server_address);
    if (!health.ok()) return health.status();
    health_ = *std::move(health);
  }

  if (metrics_) {
    if (absl::Status s = metrics_->Serve(options_.metrics_address); !s.ok()) return s;
  }

  absl::StatusOr<std::unique_ptr<FleetClient>> fleet = FleetClient::Create(options_.fleet);
  if (!fleet.ok()) return fleet.status();
  fleet_ = *std::move(fleet);
  node_ = std::make_unique<SuperNode>(state_.get(), fleet_.get(), options_.node);
  if (options_.launch_client_apps) StartLauncher();
  loop_ = std::thread([this] {
    loop_status_ = fleet_->Connect();
    if (loop_status_.ok()) loop_status_ = node_->Run();
  });
  return absl::OkStatus();
}

void Server::StartLauncher() {
  NodeState* st = state_.get();
  launcher_source_.emplace(st->tasks(), [st](absl::string_view hash) { return st->GetFab(hash); });
  core::AppLauncherOptions options;
  options.task_type = std::string(core::kClientAppTaskType);
  options.native_key = "clientapp";
  options.runtime_api_address = ChildAddress(options_.runtime_host, http_->port());
  options.root_certificates = options_.runtime_tls_ca_file;
  options.default_program = "flwr-clientapp";
  options.native_program_env = "FLWR_NATIVE_CLIENTAPP";
  options.native_program =
      core::FindNativeProgram(options.native_program_env, "flwr-clientapp", "clientapp/cli");
  options.allow_runtime_dependency_installation = options_.allow_runtime_dependency_installation;
  launcher_.emplace(*launcher_source_, std::move(options));
  launcher_->Start();
}

absl::Status Server::Wait() {
  if (loop_.joinable()) loop_.join();
  return loop_status_;
}

void Server::RequestStop() {
  if (node_) node_->Stop();
}

void Server::Stop() {
  if (stopped_) return;
  stopped_ = true;
  RequestStop();
  Wait().IgnoreError();
  // ClientApps first: stopping the HTTP API waits for their calls in flight.
  if (launcher_) launcher_->Stop();
  if (http_) http_->Stop();
  if (fleet_) fleet_->Disconnect().IgnoreError();
  if (health_) health_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace flwr::supernode
