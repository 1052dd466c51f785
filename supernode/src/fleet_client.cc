#include "flwr/supernode/fleet_client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/logging.h"
#include "flwr/core/object_pull.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sha256.h"
#include "flwr/proto/fleet.pb.h"
#include "flwr/proto/heartbeat.pb.h"

namespace flwr::supernode {
namespace {

// The stock SuperNode's header of each message it receives or sends: an empty line, then
// "[RUN <run>, ROUND <group>]" ("[RUN <run>]" without a group ID).
void LogRunHeader(uint64_t run_id, absl::string_view group_id) {
  core::LogInfo("");
  core::LogInfo(group_id.empty() ? absl::StrCat("[RUN ", run_id, "]")
                                 : absl::StrCat("[RUN ", run_id, ", ROUND ", group_id, "]"));
}

// Stock make_simple_grpc_retry_invoker / make_simple_http_retry_invoker: Unavailable, unless
// it is a TLS handshake failure.
bool IsRetryable(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return false;
  if (absl::StrContains(absl::AsciiStrToLower(status.message()), "handshake failed")) {
    core::LogError("SSL/TLS handshake error detected.");
    return false;
  }
  return true;
}

core::RetryInvokerOptions RetryOptions(const FleetClientOptions& options) {
  core::RetryInvokerOptions retry{
      .retryable = IsRetryable, .max_time = options.max_wait_time, .sleep = options.sleep};
  if (options.max_retries.has_value()) retry.max_tries = *options.max_retries + 1;
  return retry;
}

}  // namespace

bool IsRunNotRunning(const absl::Status& status) {
  return status.code() == absl::StatusCode::kPermissionDenied;
}

bool IsNodeRejected(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnauthenticated;
}

absl::StatusOr<std::unique_ptr<FleetClient>> FleetClient::Create(FleetClientOptions options) {
  if (options.address.empty()) return absl::InvalidArgumentError("empty SuperLink address");
  std::optional<core::NodeKey> key = options.key;
  if (!key.has_value()) {
    absl::StatusOr<core::NodeKey> generated = core::NodeKey::Generate();
    if (!generated.ok()) return generated.status();
    key = *std::move(generated);
  }
  core::NodeKey node_key = *std::move(key);
  absl::StatusOr<std::unique_ptr<FleetTransport>> transport =
      FleetTransport::Create({.kind = options.transport,
                              .address = options.address,
                              .insecure = options.insecure,
                              .root_certificates = options.root_certificates,
                              .on_should_exit = nullptr},  // GrpcAdapter: stock's SIGTERM
                             node_key);
  if (!transport.ok()) return transport.status();
  return std::unique_ptr<FleetClient>(
      new FleetClient(std::move(options), std::move(node_key), *std::move(transport)));
}

FleetClient::FleetClient(FleetClientOptions options, core::NodeKey key,
                         std::unique_ptr<FleetTransport> transport)
    : options_(std::move(options)),
      key_(std::move(key)),
      self_registered_(!options_.key.has_value()),
      transport_(std::move(transport)),
      retry_(RetryOptions(options_)) {}

FleetClient::~FleetClient() { StopHeartbeat(); }

absl::Status FleetClient::EnsureConnected() const {
  if (!connected_.load()) return absl::FailedPreconditionError("FleetClient is not connected");
  return absl::OkStatus();
}

absl::Status FleetClient::Connect() {
  if (connected_.load()) return absl::FailedPreconditionError("FleetClient already connected");
  if (self_registered_) {
    proto::RegisterNodeFleetRequest request;
    request.set_public_key(key_.PublicKeyPem());
    proto::RegisterNodeFleetResponse response;
    absl::Status status =
        retry_.Invoke("RegisterNode", [&] { return transport_->Call(request, &response); });
    if (!status.ok()) return status;
  }
  proto::ActivateNodeRequest request;
  request.set_public_key(key_.PublicKeyPem());
  request.set_heartbeat_interval(absl::ToDoubleSeconds(core::kHeartbeatDefaultInterval));
  proto::ActivateNodeResponse response;
  absl::Status status =
      retry_.Invoke("ActivateNode", [&] { return transport_->Call(request, &response); });
  if (!status.ok()) return status;
  node_id_.store(response.node_id());
  connected_.store(true);
  if (options_.heartbeat) {
    auto heartbeat = std::make_unique<core::HeartbeatSender>(core::HeartbeatSenderOptions{
        .send = [this](const core::StopSignal& stop) { return SendHeartbeat(stop); },
        .on_error =
            [](const absl::Status& status) {
              core::LogError(absl::StrCat("Heartbeat stopped: ", status.ToString()));
            }});
    absl::Status started = heartbeat->Start();
    if (!started.ok()) return started;
    absl::MutexLock lock(&mu_);
    heartbeat_ = std::move(heartbeat);
  }
  core::LogInfo(absl::StrCat("SuperNode ID: ", response.node_id()));
  return absl::OkStatus();
}

absl::Status FleetClient::SendHeartbeat(const core::StopSignal& stop) {
  proto::SendNodeHeartbeatRequest request;
  request.mutable_node()->set_node_id(node_id_.load());
  request.set_heartbeat_interval(absl::ToDoubleSeconds(core::kHeartbeatDefaultInterval));
  proto::SendNodeHeartbeatResponse response;
  absl::Status status = retry_.Invoke(
      "SendNodeHeartbeat",
      [&] { return transport_->Call(request, &response, core::kHeartbeatCallTimeout); }, &stop);
  if (!status.ok()) return status;
  if (!response.success()) {
    return absl::FailedPreconditionError(
        "Heartbeat failed unexpectedly. The SuperLink does not recognize this SuperNode.");
  }
  return absl::OkStatus();
}

void FleetClient::StopHeartbeat() {
  core::HeartbeatSender* heartbeat;
  {
    absl::MutexLock lock(&mu_);
    heartbeat = heartbeat_.get();
  }
  if (heartbeat != nullptr) heartbeat->Stop();
}

absl::Status FleetClient::heartbeat_status() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_ == nullptr ? absl::OkStatus() : heartbeat_->status();
}

int FleetClient::heartbeats_sent() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_ == nullptr ? 0 : heartbeat_->sent();
}

absl::StatusOr<std::string> FleetClient::PullObjectWithBackoff(uint64_t run_id,
                                                               const std::string& object_id,
                                                               absl::Time start,
                                                               const std::atomic<bool>& stop) {
  core::ExponentialBackoff backoff(kPullInitialBackoff, 2, kPullBackoffCap);
  int tries = 0;
  while (!stop.load()) {
    proto::PullObjectRequest request;
    request.mutable_node()->set_node_id(node_id_.load());
    request.set_run_id(run_id);
    request.set_object_id(object_id);
    proto::PullObjectResponse response;
    absl::Status status =
        retry_.Invoke("PullObject", [&] { return transport_->Call(request, &response); });
    if (!status.ok()) return status;
    if (!response.object_found()) {
      return absl::DataLossError(
          absl::StrCat("Failed to pull object ", object_id, ": object not found"));
    }
    if (response.object_available()) return std::move(*response.mutable_object_content());
    ++tries;
    if (tries >= kPullMaxTriesPerObject || absl::Now() - start >= kPullMaxTime) {
      return absl::DataLossError(
          absl::StrCat("Failed to pull object ", object_id, ": timeout or retry limit reached"));
    }
    retry_.Wait(backoff.Next() * (1 + core::RandomUniform(-0.2, 0.2)));
  }
  return absl::CancelledError("object pull stopped after another object failed");
}

absl::StatusOr<std::optional<PulledMessage>> FleetClient::PullMessage(
    bool inflate, const BeforeObjects& before_objects) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  proto::PullMessagesRequest request;
  request.mutable_node()->set_node_id(node_id_.load());
  proto::PullMessagesResponse response;
  absl::Status status =
      retry_.Invoke("PullMessages", [&] { return transport_->Call(request, &response); });
  if (!status.ok()) return status;
  if (response.messages_list_size() == 0) return std::optional<PulledMessage>();
  if (response.message_object_trees_size() == 0) {
    return absl::DataLossError("PullMessages returned a message without its object tree");
  }
  PulledMessage pulled;
  const proto::Message& wire = response.messages_list(0);
  pulled.run_id = wire.metadata().run_id();
  pulled.object_tree = response.message_object_trees(0);
  pulled.wire_message = wire;
  const std::string message_id = wire.metadata().message_id();
  LogRunHeader(wire.metadata().run_id(), wire.metadata().group_id());
  core::LogInfo(absl::StrCat("Receiving: ", wire.metadata().message_type(),
                             " message (ID: ", message_id, ")"));
  if (before_objects && !before_objects(pulled.wire_message)) {
    return std::optional<PulledMessage>(std::move(pulled));
  }

  const absl::Time start = absl::Now();
  absl::StatusOr<core::ObjectContents> contents = core::PullObjectTree(
      pulled.object_tree, options_.max_concurrent_pulls,
      [&](const std::string& id, const std::atomic<bool>& stop) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::string> content = PullObjectWithBackoff(pulled.run_id, id, start, stop);
        if (!content.ok()) return content;
        // Each object must hash to its ID and have a well-formed head (stock
        // ObjectStore.put with verification), before anything is confirmed.
        if (core::ComputeObjectId(*content) != id) {
          return absl::DataLossError(
              absl::StrCat("Object ", id, " does not match its content's hash"));
        }
        if (absl::Status head = core::ParseObjectHead(*content).status(); !head.ok()) {
          return absl::DataLossError(absl::StrCat("Object ", id, ": ", head.message()));
        }
        return content;
      });
  if (!contents.ok()) return contents.status();

  if (inflate) {
    absl::StatusOr<core::Message> message =
        core::InflateMessage(pulled.object_tree.object_id(), *contents);
    if (!message.ok()) return message.status();
    pulled.message = *std::move(message);
    pulled.message.metadata.message_id = message_id;
  }
  pulled.objects = *std::move(contents);

  proto::ConfirmMessageReceivedRequest confirm;
  confirm.mutable_node()->set_node_id(node_id_.load());
  confirm.set_run_id(pulled.run_id);
  confirm.set_message_object_id(message_id);
  proto::ConfirmMessageReceivedResponse confirmed;
  status = retry_.Invoke("ConfirmMessageReceived",
                         [&] { return transport_->Call(confirm, &confirmed); });
  if (!status.ok()) return status;
  core::LogInfo("Received successfully");
  return std::optional<PulledMessage>(std::move(pulled));
}

absl::StatusOr<proto::Run> FleetClient::GetRun(uint64_t run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) return it->second;
  }
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  proto::GetRunRequest request;
  request.mutable_node()->set_node_id(node_id_.load());
  request.set_run_id(run_id);
  proto::GetRunResponse response;
  absl::Status status =
      retry_.Invoke("GetRun", [&] { return transport_->Call(request, &response); });
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  return runs_.try_emplace(run_id, response.run()).first->second;
}

absl::StatusOr<proto::Fab> FleetClient::GetFab(absl::string_view hash_str, uint64_t run_id) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  proto::GetFabRequest request;
  request.mutable_node()->set_node_id(node_id_.load());
  request.set_hash_str(std::string(hash_str));
  request.set_run_id(run_id);
  proto::GetFabResponse response;
  absl::Status status =
      retry_.Invoke("GetFab", [&] { return transport_->Call(request, &response); });
  if (!status.ok()) return status;
  if (core::Sha256Hex(response.fab().content()) != hash_str) {
    return absl::DataLossError(
        absl::StrCat("The FAB's SHA-256 does not match its hash ", hash_str));
  }
  return std::move(*response.mutable_fab());
}

absl::StatusOr<std::string> FleetClient::PushReply(const core::Message& reply,
                                                   double clientapp_runtime) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  absl::StatusOr<core::ObjectBundle> bundle = core::DeflateMessage(reply);
  if (!bundle.ok()) return bundle.status();
  const std::string message_id = bundle->root_id();

  // The message as PushMessages carries it: content replaced by an empty RecordDict (an error
  // reply is sent as is).
  core::Message header;
  header.metadata = reply.metadata;
  header.metadata.message_id = message_id;
  if (reply.error.has_value()) {
    header.error = reply.error;
  } else {
    header.content = core::RecordDict();
  }
  absl::StatusOr<proto::Message> wire = core::MessageToProto(header);
  if (!wire.ok()) return wire.status();
  absl::flat_hash_map<absl::string_view, const core::DeflatedObject*> by_id;
  for (const core::DeflatedObject& object : bundle->objects)
    by_id.emplace(object.object_id, &object);
  absl::Status pushed = PushMessageObjects(
      *wire, bundle->tree, clientapp_runtime,
      [&](const std::string& id, std::string* out) -> absl::Status {
        auto it = by_id.find(id);
        if (it == by_id.end()) {
          return absl::DataLossError(absl::StrCat("The SuperLink asked for object ", id,
                                                  ", which reply ", message_id, " does not have"));
        }
        it->second->AppendContentTo(out);
        return absl::OkStatus();
      });
  if (!pushed.ok()) return pushed;
  return message_id;
}

absl::Status FleetClient::PushMessageObjects(const proto::Message& message,
                                             const proto::ObjectTree& tree,
                                             double clientapp_runtime, const ObjectFetcher& fetch) {
  if (absl::Status s = EnsureConnected(); !s.ok()) return s;
  proto::PushMessagesRequest request;
  request.mutable_node()->set_node_id(node_id_.load());
  *request.add_messages_list() = message;
  *request.add_message_object_trees() = tree;
  request.add_clientapp_runtime_list(clientapp_runtime);
  proto::PushMessagesResponse response;
  LogRunHeader(message.metadata().run_id(), message.metadata().group_id());
  core::LogInfo(absl::StrCat("Sending: ", message.metadata().message_type(),
                             " message (ID: ", message.metadata().message_id(), ")"));
  absl::Status status =
      retry_.Invoke("PushMessages", [&] { return transport_->Call(request, &response); });
  if (!status.ok()) return status;

  // PushObject for exactly the requested objects, in post order of the tree.
  absl::flat_hash_set<std::string> wanted(response.objects_to_push().begin(),
                                          response.objects_to_push().end());
  std::vector<std::string> to_push;
  for (std::string& id : core::ObjectTreePostOrder(tree)) {
    if (wanted.erase(id) > 0) to_push.push_back(std::move(id));
  }
  if (!wanted.empty()) {
    return absl::DataLossError(absl::StrCat("The SuperLink asked for object ", *wanted.begin(),
                                            ", which message ", message.metadata().message_id(),
                                            " does not have"));
  }
  const uint64_t run_id = message.metadata().run_id();
  absl::Mutex error_mu;
  absl::Status first_error;
  core::RunConcurrently(
      to_push.size(), options_.max_concurrent_pushes, [&](size_t i, const std::atomic<bool>&) {
        proto::PushObjectRequest push;
        push.mutable_node()->set_node_id(node_id_.load());
        push.set_run_id(run_id);
        push.set_object_id(to_push[i]);
        push.set_session_id(response.session_id());
        absl::Status s = fetch(to_push[i], push.mutable_object_content());
        proto::PushObjectResponse pushed;
        if (s.ok()) {
          s = retry_.Invoke("PushObject", [&] { return transport_->Call(push, &pushed); });
        }
        if (s.ok() && !pushed.stored()) {
          s = absl::DataLossError(absl::StrCat("Failed to push object ", to_push[i],
                                               ": the SuperLink did not store it"));
        }
        if (s.ok()) return true;
        absl::MutexLock lock(&error_mu);
        if (first_error.ok()) first_error = std::move(s);
        return false;
      });
  if (!first_error.ok()) return first_error;
  core::LogInfo("Sent successfully");
  return absl::OkStatus();
}

absl::Status FleetClient::Disconnect() {
  StopHeartbeat();
  if (!connected_.load()) return absl::OkStatus();
  connected_.store(false);
  proto::DeactivateNodeRequest deactivate;
  deactivate.set_node_id(node_id_.load());
  proto::DeactivateNodeResponse deactivated;
  absl::Status status =
      retry_.Invoke("DeactivateNode", [&] { return transport_->Call(deactivate, &deactivated); });
  if (self_registered_) {
    proto::UnregisterNodeFleetRequest unregister;
    unregister.set_node_id(node_id_.load());
    proto::UnregisterNodeFleetResponse unregistered;
    absl::Status s = retry_.Invoke("UnregisterNode",
                                   [&] { return transport_->Call(unregister, &unregistered); });
    if (status.ok()) status = s;
  }
  return status;
}

}  // namespace flwr::supernode
