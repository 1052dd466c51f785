// flower-supernode: the C++ SuperNode, a drop-in for the pinned Python `flower-supernode`.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "flwr/core/flwr_exit.h"
#include "flwr/core/logging.h"
#include "flwr/core/malloc_tuning.h"
#include "flwr/core/node_auth.h"
#include "flwr/core/server_cli.h"
#include "flwr/core/superexec_auth.h"
#include "flwr/core/user_config.h"
#include "flwr/supernode/fleet_client.h"
#include "flwr/supernode/server.h"
#include "flwr/supernode/trusted_entities.h"

namespace flwr::supernode {
namespace {

struct Flags {
  bool insecure = false;
  std::string root_certificates;
  bool grpc_rere = false;
  bool grpc_adapter = false;
  // Unset: the transport's default (kDefaultHttpSuperLink, kDefaultGrpcRereSuperLink).
  std::optional<std::string> superlink;
  std::optional<int> max_retries;
  std::optional<double> max_wait_time;
  std::string auth_private_key;
  std::string auth_public_key;
  std::string node_config;
  std::string isolation = "subprocess";
  std::string host = "127.0.0.1";
  int port = 9094;
  bool allow_dependency_installation = false;
  std::string health_server_address;
  std::string metrics_address;
  // The Runtime API's TLS (`--ssl-*`, formerly `--appio-ssl-*`).
  std::string ssl_certfile;
  std::string ssl_keyfile;
  std::string ssl_ca_certfile;
  std::string superexec_auth_secret_file;
  std::string trusted_entities;
};

// Flags of the Python SuperNode this one recognises but does not implement: using one is an
// error, never silently ignored.
constexpr core::UnsupportedFlag kUnsupportedFlags[] = {
    // The Python SuperNode's own words for an option it has retired.
    {"--clientappio-api-address",
     "this option is no longer supported; use `--host` and `--port` instead", /*retired=*/true},
};

void AddFlags(CLI::App& app, Flags& f) {
  core::AddVersionFlag(app);
  app.add_flag("--insecure", f.insecure,
               "Run the client without HTTPS. By default, the client runs with HTTPS enabled. "
               "Use this flag only if you understand the risks.");
  app.add_option("--root-certificates", f.root_certificates,
                 "Path to a PEM-encoded root CA certificate (or CA bundle) used to verify the "
                 "server's TLS certificate. This is not a client certificate for mTLS.");
  // Flower 1.36's transport flags (1.42 has none: its SuperNode speaks HTTP only).
  auto* grpc_rere = app.add_flag(
      "--grpc-rere", f.grpc_rere,
      "Speak only the gRPC Fleet API of a Flower 1.36 SuperLink (grpc-rere; default "
      "--superlink 0.0.0.0:9092). Without it, this SuperNode speaks the HTTP Fleet API of Flower "
      "1.42, as the stock 1.42 SuperNode, or gRPC where the SuperLink at --superlink answers "
      "only that, as the stock 1.36 SuperNode.");
  app.add_flag("--grpc-adapter", f.grpc_adapter,
               "Use grpc-adapter as a transport layer for the client: the Fleet API of a "
               "SuperLink started with `--fleet-api-type grpc-adapter` (Flower 1.36; default "
               "--superlink 0.0.0.0:9092). SuperNode authentication is not supported on it.")
      ->excludes(grpc_rere);
  app.add_option("--superlink", f.superlink,
                 "SuperLink Fleet API address as host:port (IPv4, IPv6, or a domain name), "
                 "without a URL prefix. HTTPS is enabled by default. Default: 127.0.0.1:8000 "
                 "(HTTP Fleet API), 0.0.0.0:9092 with --grpc-rere or --grpc-adapter.");
  app.add_option("--max-retries", f.max_retries,
                 "The maximum number of times the client will try to reconnect to the SuperLink "
                 "before giving up in case of a connection error. By default, it is set to None, "
                 "meaning there is no limit to the number of tries.")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-wait-time", f.max_wait_time,
                 "The maximum duration before the client stops trying to connect to the "
                 "SuperLink in case of connection error. By default, it is set to None, meaning "
                 "there is no limit to the total time.")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--auth-supernode-private-key", f.auth_private_key,
                 "Path to the SuperNode's private key to enable authentication.");
  app.add_option("--auth-supernode-public-key", f.auth_public_key,
                 "This argument is deprecated and will be removed in a future release.");
  app.add_option("--node-config", f.node_config,
                 "A space separated list of key/value pairs (separated by `=`) to configure the "
                 "SuperNode. E.g. --node-config 'key1=\"value1\" partition-id=0 "
                 "num-partitions=100'");
  app.add_option("--isolation", f.isolation,
                 "Isolation mode when running a `ClientApp` (`subprocess` by default, possible "
                 "values: `subprocess`, `process`). Use `subprocess` to configure SuperNode to "
                 "run a `ClientApp` in a subprocess. Use `process` to indicate that a separate "
                 "independent process gets created outside of SuperNode.")
      ->check(CLI::IsMember({"subprocess", "process"}));
  app.add_option("--host", f.host,
                 "Host for the SuperNode Runtime HTTP API. By default, it is set to 127.0.0.1.");
  app.add_option("--port", f.port,
                 "Port for the SuperNode Runtime HTTP API. By default, it is set to 9094.")
      ->check(CLI::Range(1, 65535));
  app.add_option("--ssl-certfile", f.ssl_certfile,
                 "Runtime API server TLS certificate file (as a path str) to create a secure "
                 "connection. The certificate must include SANs for the Runtime API address used "
                 "by SuperExec.");
  app.add_option("--ssl-keyfile", f.ssl_keyfile,
                 "Runtime API server TLS private key file (as a path str) to create a secure "
                 "connection.");
  app.add_option("--ssl-ca-certfile", f.ssl_ca_certfile,
                 "Path to the PEM-encoded CA certificate file used by SuperExec to verify the "
                 "Runtime API server certificate. This is not a client certificate for mTLS.");
  // Flower 1.36's names, accepted with the stock 1.42 warning (and hidden, as there).
  for (auto [old_name, target] : {std::pair{"--appio-ssl-certfile", &f.ssl_certfile},
                                  std::pair{"--appio-ssl-keyfile", &f.ssl_keyfile},
                                  std::pair{"--appio-ssl-ca-certfile", &f.ssl_ca_certfile}}) {
    const std::string name = old_name;
    app.add_option(name, *target)->group("")->each([name](const std::string&) {
      core::LogWarning(absl::StrCat("The `", name, "` flag is deprecated; use `--",
                                    name.substr(std::string("--appio-").size()), "` instead."));
    });
  }
  app.add_option("--trusted-entities", f.trusted_entities,
                 "Path to a YAML file defining trusted entities. The file must map public key "
                 "IDs to public keys. Example: { fpk_UUID1: 'ssh-ed25519 <key1> [comment1]', "
                 "fpk_UUID2: 'ssh-ed25519 <key2> [comment2]' }")
      ->type_name("YAML_FILE");
  core::AddSuperExecAuthSecretFlag(app, f.superexec_auth_secret_file);
  app.add_flag("--allow-runtime-dependency-installation", f.allow_dependency_installation,
               "Allow runtime installation of app dependencies via `uv sync`.");
  app.add_option("--health-server-address", f.health_server_address,
                 "Health service gRPC server address (IPv4, IPv6, or a domain name). Disabled "
                 "when not set.");
  app.add_option("--metrics-address", f.metrics_address,
                 "Serve Prometheus metrics at http://ADDRESS/metrics (HOST:PORT). Disabled when "
                 "not set. (An extension of this runtime; stock Flower has no such option.)");
  core::AddUnsupportedOptions(app, kUnsupportedFlags, "SuperNode");
}

int Run(const Flags& f) {
  // Read first, as stock reads it first.
  TrustedEntities trusted_entities;
  if (!f.trusted_entities.empty()) {
    absl::StatusOr<TrustedEntities> loaded = LoadTrustedEntities(f.trusted_entities);
    if (!loaded.ok()) {
      return core::LogFlwrExit(core::exit_code::kSupernodeInvalidTrustedEntities,
                               loaded.status().message());
    }
    trusted_entities = *std::move(loaded);
  }
  if (f.insecure && !f.root_certificates.empty()) {
    std::cerr << "Conflicting options: The '--insecure' flag disables HTTPS, but "
                 "'--root-certificates' was also specified. Please remove the "
                 "'--root-certificates' option when running in insecure mode, or omit "
                 "'--insecure' to use HTTPS with the provided certificates.\n";
    return 1;
  }
  if (!f.ssl_certfile.empty() || !f.ssl_keyfile.empty() || !f.ssl_ca_certfile.empty()) {
    // flwr's try_obtain_server_certificates.
    const char* error = nullptr;
    if (f.ssl_certfile.empty() || f.ssl_keyfile.empty() || f.ssl_ca_certfile.empty()) {
      error =
          "You need to provide valid file paths to `--ssl-certfile`, `--ssl-keyfile`, and "
          "`--ssl-ca-certfile` to host an SSL-enabled server.";
    } else if (!core::ReadFile(f.ssl_ca_certfile).ok()) {
      error = "Path argument `--ssl-ca-certfile` does not point to a file.";
    } else if (!core::ReadFile(f.ssl_certfile).ok()) {
      error = "Path argument `--ssl-certfile` does not point to a file.";
    } else if (!core::ReadFile(f.ssl_keyfile).ok()) {
      error = "Path argument `--ssl-keyfile` does not point to a file.";
    }
    if (error != nullptr) {
      core::LogError(error);
      return 1;
    }
  }
  // As stock: the secret is read only with `--isolation process` (the SuperExec is external).
  std::string superexec_auth_secret;
  if (!f.superexec_auth_secret_file.empty()) {
    core::LogWarning(
        "EXPERIMENTAL: SuperExec authentication is experimental and may change in future "
        "releases.");
    if (f.isolation == "process") {
      absl::StatusOr<std::string> secret =
          core::LoadSuperExecAuthSecret(f.superexec_auth_secret_file);
      if (!secret.ok()) {
        std::cerr << "flower-supernode: Failed to load SuperExec auth secret: "
                  << secret.status().message() << "\n";
        return 1;
      }
      superexec_auth_secret = *std::move(secret);
    }
  }
  absl::StatusOr<core::UserConfig> node_config = core::ParseConfigArgs(f.node_config);
  if (!node_config.ok()) {
    std::cerr << "flower-supernode: invalid --node-config: " << node_config.status().message()
              << "\n";
    return 2;
  }
  FleetClientOptions fleet_options;
  // Without a transport flag, the stock args of either line: the Fleet API the SuperLink serves.
  fleet_options.transport = f.grpc_adapter ? FleetTransportKind::kGrpcAdapter
                            : f.grpc_rere  ? FleetTransportKind::kGrpcRere
                                           : FleetTransportKind::kDetect;
  const bool grpc_only = f.grpc_rere || f.grpc_adapter;
  fleet_options.address = f.superlink.value_or(
      std::string(grpc_only ? kDefaultGrpcRereSuperLink : kDefaultHttpSuperLink));
  fleet_options.insecure = f.insecure;
  fleet_options.max_retries = f.max_retries;
  if (f.max_wait_time.has_value()) fleet_options.max_wait_time = absl::Seconds(*f.max_wait_time);
  if (!f.root_certificates.empty()) {
    absl::StatusOr<std::string> pem = core::ReadFile(f.root_certificates);
    if (!pem.ok()) {
      core::LogError(
          absl::StrCat("Failed to read the root certificates: ", pem.status().message()));
      return 1;
    }
    fleet_options.root_certificates = *std::move(pem);
  } else if (!f.insecure) {
    core::LogInfo("Using system certificates for TLS connection");
  }
  if (!f.auth_public_key.empty()) {
    core::LogWarning(
        "The `--auth-supernode-public-key` flag is deprecated and will be removed in a future "
        "release. The public key is now derived from the private key provided by "
        "`--auth-supernode-private-key`.");
  }
  if (!f.auth_private_key.empty() && f.grpc_adapter) {
    // As stock 1.36: the key is read but never used (the node registers a fresh one).
    core::LogWarning("SuperNode Authentication is only supported with the grpc-rere transport.");
  }
  if (!f.auth_private_key.empty()) {
    absl::StatusOr<std::string> text = core::ReadFile(f.auth_private_key);
    absl::StatusOr<core::NodeKey> key =
        text.ok() ? core::NodeKey::FromOpenSshPrivateKey(*text) : text.status();
    if (!key.ok()) {
      core::LogError("Unable to parse the private key file.");
      return 1;
    }
    if (f.grpc_adapter) {
      core::LogError("SuperNode authentication is not supported for this transport type.");
    } else {
      fleet_options.key = *std::move(key);
    }
  }
  if (f.insecure) {
    core::LogWarning(absl::StrCat("Option `--insecure` was set. Starting insecure ",
                                  grpc_only ? "gRPC" : "HTTP", " channel to ",
                                  fleet_options.address, "."));
  }

  // Block the shutdown signals in every thread; a dedicated thread waits for them.
  const sigset_t signals = core::BlockShutdownSignals(/*with_sigquit=*/true);
  ServerOptions options;
  options.fleet = std::move(fleet_options);
  options.node.node_config = *std::move(node_config);
  options.node.trusted_entities = std::move(trusted_entities);
  options.runtime_host = f.host;
  options.runtime_port = f.port;
  options.runtime_tls_cert_file = f.ssl_certfile;
  options.runtime_tls_key_file = f.ssl_keyfile;
  options.runtime_tls_ca_file = f.ssl_ca_certfile;
  options.health_server_address = f.health_server_address;
  options.metrics_address = f.metrics_address;
  options.launch_client_apps = f.isolation == "subprocess";
  options.allow_runtime_dependency_installation = f.allow_dependency_installation;
  options.superexec_auth_secret = std::move(superexec_auth_secret);
  absl::StatusOr<std::unique_ptr<Server>> started = Server::Start(std::move(options));
  if (!started.ok()) {
    core::LogError(std::string(started.status().message()));
    return 1;
  }
  Server& server = **started;

  // Shutdown: stop the loop; if the Fleet calls that follow hang (SuperLink gone), exit
  // anyway after 5 s, as the stock force-exit timer.
  absl::Notification signalled;
  std::thread([&] {
    if (core::WaitForShutdownSignal(signals) == 0) return;
    signalled.Notify();
    core::LogInfo("SuperNode terminated gracefully.");
    server.RequestStop();
    std::thread([] {
      absl::SleepFor(absl::Seconds(5));
      std::_Exit(0);
    }).detach();
  }).detach();

  int rc = 0;
  absl::Status status = server.Wait();
  // A "should-exit" answer SIGTERMed this process: let the signal thread take it (shut down).
  if (IsExitRequested(status)) signalled.WaitForNotificationWithTimeout(absl::Seconds(5));
  if (!status.ok() && !signalled.HasBeenNotified()) {
    if (IsNodeRejected(status)) {
      core::LogError(absl::StrCat("The SuperLink rejected this SuperNode: ", status.message()));
      core::LogInfo("SuperNode terminated gracefully.");
    } else {
      core::LogError(status.message());
      rc = 1;
    }
  }
  server.Stop();
  return rc;
}

}  // namespace
}  // namespace flwr::supernode

int main(int argc, char** argv) {
  flwr::core::TuneMallocForServers();
  flwr::core::DisableMutexDeadlockDetection();
  flwr::core::LogInfo("Starting Flower SuperNode");
  CLI::App app("Start a Flower SuperNode", "flower-supernode");
  app.footer(
      "Fleet transport: HTTP (`/v1/fleet/*`, Flower 1.42's only one), or gRPC grpc-rere when "
      "the SuperLink at --superlink answers only gRPC (a Flower 1.36 SuperLink's Fleet port, "
      "where the stock 1.36 SuperNode used grpc-rere without a flag); --grpc-rere speaks only "
      "gRPC, --grpc-adapter only GrpcAdapter.");
  flwr::supernode::Flags flags;
  flwr::supernode::AddFlags(app, flags);
  if (std::optional<int> exit_status = flwr::core::ParseServerArgs(app, argc, argv)) {
    return *exit_status;
  }
  return flwr::supernode::Run(flags);
}
