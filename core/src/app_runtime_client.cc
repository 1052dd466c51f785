#include "flwr/core/app_runtime_client.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "flwr/core/file_util.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/logging.h"
#include "flwr/core/object_pull.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/runtime.pb.h"

namespace flwr::core {
namespace {

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

// Stock make_simple_http_retry_invoker: transport errors (Unavailable), 503 and 504.
bool IsRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AppRuntimeClient>> AppRuntimeClient::Create(
    AppRuntimeClientOptions options) {
  if (options.token.empty()) return absl::InvalidArgumentError("empty task token");
  absl::StatusOr<std::pair<std::string, int>> address = ParseHostPort(options.address);
  if (!address.ok()) return address.status();
  options.http.follow_runtime_line = true;
  return std::unique_ptr<AppRuntimeClient>(
      new AppRuntimeClient(std::move(options), address->first, address->second));
}

AppRuntimeClient::AppRuntimeClient(AppRuntimeClientOptions options, std::string host, int port)
    : options_(std::move(options)),
      http_(std::move(host), port, options_.component_name, options_.http),
      token_header_{{"flwr-task-token", options_.token}},
      retry_(RetryInvokerOptions{.retryable = IsRetryable, .sleep = options_.sleep}),
      heartbeat_(HeartbeatSenderOptions{
          .send = [this](const StopSignal& stop) { return SendHeartbeat(stop); },
          .on_error =
              [this](const absl::Status& status) {
                // A rejected token was logged and handled where it was rejected.
                if (!rejected_.load()) {
                  LogError(absl::StrCat("Task heartbeat failed: ", status.ToString()));
                }
              }}) {}

AppRuntimeClient::~AppRuntimeClient() { StopHeartbeat(); }

void AppRuntimeClient::SetMaxTries(std::optional<int> max_tries) { retry_.SetMaxTries(max_tries); }

void AppRuntimeClient::Reject() {
  if (rejected_.exchange(true)) return;
  if (options_.on_rejected) options_.on_rejected();
}

template <typename Req, typename Resp>
absl::StatusOr<Resp> AppRuntimeClient::Call(absl::string_view rpc, const Req& request,
                                            const StopSignal* stop) {
  const std::string path = absl::StrCat("/v1/runtime/", rpc);
  Resp response;
  absl::Status status = retry_.Invoke(
      rpc,
      [&]() -> absl::Status {
        absl::StatusOr<Resp> result = http_.Call<Req, Resp>(path, request, token_header_);
        if (!result.ok()) return result.status();
        response = *std::move(result);
        return absl::OkStatus();
      },
      stop);
  if (status.code() == absl::StatusCode::kUnauthenticated) Reject();
  if (!status.ok()) return status;
  return response;
}

absl::Status AppRuntimeClient::StartHeartbeat() { return heartbeat_.Start(); }

void AppRuntimeClient::StopHeartbeat() { heartbeat_.Stop(); }

absl::Status AppRuntimeClient::SendHeartbeat(const StopSignal& stop) {
  absl::StatusOr<proto::SendTaskHeartbeatResponse> response =
      Call<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
          "send-task-heartbeat", proto::SendTaskHeartbeatRequest(), &stop);
  if (!response.ok()) return response.status();
  if (!response->success()) {
    LogError("Task heartbeat rejected (success=false): stopping");
    Reject();
    return absl::FailedPreconditionError("the task heartbeat was rejected (success=false)");
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskInput> AppRuntimeClient::PullTaskInput() {
  absl::StatusOr<proto::PullTaskInputResponse> response =
      Call<proto::PullTaskInputRequest, proto::PullTaskInputResponse>(
          "pull-task-input", proto::PullTaskInputRequest());
  if (!response.ok()) return response.status();
  TaskInput input;
  input.task_id = response->task_id();
  absl::StatusOr<Context> context = ContextFromProto(response->context());
  if (!context.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("PullTaskInput returned an invalid context: ", context.status().message()));
  }
  input.context = *std::move(context);
  input.run = response->run();
  input.fab.hash_str = response->fab().hash_str();
  input.fab.content = response->fab().content();
  std::vector<std::pair<std::string, std::string>> verifications(
      response->fab().verifications().begin(), response->fab().verifications().end());
  std::sort(verifications.begin(), verifications.end());
  for (auto& [key, value] : verifications) input.fab.verifications.Set(key, value);
  if (FabHash(input.fab.content) != input.fab.hash_str) {
    return absl::DataLossError(
        absl::StrCat("The FAB's SHA-256 does not match its hash '", input.fab.hash_str, "'"));
  }
  return input;
}

absl::StatusOr<std::string> AppRuntimeClient::PullObjectWithBackoff(uint64_t node_id,
                                                                    uint64_t run_id,
                                                                    const std::string& object_id,
                                                                    absl::Time start,
                                                                    const std::atomic<bool>& stop) {
  ExponentialBackoff backoff(options_.pull_initial_backoff, 2, options_.pull_backoff_cap);
  int tries = 0;
  while (!stop.load()) {
    proto::PullObjectRequest request;
    request.mutable_node()->set_node_id(node_id);
    request.set_run_id(run_id);
    request.set_object_id(object_id);
    absl::StatusOr<proto::PullObjectResponse> response =
        Call<proto::PullObjectRequest, proto::PullObjectResponse>("pull-object", request);
    if (!response.ok()) return response.status();
    if (!response->object_found()) {
      return absl::DataLossError(
          absl::StrCat("Failed to pull object with ID '", object_id, "': Object not found"));
    }
    if (response->object_available()) return std::move(*response->mutable_object_content());
    ++tries;
    if (tries >= options_.pull_max_tries_per_object ||
        absl::Now() - start >= options_.pull_max_time) {
      return absl::DataLossError(absl::StrCat("Failed to pull object with ID '", object_id,
                                              "': timeout or retry limit reached"));
    }
    retry_.Wait(backoff.Next() * (1 + RandomUniform(-0.2, 0.2)));
  }
  return absl::CancelledError("object pull stopped after another object failed");
}

absl::StatusOr<std::vector<Message>> AppRuntimeClient::PullMessages(
    absl::Span<const std::string> message_ids, uint64_t node_id, uint64_t run_id,
    bool unavailable_as_error_message) {
  proto::PullAppMessagesRequest request;
  for (const std::string& id : message_ids) request.add_message_ids(id);
  absl::StatusOr<proto::PullAppMessagesResponse> response =
      Call<proto::PullAppMessagesRequest, proto::PullAppMessagesResponse>("pull-messages", request);
  if (!response.ok()) return response.status();
  if (response->messages_list_size() != response->message_object_trees_size()) {
    return absl::DataLossError(
        absl::StrCat("PullMessages returned ", response->messages_list_size(), " messages but ",
                     response->message_object_trees_size(), " object trees"));
  }
  std::vector<Message> messages;
  for (int m = 0; m < response->messages_list_size(); ++m) {
    const proto::Message& wire = response->messages_list(m);
    const proto::ObjectTree& tree = response->message_object_trees(m);
    const std::string message_id =
        wire.metadata().message_id().empty() ? tree.object_id() : wire.metadata().message_id();

    const absl::Time start = absl::Now();
    absl::StatusOr<ObjectContents> contents =
        PullObjectTree(tree, options_.max_concurrent_pulls,
                       [&](const std::string& id, const std::atomic<bool>& stop) {
                         return PullObjectWithBackoff(node_id, run_id, id, start, stop);
                       });
    if (!contents.ok()) {
      if (contents.status().code() != absl::StatusCode::kDataLoss ||
          !unavailable_as_error_message) {
        return contents.status();
      }
      Message error;
      error.metadata.run_id = run_id;
      error.metadata.src_node_id = kSuperLinkNodeId;
      error.metadata.dst_node_id = kSuperLinkNodeId;
      error.metadata.message_type = std::string(kSystemMessageType);
      error.metadata.ttl = 0;
      error.metadata.reply_to_message_id = wire.metadata().reply_to_message_id();
      error.metadata.created_at = NowSeconds();
      error.error = Error{kErrorCodeMessageUnavailable,
                          absl::StrCat("Reply message objects are unavailable. The sender may not "
                                       "have completed the upload before the object-push session "
                                       "expired. ",
                                       contents.status().message())};
      messages.push_back(std::move(error));
      continue;
    }

    proto::ConfirmMessageReceivedRequest confirm;
    confirm.mutable_node()->set_node_id(node_id);
    confirm.set_run_id(run_id);
    confirm.set_message_object_id(message_id);
    absl::StatusOr<proto::ConfirmMessageReceivedResponse> confirmed =
        Call<proto::ConfirmMessageReceivedRequest, proto::ConfirmMessageReceivedResponse>(
            "confirm-message-received", confirm);
    if (!confirmed.ok()) return confirmed.status();

    absl::StatusOr<Message> message = InflateMessage(tree.object_id(), *contents);
    if (!message.ok()) return message.status();
    message->metadata.message_id = message_id;
    messages.push_back(*std::move(message));
  }
  return messages;
}

absl::StatusOr<std::vector<std::string>> AppRuntimeClient::PushMessages(
    absl::Span<Message> messages, uint64_t node_id, uint64_t run_id) {
  if (messages.empty()) return absl::InvalidArgumentError("no messages to push");
  std::vector<ObjectBundle> bundles;
  bundles.reserve(messages.size());
  proto::PushAppMessagesRequest request;
  for (Message& message : messages) {
    absl::StatusOr<ObjectBundle> bundle = DeflateMessage(message);
    if (!bundle.ok()) return bundle.status();
    message.metadata.message_id = bundle->root_id();
    // The message as PushMessages carries it: content replaced by an empty RecordDict (an
    // error message is sent as is).
    Message header;
    header.metadata = message.metadata;
    if (message.error.has_value()) {
      header.error = message.error;
    } else {
      header.content = RecordDict();
    }
    absl::StatusOr<proto::Message> wire = MessageToProto(header);
    if (!wire.ok()) return wire.status();
    *request.add_messages_list() = *std::move(wire);
    *request.add_message_object_trees() = bundle->tree;
    bundles.push_back(*std::move(bundle));
  }
  absl::StatusOr<proto::PushAppMessagesResponse> response =
      Call<proto::PushAppMessagesRequest, proto::PushAppMessagesResponse>("push-messages", request);
  if (!response.ok()) return response.status();

  // PushObject for exactly the requested objects, children before parents.
  absl::flat_hash_set<std::string> wanted(response->objects_to_push().begin(),
                                          response->objects_to_push().end());
  std::vector<const DeflatedObject*> to_push;
  for (const ObjectBundle& bundle : bundles) {
    for (const DeflatedObject& object : bundle.objects) {
      if (wanted.erase(object.object_id) > 0) to_push.push_back(&object);
    }
  }
  if (!wanted.empty()) {
    return absl::DataLossError(absl::StrCat("The Runtime API asked for object ", *wanted.begin(),
                                            ", which the pushed messages do not have"));
  }
  absl::Mutex error_mu;
  absl::Status first_error;
  RunConcurrently(
      to_push.size(), options_.max_concurrent_pushes, [&](size_t i, const std::atomic<bool>&) {
        proto::PushObjectRequest push;
        push.mutable_node()->set_node_id(node_id);
        push.set_run_id(run_id);
        push.set_object_id(to_push[i]->object_id);
        to_push[i]->AppendContentTo(push.mutable_object_content());
        push.set_session_id(response->session_id());
        absl::StatusOr<proto::PushObjectResponse> pushed =
            Call<proto::PushObjectRequest, proto::PushObjectResponse>("push-object", push);
        absl::Status s = pushed.status();
        if (s.ok() && !pushed->stored()) {
          s = absl::DataLossError(absl::StrCat("Failed to push object with ID '",
                                               to_push[i]->object_id, "' for run ", run_id,
                                               " using session ", response->session_id()));
        }
        if (s.ok()) return true;
        absl::MutexLock lock(&error_mu);
        if (first_error.ok()) first_error = std::move(s);
        return false;
      });
  if (!first_error.ok()) return first_error;
  return std::vector<std::string>(response->message_ids().begin(), response->message_ids().end());
}

absl::Status AppRuntimeClient::PushTaskOutput(const std::optional<Context>& context,
                                              absl::string_view sub_status,
                                              absl::string_view details) {
  proto::PushTaskOutputRequest request;
  if (context.has_value()) {
    absl::StatusOr<proto::Context> wire = ContextToProto(*context);
    if (!wire.ok()) return wire.status();
    *request.mutable_context() = *std::move(wire);
  }
  request.set_sub_status(std::string(sub_status));
  request.set_details(std::string(details));
  return Call<proto::PushTaskOutputRequest, proto::PushTaskOutputResponse>("push-task-output",
                                                                           request)
      .status();
}

absl::Status AppRuntimeClient::PushLogs(uint64_t run_id, std::vector<std::string> logs) {
  proto::PushLogsRequest request;
  request.mutable_node()->set_node_id(0);
  request.set_run_id(run_id);
  for (std::string& line : logs) request.add_logs(std::move(line));
  return Call<proto::PushLogsRequest, proto::PushLogsResponse>("push-logs", request).status();
}

absl::StatusOr<std::vector<uint64_t>> AppRuntimeClient::GetNodes() {
  absl::StatusOr<proto::GetNodesResponse> response =
      Call<proto::GetNodesRequest, proto::GetNodesResponse>("get-nodes", proto::GetNodesRequest());
  if (!response.ok()) return response.status();
  std::vector<uint64_t> ids;
  for (const proto::NodeInfo& node : response->nodes()) ids.push_back(node.node_id());
  return ids;
}

Message MakeReply(const Message& instruction, std::optional<RecordDict> content,
                  std::optional<Error> error) {
  const double now = NowSeconds();
  Message reply;
  reply.metadata.run_id = instruction.metadata.run_id;
  reply.metadata.src_node_id = instruction.metadata.dst_node_id;
  reply.metadata.dst_node_id = instruction.metadata.src_node_id;
  reply.metadata.reply_to_message_id = instruction.metadata.message_id;
  reply.metadata.group_id = instruction.metadata.group_id;
  reply.metadata.created_at = now;
  reply.metadata.ttl = instruction.metadata.created_at + instruction.metadata.ttl - now;
  reply.metadata.message_type = instruction.metadata.message_type;
  reply.metadata.src_task_id = instruction.metadata.dst_task_id;
  reply.metadata.dst_task_id = instruction.metadata.src_task_id;
  reply.content = std::move(content);
  reply.error = std::move(error);
  return reply;
}

// ---- argv --------------------------------------------------------------------------------

namespace {

struct FlagSpec {
  absl::string_view name;
  bool takes_value;
  absl::string_view metavar;
};

constexpr FlagSpec kAppFlags[] = {
    {"--help", false, ""},
    {"--runtime-api-address", true, "RUNTIME_API_ADDRESS"},
    {"--token", true, "TOKEN"},
    {"--token-file", true, "TOKEN_FILE"},
    {"--insecure", false, ""},
    {"--root-certificates", true, "ROOT_CERT"},
    {"--parent-pid", true, "PARENT_PID"},
    {"--allow-runtime-dependency-installation", false, ""},
};

std::string AppUsage(absl::string_view program) {
  const std::string indent(std::string("usage: ").size() + program.size() + 1, ' ');
  return absl::StrCat("usage: ", program, " [-h] [--runtime-api-address RUNTIME_API_ADDRESS]\n",
                      indent, "(--token TOKEN | --token-file TOKEN_FILE) [--insecure]\n", indent,
                      "[--root-certificates ROOT_CERT]\n", indent, "[--parent-pid PARENT_PID]\n",
                      indent, "[--allow-runtime-dependency-installation]\n");
}

AppArgsResult UsageError(absl::string_view program, absl::string_view reason) {
  AppArgsResult result;
  result.exit_status = 2;
  result.output = absl::StrCat(AppUsage(program), program, ": error: ", reason, "\n");
  return result;
}

AppArgsResult Failure(absl::string_view message) {
  AppArgsResult result;
  result.exit_status = 1;
  result.output = absl::StrCat(message, "\n");
  return result;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

AppArgsResult ParseAppArgs(absl::string_view program, absl::string_view default_address,
                           absl::Span<const std::string> argv) {
  AppArgs args;
  args.runtime_api_address = std::string(default_address);
  std::optional<std::string> token;
  std::optional<std::string> token_file;
  std::vector<std::string> unrecognized;
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg == "-h") {
      AppArgsResult result;
      result.output = AppUsage(program);
      result.to_stdout = true;
      return result;
    }
    if (!absl::StartsWith(arg, "--") || arg == "--") {
      unrecognized.push_back(arg);
      continue;
    }
    absl::string_view name = arg;
    std::optional<std::string> inline_value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      name = absl::string_view(arg).substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    // argparse: an exact match wins, otherwise a unique prefix.
    const FlagSpec* spec = nullptr;
    std::vector<const FlagSpec*> candidates;
    for (const FlagSpec& f : kAppFlags) {
      if (f.name == name) {
        spec = &f;
        break;
      }
      if (absl::StartsWith(f.name, name)) candidates.push_back(&f);
    }
    if (spec == nullptr && candidates.size() > 1) {
      std::vector<std::string> names;
      for (const FlagSpec* c : candidates) names.emplace_back(c->name);
      return UsageError(program, absl::StrCat("ambiguous option: ", name, " could match ",
                                              absl::StrJoin(names, ", ")));
    }
    if (spec == nullptr && candidates.size() == 1) spec = candidates[0];
    if (spec == nullptr) {
      unrecognized.push_back(arg);
      continue;
    }
    std::string value;
    if (spec->takes_value) {
      if (inline_value.has_value()) {
        value = *inline_value;
      } else if (i + 1 < argv.size() &&
                 !(absl::StartsWith(argv[i + 1], "-") && argv[i + 1].size() > 1 &&
                   !absl::ascii_isdigit(static_cast<unsigned char>(argv[i + 1][1])))) {
        value = argv[++i];
      } else {
        return UsageError(program,
                          absl::StrCat("argument ", spec->name, ": expected one argument"));
      }
    } else if (inline_value.has_value()) {
      return UsageError(program, absl::StrCat("argument ", spec->name,
                                              ": ignored explicit argument '", *inline_value, "'"));
    }
    if (spec->name == "--help") {
      AppArgsResult result;
      result.output = AppUsage(program);
      result.to_stdout = true;
      return result;
    } else if (spec->name == "--runtime-api-address") {
      args.runtime_api_address = value;
    } else if (spec->name == "--token") {
      if (token_file.has_value()) {
        return UsageError(program, "argument --token: not allowed with argument --token-file");
      }
      token = value;
    } else if (spec->name == "--token-file") {
      if (token.has_value()) {
        return UsageError(program, "argument --token-file: not allowed with argument --token");
      }
      token_file = value;
    } else if (spec->name == "--insecure") {
      args.insecure = true;
    } else if (spec->name == "--root-certificates") {
      args.root_certificates = value;
    } else if (spec->name == "--parent-pid") {
      int pid = 0;
      if (!absl::SimpleAtoi(value, &pid)) {
        return UsageError(program,
                          absl::StrCat("argument --parent-pid: invalid int value: '", value, "'"));
      }
      args.parent_pid = static_cast<pid_t>(pid);
    } else if (spec->name == "--allow-runtime-dependency-installation") {
      args.allow_runtime_dependency_installation = true;
    }
  }
  if (!token.has_value() && !token_file.has_value()) {
    return UsageError(program, "one of the arguments --token --token-file is required");
  }
  if (!unrecognized.empty()) {
    return UsageError(program,
                      absl::StrCat("unrecognized arguments: ", absl::StrJoin(unrecognized, " ")));
  }
  if (token.has_value()) {
    args.token = std::string(absl::StripAsciiWhitespace(*token));
    if (args.token.empty()) return Failure("Argument `--token` does not contain a token.");
  } else {
    const std::string path = ExpandUser(*token_file);
    if (!IsRegularFile(path)) {
      return Failure("Path argument `--token-file` does not point to a file.");
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    args.token = std::string(absl::StripAsciiWhitespace(content.str()));
    if (args.token.empty())
      return Failure("Path argument `--token-file` does not contain a token.");
  }
  AppArgsResult result;
  result.args = std::move(args);
  return result;
}

std::optional<std::pair<int, std::string>> CheckAppTls(const AppArgs& args) {
  if (args.insecure) {
    if (args.root_certificates.has_value()) {
      return std::make_pair(exit_code::kTlsRootCertificatesIncompatible,
                            std::string("Conflicting options: The '--insecure' flag disables "
                                        "TLS, but '--root-certificates' was also specified."));
    }
    return std::nullopt;
  }
  if (args.root_certificates.has_value() && !IsRegularFile(ExpandUser(*args.root_certificates))) {
    return std::make_pair(exit_code::kPathInvalid,
                          std::string("Path argument `--root-certificates` does not point to a "
                                      "file."));
  }
  return std::nullopt;
}

std::string AppRootCertificatesPath(const AppArgs& args) {
  return args.root_certificates.has_value() ? ExpandUser(*args.root_certificates) : "";
}

// ---- Signals -----------------------------------------------------------------------------

namespace {

sigset_t ExitSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGQUIT);
  return set;
}

}  // namespace

std::unique_ptr<AppSignalGuard> AppSignalGuard::Install(std::optional<pid_t> parent_pid,
                                                        std::string exit_message) {
  sigset_t set = ExitSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::unique_ptr<AppSignalGuard> guard(new AppSignalGuard(std::move(exit_message)));
  guard->signal_thread_ = std::thread([g = guard.get()] { g->SignalLoop(); });
  if (parent_pid.has_value()) {
    const pid_t parent = *parent_pid;
    guard->parent_monitor_ = std::thread([parent] {
      while (true) {
        absl::SleepFor(absl::Milliseconds(200));
        if (::kill(parent, 0) != 0 && errno == ESRCH) {
          ::kill(::getpid(), SIGINT);
          return;
        }
      }
    });
  }
  return guard;
}

AppSignalGuard::~AppSignalGuard() {
  // Both threads wait for the process to end; they hold no resources of this object that
  // outlive it beyond the mutex, so the process must exit without destroying the guard
  // while they run: callers end with _exit().
  if (signal_thread_.joinable()) signal_thread_.detach();
  if (parent_monitor_.joinable()) parent_monitor_.detach();
}

void AppSignalGuard::SetExitHandler(std::function<void()> handler) {
  absl::MutexLock lock(&mu_);
  handler_ = std::move(handler);
}

void AppSignalGuard::RunExitHandler() {
  std::function<void()> handler;
  {
    absl::MutexLock lock(&mu_);
    if (handler_ran_) {
      // The signal thread runs it and then ends the process.
      mu_.Await(absl::Condition(
          +[](bool*) { return false; }, &handler_ran_));
    }
    handler_ran_ = true;
    handler = handler_;
  }
  if (handler) handler();
}

void AppSignalGuard::SignalLoop() {
  sigset_t set = ExitSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  const int code = signal_number == SIGINT    ? exit_code::kGracefulExitSigint
                   : signal_number == SIGQUIT ? exit_code::kGracefulExitSigquit
                                              : exit_code::kGracefulExitSigterm;
  std::function<void()> handler;
  {
    absl::MutexLock lock(&mu_);
    if (!handler_ran_) {
      handler_ran_ = true;
      handler = handler_;
    }
  }
  LogFlwrExit(code, exit_message_);
  if (handler) handler();
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(0);
}

}  // namespace flwr::core
