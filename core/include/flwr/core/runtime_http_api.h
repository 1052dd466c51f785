// The Runtime API over HTTP, as Flower 1.36 serves it from the SuperLink (ServerApp side) and
// from the SuperNode (ClientApp side): POST /v1/runtime/<kebab-name> with a protobuf body
// (flwr/{superlink,supernode}/routers/runtime). Task-scoped routes authenticate with the
// `flwr-task-token` header; every route checks the runtime version headers. With a SuperExec
// auth secret, the SuperExec's task-claiming routes (pull-pending-tasks, claim-task,
// acquire-task) require its signature (superexec_auth.h).
// The routes call a core::RuntimeService (runtime_service.h).
#ifndef FLWR_CORE_RUNTIME_HTTP_API_H_
#define FLWR_CORE_RUNTIME_HTTP_API_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/runtime_service.h"
#include "flwr/core/superexec_auth.h"

namespace flwr::core {

inline constexpr absl::string_view kTaskTokenHeader = "flwr-task-token";
inline constexpr absl::string_view kRuntimePathPrefix = "/v1/runtime/";

// The single `flwr-task-token` header value, or "" (absent or repeated: not authenticated).
inline std::string TaskTokenOf(const HttpRequestContext& context) {
  if (context.HeaderCount(kTaskTokenHeader) != 1) return "";
  return std::string(*context.Header(kTaskTokenHeader));
}

class RuntimeHttpApi {
 public:
  // Serves `service` on host:port (port 0: any free port) as `component_name` ("SuperLink",
  // "SuperNode": the name in version-mismatch errors), with `options` (threads, TLS,
  // `on_call` hook, e.g. ServerMetrics; errors are logged as flwr logs them). Unavailable if
  // the port is taken, InvalidArgument if the TLS files are unusable. `add_routes` (optional)
  // adds the other APIs served on the same port (the SuperLink's Control and Fleet APIs)
  // before the server starts. `superexec_auth_secret` (`--superexec-auth-secret-file`'s bytes;
  // empty: off) makes the task-claiming routes verify the SuperExec's signature.
  static absl::StatusOr<std::unique_ptr<RuntimeHttpApi>> Start(
      RuntimeService* service, absl::string_view host, int port, absl::string_view component_name,
      HttpProtoServerOptions options = {},
      const std::function<void(HttpProtoServer&)>& add_routes = nullptr,
      absl::string_view superexec_auth_secret = "");
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  RuntimeHttpApi(RuntimeService* service, absl::string_view component_name,
                 HttpProtoServerOptions options, absl::string_view superexec_auth_secret);

  // Null when SuperExec authentication is off.
  std::unique_ptr<SuperExecAuthVerifier> superexec_auth_;
  HttpProtoServer server_;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_RUNTIME_HTTP_API_H_
