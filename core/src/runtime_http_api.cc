#include "flwr/core/runtime_http_api.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"

namespace flwr::core {

absl::StatusOr<std::unique_ptr<RuntimeHttpApi>> RuntimeHttpApi::Start(
    RuntimeService* service, absl::string_view host, int port, absl::string_view component_name,
    HttpProtoServerOptions options, const std::function<void(HttpProtoServer&)>& add_routes,
    absl::string_view superexec_auth_secret) {
  std::unique_ptr<RuntimeHttpApi> api(
      new RuntimeHttpApi(service, component_name, std::move(options), superexec_auth_secret));
  if (add_routes) add_routes(api->server_);
  if (absl::Status s = api->server_.Start(host, port); !s.ok()) return s;
  return api;
}

RuntimeHttpApi::RuntimeHttpApi(RuntimeService* s, absl::string_view component_name,
                               HttpProtoServerOptions options,
                               absl::string_view superexec_auth_secret)
    : superexec_auth_(superexec_auth_secret.empty()
                          ? nullptr
                          : std::make_unique<SuperExecAuthVerifier>(superexec_auth_secret)),
      server_([&options] {
        options.on_error = [](const HttpRequestContext& context, const absl::Status& status) {
          const std::optional<int> code = FlowerErrorCode(status);
          LogError(absl::StrCat("[", context.path(), "]",
                                code ? absl::StrCat("[ApiError:", *code, "]") : "", " ",
                                status.message()));
        };
        return options;
      }()) {
  // The SuperExec's routes: open, or signed with the SuperExec auth secret (each line's method
  // name: 1.36's PullPendingTasks and ClaimTask, 1.42's AcquireTask).
  const auto superexec_route = [this, s]<typename Req, typename Resp>(
                                   std::string path, absl::string_view signed_as,
                                   absl::StatusOr<Resp> (RuntimeService::*call)(const Req&)) {
    server_.AddUnary<Req, Resp>(
        std::move(path),
        [s, call, signed_as, auth = superexec_auth_.get()](
            Req& req, const HttpRequestContext& ctx) -> absl::StatusOr<Resp> {
          if (auth != nullptr) {
            if (absl::Status verified = auth->Verify(signed_as, req, ctx.headers());
                !verified.ok()) {
              return verified;
            }
          }
          return (s->*call)(req);
        });
  };
  superexec_route("/v1/runtime/pull-pending-tasks", kPullPendingTasksMethod,
                  &RuntimeService::PullPendingTasks);
  superexec_route("/v1/runtime/claim-task", kClaimTaskMethod, &RuntimeService::ClaimTask);
  superexec_route("/v1/runtime/acquire-task", kAcquireTaskMethod, &RuntimeService::AcquireTask);

  // Task-scoped routes: resolve the token to its task, then call the service.
#define FLWR_TASK_ROUTE(path, Req, Resp, Method)                                                 \
  server_.AddUnary<proto::Req, proto::Resp>(                                                     \
      path, [s](proto::Req& req, const HttpRequestContext& ctx) -> absl::StatusOr<proto::Resp> { \
        absl::StatusOr<proto::Task> task = s->AuthenticateTask(TaskTokenOf(ctx));                \
        if (!task.ok()) return task.status();                                                    \
        return s->Method(*task, std::move(req));                                                 \
      })
  FLWR_TASK_ROUTE("/v1/runtime/send-task-heartbeat", SendTaskHeartbeatRequest,
                  SendTaskHeartbeatResponse, SendTaskHeartbeat);
  FLWR_TASK_ROUTE("/v1/runtime/pull-task-input", PullTaskInputRequest, PullTaskInputResponse,
                  PullTaskInput);
  FLWR_TASK_ROUTE("/v1/runtime/push-task-output", PushTaskOutputRequest, PushTaskOutputResponse,
                  PushTaskOutput);
  FLWR_TASK_ROUTE("/v1/runtime/push-logs", PushLogsRequest, PushLogsResponse, PushLogs);
  FLWR_TASK_ROUTE("/v1/runtime/push-task-events", PushTaskEventsRequest, PushTaskEventsResponse,
                  PushTaskEvents);
  FLWR_TASK_ROUTE("/v1/runtime/get-nodes", GetNodesRequest, GetNodesResponse, GetNodes);
  FLWR_TASK_ROUTE("/v1/runtime/push-messages", PushAppMessagesRequest, PushAppMessagesResponse,
                  PushMessages);
  FLWR_TASK_ROUTE("/v1/runtime/pull-messages", PullAppMessagesRequest, PullAppMessagesResponse,
                  PullMessages);
  FLWR_TASK_ROUTE("/v1/runtime/push-object", PushObjectRequest, PushObjectResponse, PushObject);
  // PullObject answers serialized bytes (a PullObjectResponse written straight from the store).
  server_.AddUnarySerialized<proto::PullObjectRequest>(
      "/v1/runtime/pull-object",
      [s](proto::PullObjectRequest& req,
          const HttpRequestContext& ctx) -> absl::StatusOr<std::string> {
        absl::StatusOr<proto::Task> task = s->AuthenticateTask(TaskTokenOf(ctx));
        if (!task.ok()) return task.status();
        return s->PullObject(*task, req);
      });
  FLWR_TASK_ROUTE("/v1/runtime/confirm-message-received", ConfirmMessageReceivedRequest,
                  ConfirmMessageReceivedResponse, ConfirmMessageReceived);
#undef FLWR_TASK_ROUTE

  server_.AddRequestCheck(std::string(kRuntimePathPrefix),
                          [component = std::string(component_name)](const HttpRequestContext& ctx) {
                            return CheckRuntimeVersionAnyLine(ctx.headers(), component);
                          });
}

}  // namespace flwr::core
