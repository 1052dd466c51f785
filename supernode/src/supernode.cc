#include "flwr/supernode/supernode.h"

#include "absl/strings/str_cat.h"
#include "flwr/core/fab.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/logging.h"
#include "flwr/core/malloc_tuning.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/user_config.h"

namespace flwr::supernode {

SuperNode::SuperNode(NodeState* state, FleetClient* fleet, SuperNodeOptions options)
    : state_(state), fleet_(fleet), options_(std::move(options)) {}

void SuperNode::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
}

bool SuperNode::Sleep(absl::Duration d) { return !stop_.WaitForNotificationWithTimeout(d); }

absl::Status SuperNode::Run() {
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<bool> handed_off = ReceiveOne();
    if (!handed_off.ok()) return handed_off.status();
    if (!*handed_off) {
      Sleep(options_.poll_interval);
      continue;
    }
    if (absl::Status s = ForwardReplies(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SuperNode::ReceiveOne() {
  // As stock: a run's first message fetches the run and its FAB (and verifies it) before the
  // message's objects are pulled.
  absl::Status prepared;
  bool fab_refused = false;
  absl::StatusOr<std::optional<PulledMessage>> pulled =
      fleet_->PullMessage(/*inflate=*/false, [&](const proto::Message& message) {
        prepared = PrepareRun(message.metadata().run_id(), &fab_refused);
        return prepared.ok() && !fab_refused;
      });
  if (!pulled.ok()) {
    const absl::Status& s = pulled.status();
    // The SuperLink rejects this node, or stays unreachable beyond --max-retries /
    // --max-wait-time: give up, as the stock Fleet loop ends.
    if (IsNodeRejected(s) || s.code() == absl::StatusCode::kUnavailable) return s;
    if (IsRunNotRunning(s)) {
      core::LogInfo("Run is not in `RUNNING` status. Ignoring the message.");
    } else {
      core::LogError(absl::StrCat("Failed to receive message: ", s.message()));
    }
    return false;
  }
  if (!pulled->has_value()) return false;
  PulledMessage& m = **pulled;
  const proto::Metadata& meta = m.wire_message.metadata();

  if (IsNodeRejected(prepared)) return prepared;
  if (IsRunNotRunning(prepared)) {
    core::LogInfo(absl::StrCat("Run ID ", m.run_id,
                               " is not in `RUNNING` status. Ignoring message ", meta.message_id(),
                               "."));
    return false;
  }
  if (fab_refused || !prepared.ok()) {
    // Nothing can run this message: answer it with the reason instead of leaving the
    // ServerApp waiting.
    if (fab_refused) {
      state_->StoreReply(
          ErrorReplyTo(meta, kInvalidFabCode, kFabVerificationErrorReason, absl::Now()));
    } else {
      core::LogError(absl::StrCat("Failed to prepare run ", m.run_id, ": ", prepared.message()));
      state_->StoreReply(ErrorReplyTo(
          meta, kLoadClientAppCode,
          absl::StrCat("The SuperNode cannot run this app: ", prepared.message()), absl::Now()));
    }
    state_->StoreInstruction(m.wire_message);
    return true;
  }

  // The instruction's objects, for the ClientApp to pull.
  core::ObjectStore& store = state_->object_store();
  if (absl::Status s = store.Preregister(m.run_id, m.object_tree).status(); !s.ok()) {
    core::LogError(
        absl::StrCat("Failed to receive message ", meta.message_id(), ": ", s.message()));
    return false;
  }
  for (auto& [id, content] : m.objects) {
    if (absl::Status s = store.Put(id, std::move(content)); !s.ok()) {
      core::LogError(
          absl::StrCat("Failed to receive message ", meta.message_id(), ": ", s.message()));
      store.Delete(meta.message_id());
      return false;
    }
  }
  state_->StoreInstruction(m.wire_message);
  std::optional<proto::Run> run = state_->GetRun(m.run_id);
  state_->CreateTask(m.run_id, run->fab_hash(), meta.message_id());
  core::ReleaseFreeHeapMemory();
  return true;
}

absl::Status SuperNode::PrepareRun(uint64_t run_id, bool* fab_refused) {
  if (state_->GetRun(run_id)) return absl::OkStatus();
  absl::StatusOr<proto::Run> run = fleet_->GetRun(run_id);
  if (!run.ok()) return run.status();
  absl::StatusOr<proto::Fab> fab = fleet_->GetFab(run->fab_hash(), run_id);
  if (!fab.ok()) return fab.status();
  if (!options_.trusted_entities.empty()) {
    // The stock SuperNode's log lines; the run is not stored, so its next message is checked
    // again.
    switch (VerifyFab(*fab, options_.trusted_entities)) {
      case FabVerification::kVerified:
        break;
      case FabVerification::kNoLicense:
        core::LogError(
            "The FAB could not be verified. App verification is not supported by the connected "
            "SuperLink.");
        *fab_refused = true;
        return absl::OkStatus();
      case FabVerification::kUnverified:
        core::LogError(
            "FAB verification failed: the provided trusted entities could not verify the FAB. "
            "An error reply has been generated.");
        *fab_refused = true;
        return absl::OkStatus();
    }
  }

  // The run's Context (flwr's get_fused_config_from_fab, then the series' state).
  absl::StatusOr<core::FabInfo> info = core::ParseFab(fab->content());
  if (!info.ok()) return info.status();
  absl::StatusOr<core::UserConfig> overrides = core::UserConfigFromProto(run->override_config());
  if (!overrides.ok()) return overrides.status();
  absl::StatusOr<core::UserConfig> run_config =
      core::FuseRunConfig(info->default_config, *overrides);
  if (!run_config.ok()) return run_config.status();
  core::Context context;
  context.run_id = run_id;
  context.node_id = fleet_->node_id();
  context.node_config = options_.node_config;
  context.run_config = *std::move(run_config);
  context.series_id = run->series_id();
  absl::StatusOr<proto::Context> wire = core::ContextToProto(context);
  if (!wire.ok()) return wire.status();
  if (std::optional<proto::Context> existing = state_->GetRunSeriesContext(run->series_id())) {
    *wire->mutable_state() = existing->state();
  }
  if (absl::Status s = state_->StoreFab(*fab); !s.ok()) return s;
  state_->SetRunSeriesContext(run->series_id(), *wire);
  state_->StoreRun(*run);
  return absl::OkStatus();
}

absl::Status SuperNode::ForwardReplies() {
  std::vector<proto::Message> replies;
  while ((replies = state_->TakeReplies()).empty()) {
    if (!Sleep(options_.reply_poll_interval)) return absl::OkStatus();
  }
  for (const proto::Message& reply : replies) {
    const proto::Metadata& meta = reply.metadata();
    absl::Status s = ForwardReply(reply);
    state_->DeleteMessage(meta.message_id());
    state_->DeleteMessage(meta.reply_to_message_id());
    state_->object_store().Delete(meta.message_id());
    state_->object_store().Delete(meta.reply_to_message_id());
    if (IsNodeRejected(s)) return s;
    if (IsRunNotRunning(s)) {
      core::LogInfo(absl::StrCat("Run ID ", meta.run_id(),
                                 " is not in `RUNNING` status. Ignoring reply message ",
                                 meta.message_id(), "."));
    } else if (!s.ok()) {
      core::LogError(absl::StrCat("Failed to send message ", meta.message_id(), ": ", s.message()));
    }
  }
  core::ReleaseFreeHeapMemory();
  return absl::OkStatus();
}

absl::Status SuperNode::ForwardReply(const proto::Message& reply) {
  const std::string& reply_id = reply.metadata().message_id();
  const double runtime =
      state_->ProcessingSeconds(reply.metadata().reply_to_message_id()).value_or(0.0);
  core::ObjectStore& store = state_->object_store();
  absl::StatusOr<proto::ObjectTree> tree = store.GetObjectTree(reply_id);
  if (!tree.ok()) {
    // A reply this node made itself (e.g. CLIENT_APP_CRASHED): not in the object store.
    absl::StatusOr<core::Message> message = core::MessageFromProto(reply);
    if (!message.ok()) return message.status();
    return fleet_->PushReply(*message, runtime).status();
  }
  // A ClientApp's reply: its objects go to the SuperLink straight from the store, each once it
  // is there (the ClientApp may still be pushing them), as stock.
  proto::Message header = reply;
  if (!header.has_error()) header.mutable_content()->Clear();
  const absl::Time deadline = absl::Now() + options_.reply_objects_timeout;
  return fleet_->PushMessageObjects(
      header, *tree, runtime, [&](const std::string& id, std::string* out) -> absl::Status {
        while (true) {
          // Moved out of the store, not copied: the reply is deleted once forwarded.
          std::optional<std::string> content = store.TakeForForwarding(id);
          if (!content) return absl::DataLossError(absl::StrCat("Object ", id, " is gone"));
          if (!content->empty()) {
            if (out->empty()) {
              *out = *std::move(content);
            } else {
              out->append(*content);
            }
            return absl::OkStatus();
          }
          if (absl::Now() > deadline) {
            return absl::DeadlineExceededError(
                absl::StrCat("The ClientApp did not push object ", id, " of its reply in time"));
          }
          if (!Sleep(options_.reply_poll_interval)) return absl::CancelledError("stopping");
        }
      });
}

}  // namespace flwr::supernode
