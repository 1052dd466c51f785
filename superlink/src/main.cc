// flower-superlink: the C++ SuperLink, a drop-in for the pinned Python `flower-superlink`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/file_util.h"
#include "flwr/core/flwr_exit.h"
#include "flwr/core/logging.h"
#include "flwr/core/malloc_tuning.h"
#include "flwr/core/object_store.h"
#include "flwr/core/runtime_version.h"
#include "flwr/core/server_cli.h"
#include "flwr/core/superexec_auth.h"
#include "flwr/superlink/server.h"
#include "grpcpp/grpcpp.h"

namespace flwr::superlink {
namespace {

struct Flags {
  bool insecure = false;
  bool enable_supernode_auth = false;
  std::string auth_list_public_keys;  // refused as stock refuses it
  std::string executor;               // Flower 1.36's --executor*: refused as it refuses them
  std::string ssl_certfile, ssl_keyfile, ssl_ca_certfile;
  // Flower 1.36's TLS of the Runtime API alone (the HTTP port), apart from --ssl-*.
  std::string appio_ssl_certfile, appio_ssl_keyfile, appio_ssl_ca_certfile;
  std::string isolation = "subprocess";
  std::string database = std::string(core::kInMemoryDatabase);
  bool disable_dependency_installation = false;
  bool disable_grpc_apis = false;
  bool simulation = false;
  bool allow_dependency_installation = false;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string fleet_api_type = "grpc-rere";
  std::string fleet_api_address = "0.0.0.0:9092";
  std::string control_api_address = "0.0.0.0:9093";
  std::string exec_api_address;
  std::string health_server_address;
  std::string metrics_address;
  std::string log_file;
  int log_rotation_interval_hours = 24;
  int log_rotation_backup_count = 7;
  std::string superexec_auth_secret_file;
};

constexpr const char* kDeprecatedArgument =
    "This argument is deprecated and will be removed in a future release.";
constexpr const char* kExecutorRefusal =
    "The arguments `--executor`, `--executor-dir`, and `--executor-config` are deprecated and "
    "will be removed in a future release. To run SuperLink with the simulation runtime, please "
    "use `--simulation`.";

// Flags of the Python SuperLink this one recognises but does not implement: using one is an
// error, never silently ignored.
constexpr core::UnsupportedFlag kUnsupportedFlags[] = {
    // The Python SuperLink's own words for an option it has retired.
    {"--serverappio-api-address",
     "this option is no longer supported; use --host and --port instead", /*retired=*/true},
};

void AddFlags(CLI::App& app, Flags& f) {
  core::AddVersionFlag(app);
  app.add_flag("--insecure", f.insecure,
               "Run the server without HTTPS, regardless of whether certificate paths are "
               "provided. Data transmitted between the gRPC client and server is not encrypted. "
               "By default, the server runs with HTTPS enabled. Use this flag only if you "
               "understand the risks.");
  app.add_option("--ssl-certfile", f.ssl_certfile,
                 "Server TLS certificate file for Fleet, Control, and Runtime APIs (as a path "
                 "str) to create secure connections.");
  app.add_option("--ssl-keyfile", f.ssl_keyfile,
                 "Server TLS private key file for Fleet, Control, and Runtime APIs (as a path "
                 "str) to create secure connections.");
  app.add_option("--ssl-ca-certfile", f.ssl_ca_certfile,
                 "Server TLS CA certificate file for Fleet, Control, and Runtime APIs (as a path "
                 "str) to create secure connections.");
  // Flower 1.36's (1.42 has none: its --ssl-* cover the one HTTP port).
  app.add_option("--appio-ssl-certfile", f.appio_ssl_certfile,
                 "Runtime API server TLS certificate file (as a path str) to create a secure "
                 "connection. The certificate must include SANs for the Runtime API address "
                 "used by SuperExec.");
  app.add_option("--appio-ssl-keyfile", f.appio_ssl_keyfile,
                 "Runtime API server TLS private key file (as a path str) to create a secure "
                 "connection.");
  app.add_option("--appio-ssl-ca-certfile", f.appio_ssl_ca_certfile,
                 "Path to the PEM-encoded CA certificate file used by SuperExec to verify the "
                 "Runtime API server certificate. This is not a client certificate for mTLS.");
  app.add_option("--auth-list-public-keys", f.auth_list_public_keys, kDeprecatedArgument);
  for (const char* name : {"--executor", "--executor-dir", "--executor-config"}) {
    app.add_option(name, f.executor, kDeprecatedArgument);
  }
  app.add_flag("--enable-supernode-auth", f.enable_supernode_auth,
               "Enable supernode authentication.");
  app.add_option("--isolation", f.isolation,
                 "Isolation mode when running a `ServerApp` (`subprocess` by default, possible "
                 "values: `subprocess`, `process`). Use `subprocess` to configure SuperLink to "
                 "run a `ServerApp` in a subprocess. Use `process` to indicate that a separate "
                 "independent process gets created outside of SuperLink.")
      ->check(CLI::IsMember({"subprocess", "process"}));
  app.add_option("--database", f.database,
                 "A string representing the path to the database file that will be opened. If "
                 "nothing is provided, Flower will just create a state in memory.");
  auto* disable =
      app.add_flag("--disable-runtime-dependency-installation", f.disable_dependency_installation,
                   "Disable runtime installation of app dependencies via `uv sync`. "
                   "By default, runtime dependency installation is enabled.");
  auto* allow =
      app.add_flag("--allow-runtime-dependency-installation", f.allow_dependency_installation,
                   "Deprecated. Runtime dependency installation is enabled by default. "
                   "Use `--disable-runtime-dependency-installation` to disable it.");
  disable->excludes(allow);
  app.add_option("--log-file", f.log_file,
                 "Path to the SuperLink log file. If provided, logs are written to this file and "
                 "rotated on a fixed schedule.");
  app.add_option("--log-rotation-interval-hours", f.log_rotation_interval_hours,
                 "Rotate SuperLink log files every N hours.")
      ->check(core::PositiveInt());
  app.add_option("--log-rotation-backup-count", f.log_rotation_backup_count,
                 "Maximum number of rotated SuperLink log files to keep.")
      ->check(core::PositiveInt());
  core::AddSuperExecAuthSecretFlag(app, f.superexec_auth_secret_file);
  app.add_option("--host", f.host,
                 "Host for the Runtime HTTP API. By default, it is set to 127.0.0.1.");
  app.add_option("--port", f.port, "Port for the Runtime HTTP API. By default, it is set to 8000.")
      ->check(CLI::Range(0, 65535));
  app.add_option("--fleet-api-type", f.fleet_api_type, "Start a Fleet API server.")
      ->check(CLI::IsMember({"grpc-rere", "grpc-adapter"}));
  app.add_option("--fleet-api-address", f.fleet_api_address,
                 "Fleet API server address (IPv4, IPv6, or a domain name).");
  auto* control = app.add_option("--control-api-address", f.control_api_address,
                                 "Control API server address (IPv4, IPv6, or a domain name) By "
                                 "default, it is set to 0.0.0.0:9093.");
  auto* exec = app.add_option("--exec-api-address", f.exec_api_address,
                              "This argument is deprecated and will be removed in a future "
                              "release. Use `--control-api-address` instead.");
  exec->excludes(control);
  app.add_flag("--disable-grpc-apis", f.disable_grpc_apis,
               "Serve Control and Fleet only on the HTTP port (--host/--port), as stock Flower "
               ">= 1.42 does: no gRPC Fleet API (--fleet-api-address) and no gRPC Control API "
               "(--control-api-address). Flower 1.36 CLIs and SuperNodes need them. (An "
               "extension of this runtime.)");
  app.add_flag("--simulation", f.simulation, "Enable simulation runtime behavior.");
  app.add_option("--health-server-address", f.health_server_address,
                 "Health service gRPC server address (IPv4, IPv6, or a domain name). Disabled "
                 "when not set.");
  app.add_option("--metrics-address", f.metrics_address,
                 "Serve Prometheus metrics at http://ADDRESS/metrics (HOST:PORT). Disabled when "
                 "not set. (An extension of this runtime; stock Flower has no such option.)");
  core::AddUnsupportedOptions(app, kUnsupportedFlags, "SuperLink");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(const Flags& f) {
  if (f.insecure) return grpc::InsecureServerCredentials();
  if (f.ssl_certfile.empty() || f.ssl_keyfile.empty() || f.ssl_ca_certfile.empty()) {
    return absl::InvalidArgumentError(
        "Please provide either all of --ssl-certfile, --ssl-keyfile and --ssl-ca-certfile, or "
        "--insecure to run without TLS.");
  }
  grpc::SslServerCredentialsOptions options;
  auto cert = core::ReadFile(f.ssl_certfile);
  auto key = core::ReadFile(f.ssl_keyfile);
  auto ca = core::ReadFile(f.ssl_ca_certfile);
  for (const auto* s : {&cert, &key, &ca}) {
    if (!s->ok()) return s->status();
  }
  options.pem_root_certs = *ca;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(options);
}

// The HTTP port's TLS files (certificate, key, CA for the ServerApps it starts): 1.36's
// `--appio-ssl-*` when given (all three, as stock's try_obtain_optional_runtime_server_
// certificates wants them), else `--ssl-*` (as stock 1.42); none with `--insecure`.
absl::StatusOr<std::array<std::string, 3>> HttpTlsFiles(const Flags& f) {
  if (f.insecure) return std::array<std::string, 3>{};
  const std::array<std::string, 3> appio = {f.appio_ssl_certfile, f.appio_ssl_keyfile,
                                            f.appio_ssl_ca_certfile};
  if (std::all_of(appio.begin(), appio.end(), [](const std::string& p) { return p.empty(); })) {
    return std::array<std::string, 3>{f.ssl_certfile, f.ssl_keyfile, f.ssl_ca_certfile};
  }
  if (std::any_of(appio.begin(), appio.end(), [](const std::string& p) { return p.empty(); })) {
    return absl::InvalidArgumentError(
        "You need to provide valid file paths to `--appio-ssl-certfile`, "
        "`--appio-ssl-keyfile`, and `--appio-ssl-ca-certfile` to create a secure Runtime API "
        "connection.");
  }
  for (auto [flag, path] : {std::pair{"--appio-ssl-ca-certfile", &f.appio_ssl_ca_certfile},
                            std::pair{"--appio-ssl-certfile", &f.appio_ssl_certfile},
                            std::pair{"--appio-ssl-keyfile", &f.appio_ssl_keyfile}}) {
    if (!std::filesystem::is_regular_file(core::ExpandUser(*path))) {
      return absl::InvalidArgumentError(
          absl::StrCat("Path argument `", flag, "` does not point to a file."));
    }
  }
  return std::array<std::string, 3>{core::ExpandUser(f.appio_ssl_certfile),
                                    core::ExpandUser(f.appio_ssl_keyfile),
                                    core::ExpandUser(f.appio_ssl_ca_certfile)};
}

// `--superexec-auth-secret-file` as stock reads it: only with `--isolation process` (the
// SuperExec is then external). "" when off; nullopt (after saying why) on error.
std::optional<std::string> SuperExecAuthSecret(const Flags& f) {
  if (f.superexec_auth_secret_file.empty()) return "";
  core::LogWarning(
      "EXPERIMENTAL: SuperExec authentication is experimental and may change in future "
      "releases.");
  if (f.isolation == "subprocess") {
    core::LogWarning("SuperExec auth secret is ignored in subprocess isolation mode.");
    return "";
  }
  absl::StatusOr<std::string> secret = core::LoadSuperExecAuthSecret(f.superexec_auth_secret_file);
  if (!secret.ok()) {
    std::cerr << "flower-superlink: Failed to load SuperExec authentication secret: "
              << secret.status().message() << "\n";
    return std::nullopt;
  }
  return *std::move(secret);
}

int Run(const Flags& f) {
  if (!f.log_file.empty()) {
    if (absl::Status s = core::SetLogFile(f.log_file, f.log_rotation_interval_hours,
                                          f.log_rotation_backup_count);
        !s.ok()) {
      std::cerr << "flower-superlink: --log-file: " << s.message() << "\n";
      return 1;
    }
  }
  const std::optional<std::string> superexec_auth_secret = SuperExecAuthSecret(f);
  if (!superexec_auth_secret) return 1;
  const sigset_t signals = core::BlockShutdownSignals();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentials(f);
  if (!credentials.ok()) {
    std::cerr << "flower-superlink: " << credentials.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::array<std::string, 3>> http_tls = HttpTlsFiles(f);
  if (!http_tls.ok()) {
    std::cerr << "flower-superlink: " << http_tls.status().message() << "\n";
    return 1;
  }
  // Flower 1.36 refuses its retired --executor* first, through flwr_exit.
  if (!f.executor.empty()) {
    return core::LogFlwrExit(core::exit_code::kSuperlinkInvalidArgs, kExecutorRefusal);
  }
  if (f.insecure) {
    core::LogWarning(
        "Option `--insecure` was set. Starting insecure HTTP server with unencrypted "
        "communication (TLS disabled). Proceed only if you understand the risks.");
  }
  // Stock's refusals, through flwr_exit (SUPERLINK_INVALID_ARGS).
  const std::string auth_docs =
      absl::StrCat("https://flower.ai/docs/framework/v", core::PinnedFlowerVersion(),
                   "/en/how-to-authenticate-supernodes.html");
  if (f.enable_supernode_auth && f.insecure) {
    return core::LogFlwrExit(
        core::exit_code::kSuperlinkInvalidArgs,
        absl::StrCat("The `--enable-supernode-auth` flag requires encrypted TLS communications. "
                     "Please provide TLS certificates using the `--ssl-certfile`, `--ssl-keyfile` "
                     "and `--ssl-ca-certfile` arguments to your SuperLink. Please refer to the "
                     "Flower documentation for more information: ",
                     auth_docs));
  }
  if (f.enable_supernode_auth && f.simulation) {
    core::LogWarning(
        "SuperNode authentication is not applicable with the simulation runtime as no SuperNodes "
        "can connect to this SuperLink. Proceeding...");
  }
  if (!f.enable_supernode_auth) {
    core::LogWarning(
        "SuperNode authentication is disabled. The SuperLink will accept connections from any "
        "SuperNode.");
  }
  if (!f.auth_list_public_keys.empty()) {
    return core::LogFlwrExit(
        core::exit_code::kSuperlinkInvalidArgs,
        absl::StrCat("The `--auth-list-public-keys` argument is no longer supported. To enable "
                     "SuperNode authentication,  use the `--enable-supernode-auth` flag and use "
                     "the Flower CLI to register SuperNodes by supplying their public keys. "
                     "Please refer to the Flower documentation for more information: ",
                     auth_docs));
  }
  core::LogInfo("Starting Flower SuperLink");

  ServerOptions options;
  options.database = f.database;
  options.credentials = *std::move(credentials);
  options.http_tls_cert_file = (*http_tls)[0];
  options.http_tls_key_file = (*http_tls)[1];
  options.http_tls_ca_file = (*http_tls)[2];
  options.runtime_host = f.host;
  options.runtime_port = f.port;
  options.fleet_api_address = f.fleet_api_address;
  options.fleet_api_type =
      f.fleet_api_type == "grpc-adapter" ? FleetApiType::kGrpcAdapter : FleetApiType::kGrpcRere;
  options.control_api_address =
      f.exec_api_address.empty() ? f.control_api_address : f.exec_api_address;
  if (f.disable_grpc_apis) {
    options.fleet_api_address.clear();
    options.control_api_address.clear();
  }
  options.health_server_address = f.health_server_address;
  options.metrics_address = f.metrics_address;
  options.launch_server_apps = f.isolation == "subprocess";
  options.simulation = f.simulation;
  const char* env = std::getenv("FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION");
  options.allow_runtime_dependency_installation =
      !(f.disable_dependency_installation || (env && std::string(env) == "1"));
  options.enable_supernode_auth = f.enable_supernode_auth;
  options.superexec_auth_secret = *superexec_auth_secret;
  // A test hook, not a stock setting: the fault tests wait out a push session's expiry.
  if (const char* ttl = std::getenv("FLWR_TEST_PUSH_SESSION_TTL_S"); ttl != nullptr) {
    double seconds = 0;
    if (!absl::SimpleAtod(ttl, &seconds) || seconds <= 0) {
      std::cerr << "flower-superlink: FLWR_TEST_PUSH_SESSION_TTL_S must be a positive number of "
                   "seconds\n";
      return 2;
    }
    options.push_session_ttl = absl::Seconds(seconds);
  }
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(std::move(options));
  if (!server.ok()) {
    core::LogError(std::string(server.status().message()));
    return 1;
  }
  core::WaitForShutdownSignal(signals);
  core::LogInfo("SuperLink shutting down");
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace flwr::superlink

int main(int argc, char** argv) {
  flwr::core::TuneMallocForServers();
  flwr::core::DisableMutexDeadlockDetection();
  CLI::App app("Start a Flower SuperLink", "flower-superlink");
  flwr::superlink::Flags flags;
  flwr::superlink::AddFlags(app, flags);
  if (std::optional<int> exit_status = flwr::core::ParseServerArgs(app, argc, argv)) {
    return *exit_status;
  }
  return flwr::superlink::Run(flags);
}
