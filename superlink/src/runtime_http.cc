#include "flwr/superlink/runtime_http.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/logging.h"
#include "flwr/core/runtime_version.h"

namespace flwr::superlink {
namespace {

using core::HttpRequestContext;

// The single `flwr-task-token` header value, or "" (absent or repeated: not authenticated).
std::string TaskToken(const HttpRequestContext& context) {
  if (context.HeaderCount(kTaskTokenHeader) != 1) return "";
  return std::string(*context.Header(kTaskTokenHeader));
}

}  // namespace

RuntimeHttpApi::RuntimeHttpApi(RuntimeService* service)
    : service_(service), server_([] {
        core::HttpProtoServerOptions options;
        options.on_error = [](const HttpRequestContext& context, const absl::Status& status) {
          const std::optional<int> code = core::FlowerErrorCode(status);
          core::LogError(absl::StrCat("[", context.path(), "]",
                                      code ? absl::StrCat("[ApiError:", *code, "]") : "", " ",
                                      status.message()));
        };
        return options;
      }()) {
  RuntimeService* s = service_;
  // Unauthenticated routes (the SuperExec's).
  server_.AddUnary<proto::PullPendingTasksRequest, proto::PullPendingTasksResponse>(
      "/v1/runtime/pull-pending-tasks",
      [s](const auto& req, const HttpRequestContext&) { return s->PullPendingTasks(req); });
  server_.AddUnary<proto::ClaimTaskRequest, proto::ClaimTaskResponse>(
      "/v1/runtime/claim-task",
      [s](const auto& req, const HttpRequestContext&) { return s->ClaimTask(req); });

  // Task-scoped routes: resolve the token to its task, then call the service.
#define FLWR_TASK_ROUTE(path, Req, Resp, Method)                                                 \
  server_.AddUnary<proto::Req, proto::Resp>(                                                     \
      path,                                                                                      \
      [s](const proto::Req& req, const HttpRequestContext& ctx) -> absl::StatusOr<proto::Resp> { \
        absl::StatusOr<proto::Task> task = s->AuthenticateTask(TaskToken(ctx));                  \
        if (!task.ok()) return task.status();                                                    \
        return s->Method(*task, req);                                                            \
      })
  FLWR_TASK_ROUTE("/v1/runtime/send-task-heartbeat", SendTaskHeartbeatRequest,
                  SendTaskHeartbeatResponse, SendTaskHeartbeat);
  FLWR_TASK_ROUTE("/v1/runtime/pull-task-input", PullTaskInputRequest, PullTaskInputResponse,
                  PullTaskInput);
  FLWR_TASK_ROUTE("/v1/runtime/push-task-output", PushTaskOutputRequest, PushTaskOutputResponse,
                  PushTaskOutput);
  FLWR_TASK_ROUTE("/v1/runtime/push-logs", PushLogsRequest, PushLogsResponse, PushLogs);
  FLWR_TASK_ROUTE("/v1/runtime/get-nodes", GetNodesRequest, GetNodesResponse, GetNodes);
  FLWR_TASK_ROUTE("/v1/runtime/push-messages", PushAppMessagesRequest, PushAppMessagesResponse,
                  PushMessages);
  FLWR_TASK_ROUTE("/v1/runtime/pull-messages", PullAppMessagesRequest, PullAppMessagesResponse,
                  PullMessages);
  FLWR_TASK_ROUTE("/v1/runtime/push-object", PushObjectRequest, PushObjectResponse, PushObject);
  FLWR_TASK_ROUTE("/v1/runtime/pull-object", PullObjectRequest, PullObjectResponse, PullObject);
  FLWR_TASK_ROUTE("/v1/runtime/confirm-message-received", ConfirmMessageReceivedRequest,
                  ConfirmMessageReceivedResponse, ConfirmMessageReceived);
#undef FLWR_TASK_ROUTE

  server_.AddRequestCheck(std::string(kRuntimePathPrefix), [](const HttpRequestContext& ctx) {
    return core::CheckRuntimeVersion(ctx.headers(), core::PinnedFlowerVersion(), "SuperLink");
  });
}

absl::StatusOr<std::unique_ptr<RuntimeHttpApi>> RuntimeHttpApi::Start(RuntimeService* service,
                                                                      absl::string_view host,
                                                                      int port) {
  std::unique_ptr<RuntimeHttpApi> api(new RuntimeHttpApi(service));
  if (absl::Status s = api->server_.Start(host, port); !s.ok()) return s;
  return api;
}

}  // namespace flwr::superlink
