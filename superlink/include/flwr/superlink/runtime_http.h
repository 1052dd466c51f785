// The Runtime API over HTTP, as Flower 1.36 serves it: POST /v1/runtime/<kebab-name> with a
// protobuf body (flwr/superlink/routers/runtime). Task-scoped routes authenticate with the
// `flwr-task-token` header; every route checks the runtime version headers.
#ifndef FLWR_SUPERLINK_RUNTIME_HTTP_H_
#define FLWR_SUPERLINK_RUNTIME_HTTP_H_

#include <memory>

#include "absl/status/statusor.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/superlink/runtime_service.h"

namespace flwr::superlink {

inline constexpr absl::string_view kTaskTokenHeader = "flwr-task-token";
inline constexpr absl::string_view kRuntimePathPrefix = "/v1/runtime/";

class RuntimeHttpApi {
 public:
  // Serves `service` on host:port (port 0: any free port). Unavailable if the port is taken.
  static absl::StatusOr<std::unique_ptr<RuntimeHttpApi>> Start(RuntimeService* service,
                                                               absl::string_view host, int port);
  int port() const { return server_.port(); }
  void Stop() { server_.Stop(); }

 private:
  explicit RuntimeHttpApi(RuntimeService* service);

  RuntimeService* service_;
  core::HttpProtoServer server_;
};

}  // namespace flwr::superlink

#endif  // FLWR_SUPERLINK_RUNTIME_HTTP_H_
