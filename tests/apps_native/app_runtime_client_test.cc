#include "flwr/core/app_runtime_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/http_proto_server.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/runtime_version.h"
#include "flwr/proto/log.pb.h"
#include "flwr/proto/message.pb.h"
#include "flwr/proto/runtime.pb.h"

namespace flwr::core {
namespace {

// A fake Runtime API: an object store, one instruction, and knobs for failures.
class FakeRuntime {
 public:
  FakeRuntime() {
    Add<proto::SendTaskHeartbeatRequest, proto::SendTaskHeartbeatResponse>(
        "send-task-heartbeat",
        [this](const auto&) -> absl::StatusOr<proto::SendTaskHeartbeatResponse> {
          proto::SendTaskHeartbeatResponse r;
          r.set_success(heartbeat_success.load());
          heartbeats.fetch_add(1);
          return r;
        });
    Add<proto::PullTaskInputRequest, proto::PullTaskInputResponse>(
        "pull-task-input", [this](const auto&) -> absl::StatusOr<proto::PullTaskInputResponse> {
          if (unavailable_first.fetch_sub(1) > 0) return absl::UnavailableError("try later");
          if (unauthenticated) return FlowerError(api_error::kRuntimeAuthenticationFailed, "no");
          if (forbidden) return absl::PermissionDeniedError("run not running");
          proto::PullTaskInputResponse r;
          Context context;
          context.run_id = 7;
          context.node_id = 42;
          context.node_config.Set("partition-id", int64_t{1});
          *r.mutable_context() = *ContextToProto(context);
          r.mutable_run()->set_run_id(7);
          r.mutable_fab()->set_content("fab bytes");
          r.mutable_fab()->set_hash_str(FabHash("fab bytes"));
          return r;
        });
    Add<proto::PullAppMessagesRequest, proto::PullAppMessagesResponse>(
        "pull-messages", [this](const auto&) -> absl::StatusOr<proto::PullAppMessagesResponse> {
          absl::MutexLock lock(&mu);
          proto::PullAppMessagesResponse r;
          if (!instruction.has_value()) return r;
          Message header = *instruction;
          header.content = RecordDict();
          *r.add_messages_list() = *MessageToProto(header);
          *r.add_message_object_trees() = instruction_tree;
          instruction.reset();
          return r;
        });
    Add<proto::PullObjectRequest, proto::PullObjectResponse>(
        "pull-object",
        [this](const proto::PullObjectRequest& req) -> absl::StatusOr<proto::PullObjectResponse> {
          absl::MutexLock lock(&mu);
          proto::PullObjectResponse r;
          auto it = objects.find(req.object_id());
          if (it == objects.end()) return r;
          r.set_object_found(true);
          if (unavailable_pulls > 0) {
            --unavailable_pulls;
            return r;
          }
          r.set_object_available(true);
          r.set_object_content(it->second);
          return r;
        });
    Add<proto::ConfirmMessageReceivedRequest, proto::ConfirmMessageReceivedResponse>(
        "confirm-message-received",
        [this](const proto::ConfirmMessageReceivedRequest& req)
            -> absl::StatusOr<proto::ConfirmMessageReceivedResponse> {
          absl::MutexLock lock(&mu);
          confirmed.push_back(req.message_object_id());
          return proto::ConfirmMessageReceivedResponse();
        });
    Add<proto::PushAppMessagesRequest, proto::PushAppMessagesResponse>(
        "push-messages",
        [this](const proto::PushAppMessagesRequest& req)
            -> absl::StatusOr<proto::PushAppMessagesResponse> {
          absl::MutexLock lock(&mu);
          proto::PushAppMessagesResponse r;
          r.set_session_id("session-1");
          for (int i = 0; i < req.messages_list_size(); ++i) {
            pushed_headers.push_back(req.messages_list(i));
            for (const std::string& id : ObjectTreePostOrder(req.message_object_trees(i))) {
              if (!objects.contains(id) && !wanted.contains(id)) {
                wanted.insert(id);
                r.add_objects_to_push(id);
              }
            }
            r.add_message_ids(req.messages_list(i).metadata().message_id());
          }
          return r;
        });
    Add<proto::PushObjectRequest, proto::PushObjectResponse>(
        "push-object",
        [this](const proto::PushObjectRequest& req) -> absl::StatusOr<proto::PushObjectResponse> {
          absl::MutexLock lock(&mu);
          proto::PushObjectResponse r;
          const bool ok = req.session_id() == "session-1" && wanted.erase(req.object_id()) > 0 &&
                          ComputeObjectId(req.object_content()) == req.object_id();
          if (ok) objects[req.object_id()] = req.object_content();
          r.set_stored(ok);
          return r;
        });
    Add<proto::PushTaskOutputRequest, proto::PushTaskOutputResponse>(
        "push-task-output",
        [this](const proto::PushTaskOutputRequest& req)
            -> absl::StatusOr<proto::PushTaskOutputResponse> {
          absl::MutexLock lock(&mu);
          task_output = req;
          return proto::PushTaskOutputResponse();
        });
    Add<proto::PushLogsRequest, proto::PushLogsResponse>(
        "push-logs",
        [this](const proto::PushLogsRequest& req) -> absl::StatusOr<proto::PushLogsResponse> {
          absl::MutexLock lock(&mu);
          for (const std::string& line : req.logs()) logs += line;
          return proto::PushLogsResponse();
        });
    Add<proto::GetNodesRequest, proto::GetNodesResponse>(
        "get-nodes", [](const auto&) -> absl::StatusOr<proto::GetNodesResponse> {
          proto::GetNodesResponse r;
          r.add_nodes()->set_node_id(5);
          r.add_nodes()->set_node_id(6);
          return r;
        });
    EXPECT_TRUE(server_.Start("127.0.0.1", 0).ok());
  }

  // Stores `message` (content in objects) as the instruction pull-messages hands out.
  void SetInstruction(const Message& message) {
    ObjectBundle bundle = *DeflateMessage(message);
    absl::MutexLock lock(&mu);
    for (const DeflatedObject& o : bundle.objects) objects[o.object_id] = o.content();
    instruction = message;
    instruction->metadata.message_id = bundle.root_id();
    instruction_tree = bundle.tree;
  }

  AppRuntimeClientOptions Options() {
    AppRuntimeClientOptions options;
    options.address = absl::StrCat("127.0.0.1:", server_.port());
    options.token = "tok";
    options.component_name = "flwr-clientapp";
    options.on_rejected = [this] { rejections.fetch_add(1); };
    options.sleep = [this](absl::Duration) { sleeps.fetch_add(1); };
    return options;
  }

  absl::Mutex mu;
  std::map<std::string, std::string> objects;
  absl::flat_hash_set<std::string> wanted;
  std::optional<Message> instruction;
  proto::ObjectTree instruction_tree;
  std::vector<std::string> confirmed;
  std::vector<proto::Message> pushed_headers;
  std::optional<proto::PushTaskOutputRequest> task_output;
  std::string logs;
  int unavailable_pulls = 0;
  std::atomic<int> unavailable_first{0};
  std::atomic<bool> heartbeat_success{true};
  std::atomic<int> heartbeats{0};
  std::atomic<int> rejections{0};
  std::atomic<int> sleeps{0};
  bool unauthenticated = false;
  bool forbidden = false;
  std::atomic<int> tokens_seen{0};

 private:
  template <typename Req, typename Resp>
  void Add(const std::string& rpc, std::function<absl::StatusOr<Resp>(const Req&)> fn) {
    server_.AddUnary<Req, Resp>(
        absl::StrCat("/v1/runtime/", rpc),
        [this, fn](const Req& req, const HttpRequestContext& context) -> absl::StatusOr<Resp> {
          if (context.Header("flwr-task-token") != "tok") {
            return FlowerError(api_error::kRuntimeAuthenticationFailed, "bad token");
          }
          if (context.Header("flwr-component-name") != "flwr-clientapp") {
            return absl::InvalidArgumentError("component name");
          }
          return fn(req);
        });
  }

  HttpProtoServer server_;
};

Message Instruction() {
  Message m;
  m.metadata.run_id = 7;
  m.metadata.src_node_id = 1;
  m.metadata.dst_node_id = 42;
  m.metadata.message_type = "train";
  m.metadata.created_at = 1000.0;
  m.metadata.ttl = 43200;
  RecordDict content;
  content.Set("arrays", ArrayRecord{{"w", *Array::FromFloats({1.0f, 2.0f}, {2})}});
  content.Set("config", ConfigRecord{{"lr", 0.1}});
  m.content = content;
  return m;
}

TEST(AppRuntimeClientTest, PullsTaskInputAndTheInstructionWithItsObjects) {
  FakeRuntime runtime;
  runtime.SetInstruction(Instruction());
  runtime.unavailable_pulls = 2;  // "registered but not yet available" twice
  auto client = *AppRuntimeClient::Create(runtime.Options());
  absl::StatusOr<TaskInput> input = client->PullTaskInput();
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->context.node_id, 42u);
  EXPECT_EQ(input->fab.content, "fab bytes");
  absl::StatusOr<std::vector<Message>> messages = client->PullMessages({}, 42, 7, false);
  ASSERT_TRUE(messages.ok()) << messages.status();
  ASSERT_EQ(messages->size(), 1u);
  Message expected = Instruction();
  expected.metadata.message_id = *ComputeMessageId(expected);
  EXPECT_EQ(messages->front(), expected);
  EXPECT_EQ(runtime.confirmed, std::vector<std::string>{expected.metadata.message_id});
  EXPECT_EQ(runtime.sleeps.load(), 2);
  // Nothing more to pull.
  EXPECT_TRUE(client->PullMessages({}, 42, 7, false)->empty());
}

TEST(AppRuntimeClientTest, PushesTheReplyAndExactlyTheRequestedObjects) {
  FakeRuntime runtime;
  auto client = *AppRuntimeClient::Create(runtime.Options());
  Message instruction = Instruction();
  instruction.metadata.message_id = *ComputeMessageId(instruction);
  RecordDict content;
  content.Set("metrics", MetricRecord{{"num-examples", int64_t{10}}});
  std::vector<Message> replies{MakeReply(instruction, content)};
  EXPECT_EQ(replies[0].metadata.reply_to_message_id, instruction.metadata.message_id);
  EXPECT_EQ(replies[0].metadata.dst_node_id, 1u);
  EXPECT_EQ(replies[0].metadata.src_node_id, 42u);
  absl::StatusOr<std::vector<std::string>> ids =
      client->PushMessages(absl::MakeSpan(replies), 42, 7);
  ASSERT_TRUE(ids.ok()) << ids.status();
  absl::MutexLock lock(&runtime.mu);
  EXPECT_TRUE(runtime.wanted.empty());  // every requested object arrived, hash-checked
  ASSERT_EQ(runtime.pushed_headers.size(), 1u);
  EXPECT_EQ(runtime.pushed_headers[0].metadata().message_id(), replies[0].metadata.message_id);
  EXPECT_TRUE(runtime.pushed_headers[0].content().items().empty());
  ObjectContents contents(runtime.objects.begin(), runtime.objects.end());
  absl::StatusOr<Message> stored = InflateMessage(replies[0].metadata.message_id, contents);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->content, replies[0].content);
}

TEST(AppRuntimeClientTest, RetriesUnavailableAndStopsAtMaxTries) {
  FakeRuntime runtime;
  runtime.unavailable_first = 3;
  auto client = *AppRuntimeClient::Create(runtime.Options());
  EXPECT_TRUE(client->PullTaskInput().ok());
  EXPECT_EQ(runtime.sleeps.load(), 3);
  runtime.unavailable_first = 1;
  client->SetMaxTries(1);
  EXPECT_EQ(client->PullTaskInput().status().code(), absl::StatusCode::kUnavailable);
}

TEST(AppRuntimeClientTest, UnauthorizedRejectsOnceAndForbiddenIsNotRetried) {
  FakeRuntime runtime;
  runtime.unauthenticated = true;
  auto client = *AppRuntimeClient::Create(runtime.Options());
  EXPECT_EQ(client->PullTaskInput().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(client->PullTaskInput().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(runtime.rejections.load(), 1);
  runtime.unauthenticated = false;
  runtime.forbidden = true;
  EXPECT_EQ(client->PullTaskInput().status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(runtime.sleeps.load(), 0);
}

TEST(AppRuntimeClientTest, HeartbeatStartsAtOnceAndRejectsOnSuccessFalse) {
  FakeRuntime runtime;
  runtime.heartbeat_success = false;
  auto client = *AppRuntimeClient::Create(runtime.Options());
  ASSERT_TRUE(client->StartHeartbeat().ok());
  for (int i = 0; i < 200 && runtime.rejections.load() == 0; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  EXPECT_EQ(runtime.heartbeats.load(), 1);
  EXPECT_EQ(runtime.rejections.load(), 1);
  client->StopHeartbeat();
}

TEST(AppRuntimeClientTest, TaskOutputLogsAndNodes) {
  FakeRuntime runtime;
  auto client = *AppRuntimeClient::Create(runtime.Options());
  Context context;
  context.run_id = 7;
  ASSERT_TRUE(client->PushTaskOutput(context, "failed", "why").ok());
  ASSERT_TRUE(client->PushLogs(7, {"a\n", "b\n"}).ok());
  EXPECT_EQ(*client->GetNodes(), (std::vector<uint64_t>{5, 6}));
  absl::MutexLock lock(&runtime.mu);
  EXPECT_EQ(runtime.task_output->sub_status(), "failed");
  EXPECT_EQ(runtime.task_output->details(), "why");
  EXPECT_EQ(runtime.task_output->context().run_id(), 7u);
  EXPECT_EQ(runtime.logs, "a\nb\n");
}

TEST(AppRuntimeClientTest, RejectsBadAddressesAndTokens) {
  AppRuntimeClientOptions options;
  options.token = "t";
  for (const char* address : {"", "host", "host:0", "host:70000", ":80", "[::1]80"}) {
    options.address = address;
    EXPECT_FALSE(AppRuntimeClient::Create(options).ok()) << address;
  }
  options.address = "[::1]:9094";
  EXPECT_TRUE(AppRuntimeClient::Create(options).ok());
  options.token = "";
  EXPECT_FALSE(AppRuntimeClient::Create(options).ok());
}

AppArgsResult Parse(std::vector<std::string> argv) {
  argv.insert(argv.begin(), "flwr-clientapp");
  return ParseAppArgs("flwr-clientapp", "127.0.0.1:9094", argv);
}

TEST(ParseAppArgsTest, StockArgv) {
  AppArgsResult r =
      Parse({"--runtime-api-address", "127.0.0.1:19114", "--token", " abc\n", "--insecure",
             "--parent-pid", "28104", "--allow-runtime-dependency-installation"});
  ASSERT_TRUE(r.args.has_value()) << r.output;
  EXPECT_EQ(r.args->runtime_api_address, "127.0.0.1:19114");
  EXPECT_EQ(r.args->token, "abc");
  EXPECT_TRUE(r.args->insecure);
  EXPECT_EQ(r.args->parent_pid, 28104);
  EXPECT_TRUE(r.args->allow_runtime_dependency_installation);
  EXPECT_FALSE(CheckAppTls(*r.args).has_value());
  // TLS, verified with the system's roots or --root-certificates (a file).
  r = Parse({"--token=x"});
  ASSERT_TRUE(r.args.has_value());
  EXPECT_EQ(r.args->runtime_api_address, "127.0.0.1:9094");
  EXPECT_FALSE(CheckAppTls(*r.args).has_value());
  EXPECT_EQ(AppRootCertificatesPath(*r.args), "");
  r = Parse({"--token=x", "--root-certificates", "/nonexistent/ca.pem"});
  ASSERT_TRUE(r.args.has_value());
  EXPECT_EQ(CheckAppTls(*r.args)->first, exit_code::kPathInvalid);
  EXPECT_EQ(AppRootCertificatesPath(*r.args), "/nonexistent/ca.pem");
}

TEST(ParseAppArgsTest, ErrorsAsArgparse) {
  auto error_line = [](const AppArgsResult& r) {
    const size_t start = r.output.rfind("flwr-clientapp: error: ");
    return start == std::string::npos ? r.output : r.output.substr(start);
  };
  AppArgsResult r = Parse({});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_EQ(error_line(r),
            "flwr-clientapp: error: one of the arguments --token --token-file is required\n");
  r = Parse({"--token", "a", "--token-file", "f"});
  EXPECT_EQ(error_line(r),
            "flwr-clientapp: error: argument --token-file: not allowed with argument --token\n");
  r = Parse({"--token", "a", "--bogus", "x"});
  EXPECT_EQ(error_line(r), "flwr-clientapp: error: unrecognized arguments: --bogus x\n");
  r = Parse({"--token"});
  EXPECT_EQ(error_line(r), "flwr-clientapp: error: argument --token: expected one argument\n");
  r = Parse({"--token", "a", "--parent-pid", "p"});
  EXPECT_EQ(error_line(r),
            "flwr-clientapp: error: argument --parent-pid: invalid int value: 'p'\n");
  r = Parse({"--token", "   "});
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_EQ(r.output, "Argument `--token` does not contain a token.\n");
  r = Parse({"--token-file", "/nonexistent"});
  EXPECT_EQ(r.output, "Path argument `--token-file` does not point to a file.\n");
  r = Parse({"--token", "a", "--insecure", "--root-certificates", "ca.pem"});
  ASSERT_TRUE(r.args.has_value());
  EXPECT_EQ(CheckAppTls(*r.args)->first, exit_code::kTlsRootCertificatesIncompatible);
}

TEST(FlwrExitMessageTest, AsFlwrExit) {
  EXPECT_EQ(FlwrExitMessage(0, ""), "");
  // The docs link names the primary line, as the stock apps of that line print it.
  const std::vector<absl::string_view> version = absl::StrSplit(PinnedFlowerVersion(), '.');
  EXPECT_EQ(FlwrExitMessage(800, ""),
            absl::StrCat("Exit Code: 800\n\nAn unhandled exception occurred in a task process."
                         "\n\nFor more information, visit: <https://flower.ai/docs/framework/",
                         version.at(0), ".", version.at(1), "/en/ref-exit-codes/800.html>"));
}

}  // namespace
}  // namespace flwr::core
