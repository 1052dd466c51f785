// The client side of the Runtime API for app processes (`flwr-clientapp`, `flwr-serverapp`):
// everything a stock 1.36 executor process does with its task token, over protobuf-over-HTTP
// (http_proto_client.h). See docs/flower-1.36-superlink-protocol.md §3.4 (ServerApp) and
// docs/flower-1.36-supernode-protocol.md §6.2 (ClientApp).
//
// Every call carries the runtime version headers of `component_name` and the
// `flwr-task-token` header. The headers announce the primary pinned line; a Runtime API of
// another supported line rejects them (412, code 1001, naming its version), and the client
// then speaks that line for the rest of its life (HttpProtoClientOptions::follow_runtime_line:
// the rejected call is sent once more). Every call goes through one retry policy, as the stock
// `make_simple_http_retry_invoker` (flwr/supercore/retry/http_retry.py):
//   transport errors, HTTP 503 (Unavailable) and 504 (DeadlineExceeded)
//                       retried with exponential backoff (1, 2, 4, ... capped at 20 s) and full
//                       jitter, unlimited unless SetMaxTries(); waits of concurrent calls are
//                       serialised.
//   HTTP 401 (Unauthenticated)
//                       the token was revoked (e.g. `flwr stop`): `on_rejected` runs once (the
//                       stock client SIGINTs itself) and the call returns the error.
//   HTTP 403 (PermissionDenied)
//                       returned at once: the run is not running (stock RunNotRunningException).
//   anything else       returned at once. Flower errors keep their API code (wire_errors.h).
//
// This header also holds what both executables share around the client: the stock argv of
// `flwr-clientapp` / `flwr-serverapp`, flwr_exit's messages and exit statuses, and the
// signal / parent-process handling that runs the exit handler once.
//
// Thread-safety: every AppRuntimeClient method may be called from any thread.
#ifndef FLWR_CORE_APP_RUNTIME_CLIENT_H_
#define FLWR_CORE_APP_RUNTIME_CLIENT_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "flwr/core/fab.h"
#include "flwr/core/flwr_exit.h"
#include "flwr/core/heartbeat_sender.h"
#include "flwr/core/http_proto_client.h"
#include "flwr/core/message.h"
#include "flwr/core/retry_invoker.h"
#include "flwr/proto/run.pb.h"

namespace flwr::core {

// Stock constants (flwr.common.constant, flwr.supercore.inflatable, flwr.supercore.constant).
inline constexpr uint64_t kSuperLinkNodeId = 1;  // SUPERLINK_NODE_ID
inline constexpr absl::string_view kSystemMessageType = "system";
inline constexpr int64_t kErrorCodeLoadClientAppException = 1;
inline constexpr int64_t kErrorCodeClientAppRaisedException = 2;
inline constexpr int64_t kErrorCodeMessageUnavailable = 3;

// The pulled inputs of a task (PullTaskInput).
struct TaskInput {
  // The task's ID (Flower 1.42 apps stamp it on the messages they send as src_task_id).
  uint64_t task_id = 0;
  Context context;
  proto::Run run;
  Fab fab;
};

struct AppRuntimeClientOptions {
  // "host:port" (or "[v6]:port") of the Runtime API: the SuperNode's for a ClientApp, the
  // SuperLink's for a ServerApp.
  std::string address;
  // The task token from `--token` / `--token-file`.
  std::string token;
  // flwr-component-name: "flwr-clientapp" or "flwr-serverapp".
  std::string component_name;
  // Runs at most once, on a client thread, when the Runtime API rejects the token (HTTP 401)
  // or a heartbeat answers success=false. The stock processes SIGINT themselves here.
  std::function<void()> on_rejected;
  // Concurrent PullObject / PushObject calls per message batch (stock: 2).
  int max_concurrent_pulls = 2;
  int max_concurrent_pushes = 2;
  // Backoff of PullObject while an object is registered but not yet available (stock: 1 s
  // doubling to 10 s, ±20 % jitter, 500 tries per object, 7200 s in all).
  absl::Duration pull_initial_backoff = absl::Seconds(1);
  absl::Duration pull_backoff_cap = absl::Seconds(10);
  int pull_max_tries_per_object = 500;
  absl::Duration pull_max_time = absl::Seconds(7200);
  // HTTP settings (HTTPS with `http.tls` and `http.root_certificates`); `follow_runtime_line`
  // is always on.
  HttpProtoClientOptions http;
  // Test hook: replaces every retry and backoff wait.
  std::function<void(absl::Duration)> sleep;
};

class AppRuntimeClient {
 public:
  // Parses the address; InvalidArgument for one that is not "host:port" with a port in
  // [1, 65535], or an empty token. Makes no connection.
  static absl::StatusOr<std::unique_ptr<AppRuntimeClient>> Create(AppRuntimeClientOptions options);

  // Stops the heartbeat thread.
  ~AppRuntimeClient();

  AppRuntimeClient(const AppRuntimeClient&) = delete;
  AppRuntimeClient& operator=(const AppRuntimeClient&) = delete;

  // Starts the heartbeat thread (heartbeat_sender.h): SendTaskHeartbeat at once, then every
  // 17.5–22.5 s. A failed heartbeat (transport error, 503, 504) is retried with exponential
  // backoff capped at 20 s. It stops for good on success=false or 401 (`on_rejected` runs) or
  // another error (logged). FailedPrecondition if it was started or stopped before.
  absl::Status StartHeartbeat();
  // Stops the heartbeat thread and waits for it; idempotent.
  void StopHeartbeat();
  // Heartbeats the Runtime API acknowledged (for tests).
  int heartbeats_sent() const { return heartbeat_.sent(); }

  // The Flower version this client announces (SupportedFlowerVersions()): the Runtime API's
  // line once a call has been answered.
  absl::string_view flower_version() const { return http_.flower_version(); }

  // Limits the tries of every later call (stock exit handlers set 1 so that nothing blocks on
  // exit); nullopt means unlimited.
  void SetMaxTries(std::optional<int> max_tries);

  // PullTaskInput: the task's context, run and FAB. InvalidArgument if the context or the FAB
  // cannot be converted, DataLoss if the FAB content does not hash to its hash_str.
  absl::StatusOr<TaskInput> PullTaskInput();

  // PullMessages(message_ids) (a ClientApp passes none: the SuperNode answers its one
  // instruction), then for each message every object of its tree with PullObject (post order,
  // `max_concurrent_pulls` at once, "not yet available" retried with the backoff above),
  // ConfirmMessageReceived, and inflation (each object's hash verified). The messages come
  // back in the response's order with `metadata.message_id` set.
  // A message whose objects cannot be pulled (not found, or retries exhausted) becomes, when
  // `unavailable_as_error_message` (the stock ServerApp's grid), a local error reply with
  // code MESSAGE_UNAVAILABLE and no confirm; otherwise the call fails with DataLoss (the
  // stock ClientApp raises). Other errors: the call's status; InvalidArgument / NotFound from
  // the inflater for a corrupt tree; DataLoss if the response's lists differ in length.
  absl::StatusOr<std::vector<Message>> PullMessages(absl::Span<const std::string> message_ids,
                                                    uint64_t node_id, uint64_t run_id,
                                                    bool unavailable_as_error_message);

  // Deflates each message, sends PushMessages (each with an empty RecordDict as content, or
  // its error, and its object tree), then PushObject for exactly the IDs in `objects_to_push`
  // with the response's session ID (`max_concurrent_pushes` at once, children first). Each
  // message's `metadata.message_id` is set to its object ID. Returns the response's
  // message_ids (one per message, "" where the peer refused one; empty from a Flower 1.36
  // SuperNode). InvalidArgument for an empty list or a message that cannot be deflated;
  // DataLoss if an object the peer asks for is not in the trees or is not stored.
  absl::StatusOr<std::vector<std::string>> PushMessages(absl::Span<Message> messages,
                                                        uint64_t node_id, uint64_t run_id);

  // PushTaskOutput{context (if set), sub_status ("completed" | "failed" | "stopped"), details}.
  absl::Status PushTaskOutput(const std::optional<Context>& context, absl::string_view sub_status,
                              absl::string_view details);

  // PushLogs{node{0}, run_id, logs}: the SuperLink appends "".join(logs) to the task's log.
  absl::Status PushLogs(uint64_t run_id, std::vector<std::string> logs);

  // GetNodes: the IDs of the online nodes of the run's federation (ServerApp only).
  absl::StatusOr<std::vector<uint64_t>> GetNodes();

 private:
  AppRuntimeClient(AppRuntimeClientOptions options, std::string host, int port);

  // `rpc` under the retry policy; its waits end when `stop` is set (then Cancelled).
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Call(absl::string_view rpc, const Req& request,
                            const StopSignal* stop = nullptr);
  void Reject();
  absl::Status SendHeartbeat(const StopSignal& stop);
  absl::StatusOr<std::string> PullObjectWithBackoff(uint64_t node_id, uint64_t run_id,
                                                    const std::string& object_id, absl::Time start,
                                                    const std::atomic<bool>& stop);

  const AppRuntimeClientOptions options_;
  HttpProtoClient http_;
  HttpProtoClient::Headers token_header_;
  std::atomic<bool> rejected_{false};
  RetryInvoker retry_;
  HeartbeatSender heartbeat_;
};

// Builds the reply to `instruction` as flwr's `Message(content_or_error, reply_to=...)`:
// run_id, swapped node IDs, reply_to_message_id, group_id, message_type and task IDs from
// the instruction, created_at now, ttl = what is left of the instruction's lifetime.
Message MakeReply(const Message& instruction, std::optional<RecordDict> content,
                  std::optional<Error> error = std::nullopt);

// ---- What both app executables share -----------------------------------------------------

// The argv of the stock `flwr-clientapp` / `flwr-serverapp` (flwr/common/args.py
// add_args_flwr_app_common).
struct AppArgs {
  std::string runtime_api_address;
  std::string token;  // stripped
  bool insecure = false;
  std::optional<std::string> root_certificates;
  std::optional<pid_t> parent_pid;
  bool allow_runtime_dependency_installation = false;
};

// The outcome of parsing: either args, or what to print and the status to exit with.
struct AppArgsResult {
  std::optional<AppArgs> args;
  int exit_status = 0;
  std::string output;  // for stderr (stdout for --help)
  bool to_stdout = false;
};

// Parses argv (argv[0] is skipped) as argparse does for `program` with the default address
// `default_address`: `--flag value` and `--flag=value`, unambiguous prefixes of long flags,
// exactly one of --token / --token-file. A usage error gives argparse's usage and the one
// line "<program>: error: <reason>", status 2; -h/--help the usage and status 0; an empty
// token or a bad token file flwr's message and status 1.
AppArgsResult ParseAppArgs(absl::string_view program, absl::string_view default_address,
                           absl::Span<const std::string> argv);

// flwr's validate_and_resolve_root_certificates: nullopt if the TLS flags are usable (TLS
// unless --insecure, verified with --root-certificates or the system's roots); otherwise the
// flwr_exit code and message to end with: --insecure with --root-certificates 603, a root
// certificate path that is not a file 604.
std::optional<std::pair<int, std::string>> CheckAppTls(const AppArgs& args);
// The --root-certificates path with "~" expanded; "" without one.
std::string AppRootCertificatesPath(const AppArgs& args);

// Signal and parent handling of an app process, as flwr's register_signal_handlers and
// start_parent_process_monitor. Install() blocks SIGINT, SIGTERM and SIGQUIT in the calling
// thread (call it before any other thread starts, so that all threads inherit the mask) and
// starts a thread that waits for them. On the first signal it logs `exit_message` (INFO),
// runs the exit handler (unless it already ran) and ends the process with status 0. With a
// parent PID, a monitor checks every 0.2 s that the parent exists and SIGINTs this process
// once it does not.
class AppSignalGuard {
 public:
  static std::unique_ptr<AppSignalGuard> Install(std::optional<pid_t> parent_pid,
                                                 std::string exit_message);
  ~AppSignalGuard();

  // Sets the exit handler (runs at most once, on the signal thread or in RunExitHandler).
  void SetExitHandler(std::function<void()> handler);
  // Runs the exit handler if it has not run yet; if a signal is running it, waits (the
  // process then exits from the signal thread).
  void RunExitHandler();

 private:
  explicit AppSignalGuard(std::string exit_message) : exit_message_(std::move(exit_message)) {}
  void SignalLoop();

  const std::string exit_message_;
  absl::Mutex mu_;
  std::function<void()> handler_ ABSL_GUARDED_BY(mu_);
  bool handler_ran_ ABSL_GUARDED_BY(mu_) = false;
  std::thread signal_thread_;
  std::thread parent_monitor_;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_APP_RUNTIME_CLIENT_H_
