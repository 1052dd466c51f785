// One suite for the LinkState implementations, with a fake clock to move time.
#include "flwr/superlink/link_state.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../temp_path.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/flower_error.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"
#include "google/protobuf/util/message_differencer.h"

namespace flwr::superlink {
namespace {

class LinkStateTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    now_ = absl::FromUnixSeconds(1767225600);  // 2026-01-01
    std::string database(core::kInMemoryDatabase);
    if (GetParam() == "sqlite") {
      path_ = flwr::testing::TempPath("state.db");
      Remove();
      database = path_.string();
    }
    auto state = LinkState::Open(database, [this] { return now_; });
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
  }
  void TearDown() override {
    state_.reset();
    Remove();
  }
  // Closes the state and opens the same database again (the SQLite file survives).
  void Reopen() {
    state_.reset();
    auto state = LinkState::Open(path_.string(), [this] { return now_; });
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = *std::move(state);
  }
  void Remove() {
    if (path_.empty()) return;
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(path_.string() + suffix);
  }

  uint64_t OnlineNode(const std::string& key) {
    uint64_t id = *state_->CreateNode(key, 0);
    EXPECT_TRUE(state_->ActivateNode(key, 30).ok());
    return id;
  }
  CreatedRun NewRunningRun() {
    NewRun spec;
    spec.fab_id = "flwrcpp/app";
    spec.fab_version = "1.0.0";
    spec.fab_hash = std::string(64, 'a');
    CreatedRun run = *state_->CreateRun(spec);
    std::string token = *state_->tasks().ClaimTask(run.task_id);
    EXPECT_TRUE(state_->tasks().ActivateTask(run.task_id));
    return run;
  }
  // An instruction from the SuperLink to `node`, with its ID set as a ServerApp would.
  core::Message InstructionMessage(uint64_t run_id, uint64_t node, double ttl = 3600,
                                   core::RecordDict content = {}) {
    core::Message m;
    m.metadata.run_id = run_id;
    m.metadata.src_node_id = kSuperLinkNodeId;
    m.metadata.dst_node_id = node;
    m.metadata.message_type = "train";
    m.metadata.ttl = ttl;
    m.metadata.created_at = core::ToEpochSeconds(now_);
    m.content = std::move(content);
    m.metadata.message_id = *core::ComputeMessageId(m);
    return m;
  }
  proto::Message Instruction(uint64_t run_id, uint64_t node, double ttl = 3600) {
    return *core::MessageToProto(InstructionMessage(run_id, node, ttl));
  }
  proto::Message Reply(const proto::Message& instruction) {
    core::Message m;
    m.metadata.run_id = instruction.metadata().run_id();
    m.metadata.src_node_id = instruction.metadata().dst_node_id();
    m.metadata.dst_node_id = kSuperLinkNodeId;
    m.metadata.reply_to_message_id = instruction.metadata().message_id();
    m.metadata.message_type = "train";
    m.metadata.ttl = 60;
    m.metadata.created_at = core::ToEpochSeconds(now_);
    m.content = core::RecordDict();
    m.metadata.message_id = *core::ComputeMessageId(m);
    return *core::MessageToProto(m);
  }

  absl::Time now_;
  std::filesystem::path path_;
  std::unique_ptr<LinkState> state_;
};

TEST_P(LinkStateTest, node_lifecycle_registered_online_offline_unregistered) {
  uint64_t id = *state_->CreateNode("key1", 0);
  EXPECT_GT(id, kSuperLinkNodeId);
  EXPECT_EQ(state_->GetNodeIdByPublicKey("key1"), id);
  EXPECT_TRUE(state_->GetOnlineNodeIds().empty());
  ASSERT_TRUE(state_->ActivateNode("key1", 30).ok());
  EXPECT_EQ(state_->GetOnlineNodeIds(), std::vector<uint64_t>{id});
  now_ += absl::Seconds(61);  // two missed heartbeats
  EXPECT_TRUE(state_->GetOnlineNodeIds().empty());
  EXPECT_EQ(state_->ListNodes()[0].status(), "offline");
  ASSERT_TRUE(*state_->AcknowledgeNodeHeartbeat(id, 30));
  EXPECT_EQ(state_->GetOnlineNodeIds(), std::vector<uint64_t>{id});
  ASSERT_TRUE(state_->DeactivateNode(id).ok());
  EXPECT_FALSE(state_->DeactivateNode(id).ok());
  ASSERT_TRUE(state_->UnregisterNode(id).ok());
  EXPECT_EQ(state_->GetNodeIdByPublicKey("key1"), std::nullopt);
  EXPECT_FALSE(state_->UnregisterNode(id).ok());
  EXPECT_EQ(core::FlowerErrorCode(state_->CreateNode("key1", 0).status()),
            core::api_error::kPublicKeyAlreadyInUse);
}

TEST_P(LinkStateTest, heartbeat_interval_must_be_within_bounds) {
  state_->CreateNode("k", 0).IgnoreError();
  EXPECT_EQ(core::FlowerErrorCode(state_->ActivateNode("k", 5).status()),
            core::api_error::kFleetInvalidHeartbeatInterval);
  EXPECT_EQ(core::FlowerErrorCode(state_->ActivateNode("k", std::nan("")).status()),
            core::api_error::kFleetInvalidHeartbeatInterval);
  EXPECT_EQ(core::FlowerErrorCode(state_->ActivateNode("unknown", 30).status()),
            core::api_error::kFleetNodeActivationFailed);
}

TEST_P(LinkStateTest, node_details_are_kept_and_listed) {
  NodeDetails details;
  details.name = "hospital-a";
  details.location = "37.4056,-122.0775";
  uint64_t named = *state_->CreateNode("named", 30, details);
  uint64_t plain = *state_->CreateNode("plain", 0);
  for (const proto::NodeInfo& info : state_->ListNodes()) {
    if (info.node_id() == named) {
      EXPECT_EQ(info.name(), "hospital-a");
      EXPECT_EQ(info.location(), "37.4056,-122.0775");
      EXPECT_EQ(info.heartbeat_interval(), 30);
      EXPECT_EQ(info.status(), kNodeRegistered);
    } else {
      EXPECT_EQ(info.node_id(), plain);
      EXPECT_FALSE(info.has_name());
      EXPECT_FALSE(info.has_location());
    }
  }
  EXPECT_EQ(core::FlowerErrorCode(state_->CreateNode("named", 30, details).status()),
            core::api_error::kPublicKeyAlreadyInUse);
}

TEST_P(LinkStateTest, run_status_follows_its_task_pending_starting_running_finished) {
  NewRun spec;
  spec.fab_hash = std::string(64, 'b');
  CreatedRun run = *state_->CreateRun(spec);
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "pending");
  ASSERT_EQ(state_->tasks().GetPendingTasks().size(), 1u);
  std::optional<std::string> token = state_->tasks().ClaimTask(run.task_id);
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(token->size(), 256u);
  EXPECT_FALSE(state_->tasks().ClaimTask(run.task_id).has_value());
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "starting");
  EXPECT_EQ(state_->tasks().GetTaskByToken(*token)->task_id(), run.task_id);
  ASSERT_TRUE(state_->tasks().ActivateTask(run.task_id));
  EXPECT_FALSE(state_->tasks().ActivateTask(run.task_id));
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "running");
  ASSERT_TRUE(state_->tasks().FinishTask(run.task_id, "completed", ""));
  proto::Run finished = *state_->GetRun(run.run_id);
  EXPECT_EQ(finished.status().status(), "finished");
  EXPECT_EQ(finished.status().sub_status(), "completed");
  EXPECT_FALSE(finished.finished_at().empty());
  EXPECT_FALSE(state_->tasks().GetTaskByToken(*token).has_value());  // revoked
  EXPECT_FALSE(state_->StopRun(run.run_id));
}

TEST_P(LinkStateTest, unactivated_claim_returns_to_pending_and_silent_task_fails) {
  NewRun spec;
  CreatedRun run = *state_->CreateRun(spec);
  ASSERT_TRUE(state_->tasks().ClaimTask(run.task_id).has_value());
  now_ += absl::Seconds(31);
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "pending");
  ASSERT_TRUE(state_->tasks().ClaimTask(run.task_id).has_value());
  ASSERT_TRUE(state_->tasks().ActivateTask(run.task_id));
  now_ += absl::Seconds(50);
  EXPECT_TRUE(state_->tasks().AcknowledgeTaskHeartbeat(run.task_id));
  now_ += absl::Seconds(50);
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "running");
  now_ += absl::Seconds(20);
  proto::Run failed = *state_->GetRun(run.run_id);
  EXPECT_EQ(failed.status().sub_status(), "failed");
  EXPECT_EQ(failed.status().details(), "No heartbeat received from the task");
}

TEST_P(LinkStateTest, stop_run_finishes_it_as_stopped) {
  CreatedRun run = NewRunningRun();
  EXPECT_TRUE(state_->StopRun(run.run_id));
  EXPECT_EQ(state_->GetRun(run.run_id)->status().sub_status(), "stopped");
  EXPECT_FALSE(state_->StopRun(run.run_id));
  EXPECT_FALSE(state_->StopRun(424242));
}

TEST_P(LinkStateTest, instruction_is_delivered_once_to_its_node_only) {
  uint64_t a = OnlineNode("a");
  uint64_t b = OnlineNode("b");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, a);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  EXPECT_TRUE(state_->GetMessageIns(b, 1).empty());
  ASSERT_EQ(state_->GetMessageIns(a, 1).size(), 1u);
  EXPECT_TRUE(state_->GetMessageIns(a, 1).empty());
}

TEST_P(LinkStateTest, instruction_to_unknown_node_or_finished_run_is_rejected) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  EXPECT_FALSE(state_->StoreMessageIns(Instruction(run.run_id, 999)).ok());
  EXPECT_FALSE(state_->StoreMessageIns(Instruction(777, a)).ok());
  ASSERT_TRUE(state_->StopRun(run.run_id));
  EXPECT_FALSE(state_->StoreMessageIns(Instruction(run.run_id, a)).ok());
}

// Flower 1.42: an instruction may go to the SuperLink itself (node 1, never a registered node);
// it is handed to its run's task only, once.
TEST_P(LinkStateTest, instructions_to_the_superlink_are_handed_out_per_run_once) {
  CreatedRun run = NewRunningRun();
  CreatedRun other = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, kSuperLinkNodeId);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  ASSERT_TRUE(state_->StoreMessageIns(Instruction(other.run_id, kSuperLinkNodeId, 600)).ok());
  EXPECT_TRUE(state_->GetMessageIns(kSuperLinkNodeId + 1, 10).empty());
  std::vector<proto::Message> got = state_->GetSuperLinkMessageIns(run.run_id);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].metadata().message_id(), ins.metadata().message_id());
  EXPECT_TRUE(state_->GetSuperLinkMessageIns(run.run_id).empty());
  EXPECT_EQ(state_->GetSuperLinkMessageIns(other.run_id).size(), 1u);
}

TEST_P(LinkStateTest, reply_round_trip_and_error_replies) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, a);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  const std::string id = ins.metadata().message_id();
  EXPECT_TRUE(state_->GetMessageRes({id}).empty());  // still waiting
  proto::Message res = Reply(ins);
  ASSERT_TRUE(state_->StoreMessageRes(res).ok());
  proto::Message wrong_node = res;
  wrong_node.mutable_metadata()->set_src_node_id(a + 1);
  EXPECT_FALSE(state_->StoreMessageRes(wrong_node).ok());
  std::vector<proto::Message> got = state_->GetMessageRes({id});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].metadata().message_id(), res.metadata().message_id());
  EXPECT_TRUE(state_->GetMessageRes({id}).empty());  // delivered once
  // Unknown instruction: MESSAGE_UNAVAILABLE (code 3) with its own object ID as message ID.
  std::vector<proto::Message> unknown = state_->GetMessageRes({std::string(64, 'f')});
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].error().code(), 3);
  EXPECT_EQ(unknown[0].metadata().message_id().size(), 64u);
}

TEST_P(LinkStateTest, node_that_stops_heartbeating_yields_node_unavailable) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, a);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  now_ += absl::Seconds(61);
  std::vector<proto::Message> got = state_->GetMessageRes({ins.metadata().message_id()});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].error().code(), 5);
  EXPECT_EQ(got[0].metadata().reply_to_message_id(), ins.metadata().message_id());
}

TEST_P(LinkStateTest, expired_instruction_is_not_delivered) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  ASSERT_TRUE(state_->StoreMessageIns(Instruction(run.run_id, a, 10)).ok());
  now_ += absl::Seconds(11);
  EXPECT_TRUE(state_->GetMessageIns(a, 1).empty());
}

TEST_P(LinkStateTest, push_session_accepts_only_pending_objects_of_its_run) {
  CreatedRun run = NewRunningRun();
  core::Message m;
  m.content = core::RecordDict();
  m.content->Set("c", core::ConfigRecord{{"x", int64_t{1}}});
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  std::string session = state_->StartPushSession(run.run_id);
  auto missing = state_->PreregisterObjectTree(session, run.run_id, bundle.tree);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->size(), bundle.objects.size());
  const auto& first = bundle.objects.front();
  EXPECT_FALSE(state_->StoreObject(run.run_id + 1, session, first.object_id, first.content()));
  EXPECT_FALSE(
      state_->StoreObject(run.run_id, "no-such-session", first.object_id, first.content()));
  std::string tampered = first.content();
  tampered.back() ^= 1;
  EXPECT_FALSE(state_->StoreObject(run.run_id, session, first.object_id, tampered));
  for (const auto& obj : bundle.objects) {
    EXPECT_TRUE(state_->StoreObject(run.run_id, session, obj.object_id, obj.content()));
  }
  EXPECT_EQ(state_->object_store().Get(bundle.root_id()), bundle.objects.back().content());
  // A push repeated after the session completed (a client retrying after a timeout) is
  // "stored" for the same bytes, and still refused for other bytes.
  EXPECT_TRUE(state_->StoreObject(run.run_id, session, first.object_id, first.content()));
  EXPECT_FALSE(state_->StoreObject(run.run_id, session, first.object_id, tampered));
}

// flwr stores a message and preregisters its object tree under one lock: a reader holding
// message_tree_mutex() (the Fleet and Runtime PullMessages) must never get a message whose tree
// is not there yet, or it takes the message for broken and deletes it (the ServerApp then gets
// "Message Unavailable"). Trees of a few hundred objects make the gap a reader would see if the
// two steps were separate wide: the reader polls as fast as it can while they are stored.
TEST_P(LinkStateTest, a_reader_never_gets_a_message_before_its_object_tree) {
  uint64_t node = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  constexpr int kMessages = 20;
  std::vector<std::pair<proto::Message, proto::ObjectTree>> pushes;
  for (int i = 0; i < kMessages; ++i) {
    core::ArrayRecord arrays;
    for (int j = 0; j < 300; ++j) {
      const float value = static_cast<float>(i * 1000 + j);
      std::string raw(reinterpret_cast<const char*>(&value), sizeof(value));
      arrays.Set(absl::StrCat("a", j), *core::Array::FromRaw("float32", {1}, raw));
    }
    core::RecordDict content;
    content.Set("arrays", std::move(arrays));
    const core::Message m = InstructionMessage(run.run_id, node, 3600, std::move(content));
    pushes.emplace_back(*core::MessageToProto(m), core::DeflateMessage(m)->tree);
  }
  std::thread writer([&] {
    for (const auto& [message, tree] : pushes) {
      const std::string session = state_->StartPushSession(run.run_id);
      EXPECT_TRUE(state_->StoreMessageWithObjectTree(session, message, tree).ok());
    }
  });
  int with_tree = 0, without_tree = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (with_tree + without_tree < kMessages && absl::Now() < deadline) {
    absl::ReaderMutexLock lock(&state_->message_tree_mutex());
    for (const proto::Message& message : state_->GetMessageIns(node, 1)) {
      if (state_->object_store().GetObjectTree(message.metadata().message_id()).ok()) {
        ++with_tree;
      } else {
        ++without_tree;
      }
    }
  }
  writer.join();
  EXPECT_EQ(with_tree, kMessages);
  EXPECT_EQ(without_tree, 0);
}

TEST_P(LinkStateTest, a_message_that_is_refused_preregisters_nothing) {
  uint64_t node = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, node);
  const core::Message ins_message = *core::MessageFromProto(ins);
  core::ObjectBundle bundle = *core::DeflateMessage(ins_message);
  const std::string session = state_->StartPushSession(run.run_id);
  // A reply to an instruction that was never stored is refused: its tree is not preregistered.
  proto::Message orphan = Reply(ins);
  const core::Message orphan_message = *core::MessageFromProto(orphan);
  core::ObjectBundle orphan_bundle = *core::DeflateMessage(orphan_message);
  EXPECT_FALSE(state_->StoreMessageWithObjectTree(session, orphan, orphan_bundle.tree).ok());
  EXPECT_FALSE(state_->object_store().Contains(orphan_bundle.root_id()));
  // The instruction is stored with its tree; its objects are to be pushed.
  auto missing = state_->StoreMessageWithObjectTree(session, ins, bundle.tree);
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->size(), bundle.objects.size());
  EXPECT_TRUE(state_->object_store().GetObjectTree(bundle.root_id()).ok());
}

TEST_P(LinkStateTest, pending_tasks_are_oldest_first_and_runs_newest_first) {
  NewRun alice;
  alice.flwr_aid = "alice";
  CreatedRun r1 = *state_->CreateRun(alice);
  now_ += absl::Seconds(1);
  CreatedRun r2 = *state_->CreateRun(alice);
  now_ += absl::Milliseconds(1);
  CreatedRun r3 = *state_->CreateRun(alice);
  CreatedRun r4 = *state_->CreateRun(NewRun{});  // same instant: creation order
  std::vector<uint64_t> pending;
  for (const proto::Task& t : state_->tasks().GetPendingTasks()) pending.push_back(t.task_id());
  EXPECT_EQ(pending, (std::vector<uint64_t>{r1.task_id, r2.task_id, r3.task_id, r4.task_id}));
  std::vector<uint64_t> runs;
  for (const proto::Run& r : state_->ListRuns("alice")) runs.push_back(r.run_id());
  EXPECT_EQ(runs, (std::vector<uint64_t>{r3.run_id, r2.run_id, r1.run_id}));
  EXPECT_TRUE(state_->ListRuns("nobody").empty());
  ASSERT_TRUE(state_->tasks().ClaimTask(r1.task_id).has_value());
  ASSERT_EQ(state_->tasks().GetPendingTasks().size(), 3u);
  EXPECT_EQ(state_->tasks().GetPendingTasks()[0].task_id(), r2.task_id);
  proto::Task task = state_->tasks().GetPendingTasks()[0];
  EXPECT_EQ(task.type(), "flwr-serverapp");
  EXPECT_EQ(task.run_id(), r2.run_id);
  EXPECT_EQ(task.pending_at(), core::FormatIsoUtc(now_ - absl::Milliseconds(1)));
  EXPECT_TRUE(task.has_fab_hash());
  EXPECT_FALSE(task.has_model_ref());
}

TEST_P(LinkStateTest, run_keeps_its_spec_counters_context_and_fab) {
  NewRun spec;
  spec.fab_id = "flwrcpp/app";
  spec.fab_version = "1.2.3";
  spec.fab_hash = std::string(64, 'c');
  spec.override_config = core::UserConfig{{"lr", 0.5}, {"name", std::string("x")}};
  spec.flwr_aid = "aid";
  CreatedRun created = *state_->CreateRun(spec);
  state_->StoreTraffic(created.run_id, 10, 20);
  state_->StoreTraffic(created.run_id, 1, 2);
  state_->AddClientAppRuntime(created.run_id, 1.25);
  state_->AddClientAppRuntime(created.run_id, 0.5);
  state_->StoreTraffic(4242, 1, 1);  // unknown runs are ignored
  proto::Run run = *state_->GetRun(created.run_id);
  EXPECT_EQ(run.fab_id(), "flwrcpp/app");
  EXPECT_EQ(run.fab_version(), "1.2.3");
  EXPECT_EQ(run.fab_hash(), spec.fab_hash);
  EXPECT_EQ(run.override_config().size(), 2u);
  EXPECT_EQ(run.override_config().at("lr").double_(), 0.5);
  EXPECT_EQ(run.flwr_aid(), "aid");
  EXPECT_EQ(run.federation(), "@none/default");
  EXPECT_EQ(run.account_name(), "");  // as flwr's Run: only ListRuns names the account
  EXPECT_EQ(run.series_id(), created.series_id);
  EXPECT_EQ(run.primary_task_id(), created.task_id);
  EXPECT_EQ(run.primary_task_type(), "flwr-serverapp");
  EXPECT_EQ(run.bytes_sent(), 11u);
  EXPECT_EQ(run.bytes_recv(), 22u);
  EXPECT_EQ(run.clientapp_runtime(), 1.75);
  EXPECT_EQ(run.pending_at(), core::FormatIsoUtc(now_));
  EXPECT_FALSE(state_->GetRun(4242).has_value());

  proto::Context context = *state_->GetRunContext(created.run_id);
  EXPECT_EQ(context.run_id(), created.run_id);
  EXPECT_EQ(context.node_id(), kSuperLinkNodeId);
  EXPECT_EQ(context.series_id(), created.series_id);
  (*context.mutable_run_config())["rounds"].set_sint64(3);
  state_->SetRunContext(created.run_id, context);
  EXPECT_EQ(state_->GetRunContext(created.run_id)->run_config().at("rounds").sint64(), 3);
  EXPECT_FALSE(state_->GetRunContext(4242).has_value());

  proto::Fab fab;
  fab.set_hash_str(spec.fab_hash);
  fab.set_content(std::string("PK\0\x01", 4));
  state_->StoreFab(fab);
  fab.set_content("newer");
  (*fab.mutable_verifications())["valid_license"] = "";
  state_->StoreFab(fab);  // last write wins
  std::optional<proto::Fab> got = state_->GetFab(spec.fab_hash);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->content(), "newer");
  EXPECT_EQ(got->verifications().size(), 1u);
  EXPECT_FALSE(state_->GetFab(std::string(64, 'd')).has_value());
}

TEST_P(LinkStateTest, a_simulation_run_has_a_simulation_task_and_its_federation_config) {
  NewRun spec;
  spec.fab_hash = std::string(64, 'c');
  spec.primary_task_type = std::string(kSimulationTaskType);
  spec.federation_config.emplace();
  spec.federation_config->set_num_supernodes(3);
  spec.federation_config->set_backend("ray");
  CreatedRun sim = *state_->CreateRun(spec);
  CreatedRun plain = *state_->CreateRun(NewRun{});
  EXPECT_EQ(state_->GetRun(sim.run_id)->primary_task_type(), "flwr-simulation");
  EXPECT_EQ(state_->tasks().GetTask(sim.task_id)->type(), "flwr-simulation");
  std::optional<proto::SimulationConfig> config = state_->GetFederationConfig(sim.run_id);
  ASSERT_TRUE(config.has_value());
  EXPECT_EQ(config->num_supernodes(), 3u);
  EXPECT_EQ(config->backend(), "ray");
  EXPECT_FALSE(config->has_verbose());
  EXPECT_FALSE(state_->GetFederationConfig(plain.run_id).has_value());
  EXPECT_FALSE(state_->GetFederationConfig(4242).has_value());
  if (GetParam() != "sqlite") return;
  Reopen();
  EXPECT_EQ(state_->GetFederationConfig(sim.run_id)->num_supernodes(), 3u);
  EXPECT_EQ(state_->GetRun(sim.run_id)->primary_task_type(), "flwr-simulation");
}

TEST_P(LinkStateTest, a_run_joining_a_series_starts_from_the_state_its_latest_run_left) {
  CreatedRun first = *state_->CreateRun(NewRun{});
  proto::Context left = *state_->GetRunContext(first.run_id);
  proto::RecordDict::Item* item = left.mutable_state()->add_items();
  item->set_key("memory");
  item->mutable_config_record();
  (*left.mutable_run_config())["rounds"].set_sint64(3);
  state_->SetRunContext(first.run_id, left);  // the ServerApp's context when it ended
  CreatedRun alone = *state_->CreateRun(NewRun{});
  NewRun join;
  join.series_id = first.series_id;
  CreatedRun joined = *state_->CreateRun(join);

  proto::Context context = *state_->GetRunContext(joined.run_id);
  EXPECT_EQ(context.run_id(), joined.run_id);
  EXPECT_EQ(context.series_id(), first.series_id);
  EXPECT_EQ(context.state().SerializeAsString(), left.state().SerializeAsString());
  EXPECT_TRUE(context.run_config().empty());  // as flwr: only the state carries over
  EXPECT_EQ(state_->GetRunContext(alone.run_id)->state().items_size(), 0);
}

TEST_P(LinkStateTest, a_run_series_grows_with_the_runs_that_join_it) {
  CreatedRun first = *state_->CreateRun(NewRun{});
  now_ += absl::Seconds(1);
  CreatedRun other = *state_->CreateRun(NewRun{});
  now_ += absl::Seconds(1);
  NewRun join;
  join.series_id = first.series_id;
  CreatedRun joined = *state_->CreateRun(join);
  EXPECT_EQ(joined.series_id, first.series_id);
  join.federation = "@alice/other";
  EXPECT_TRUE(absl::IsFailedPrecondition(state_->CreateRun(join).status()));
  join.series_id = 1;
  EXPECT_TRUE(absl::IsFailedPrecondition(state_->CreateRun(join).status()));

  std::vector<proto::RunSeries> series = state_->ListRunSeries();
  ASSERT_EQ(series.size(), 2u);  // most recently updated first
  EXPECT_EQ(series[0].series_id(), first.series_id);
  EXPECT_EQ(series[0].federation(), kDefaultFederation);
  EXPECT_EQ(series[0].created_at(), "2026-01-01T00:00:00+00:00");
  EXPECT_EQ(series[0].updated_at(), "2026-01-01T00:00:02+00:00");
  EXPECT_EQ(std::vector<uint64_t>(series[0].run_ids().begin(), series[0].run_ids().end()),
            (std::vector<uint64_t>{first.run_id, joined.run_id}));
  EXPECT_EQ(series[1].series_id(), other.series_id);
  EXPECT_EQ(state_->GetRun(joined.run_id)->series_id(), first.series_id);

  EXPECT_TRUE(state_->SetRunSeriesDescription(other.series_id, "described"));
  EXPECT_FALSE(state_->SetRunSeriesDescription(1, "unknown"));
  EXPECT_EQ(state_->ListRunSeries()[1].description(), "described");
}

TEST_P(LinkStateTest, apps_keep_when_they_were_first_added) {
  proto::AppInfo app;
  app.set_app_id("@a/one");
  app.set_fab_hash("h1");
  state_->StoreApp(kDefaultFederation, app, kNoAccountId);
  now_ += absl::Seconds(1);
  app.set_app_id("@a/two");
  state_->StoreApp(kDefaultFederation, app, kNoAccountId);
  now_ += absl::Seconds(1);
  app.set_app_id("@a/one");
  app.set_fab_hash("h2");
  state_->StoreApp(kDefaultFederation, app, kNoAccountId);
  state_->StoreApp("@alice/other", app, kNoAccountId);

  std::vector<proto::AppInfo> apps = state_->ListApps(kDefaultFederation, std::nullopt);
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].app_id(), "@a/two");
  EXPECT_EQ(apps[1].app_id(), "@a/one");
  EXPECT_EQ(apps[1].fab_hash(), "h2");
  EXPECT_EQ(state_->ListApps(kDefaultFederation, 1).size(), 1u);
  EXPECT_TRUE(state_->DeleteApp(kDefaultFederation, "@a/two"));
  EXPECT_FALSE(state_->DeleteApp(kDefaultFederation, "@a/two"));
  EXPECT_EQ(state_->ListApps(kDefaultFederation, std::nullopt).size(), 1u);
  EXPECT_EQ(state_->ListApps("@alice/other", std::nullopt).size(), 1u);
}

TEST_P(LinkStateTest, an_automation_occurrence_is_claimed_once) {
  proto::Automation spec;
  spec.set_federation(std::string(kDefaultFederation));
  spec.set_series_id(9);
  spec.set_flwr_aid(std::string(kNoAccountId));
  spec.set_next_run_at("2026-01-01T00:00:00+00:00");
  spec.set_remaining_runs(2);
  spec.set_fixed_interval(60);
  proto::StartRunRequest request;
  request.set_series_id(9);
  const proto::Automation stored = state_->StoreAutomation(spec, request);
  EXPECT_EQ(stored.automation_id(), 1u);
  EXPECT_EQ(stored.status(), kAutomationActive);
  EXPECT_EQ(stored.created_at(), "2026-01-01T00:00:00+00:00");

  // The last occurrence only may keep its due time; a stale due time claims nothing.
  EXPECT_FALSE(state_->ClaimAutomation(1, stored.next_run_at(), std::nullopt));
  auto claimed = state_->ClaimAutomation(1, stored.next_run_at(), "2026-01-01T00:01:00+00:00");
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->first.series_id(), 9u);
  EXPECT_EQ(claimed->second, kNoAccountId);
  EXPECT_FALSE(state_->ClaimAutomation(1, stored.next_run_at(), "2026-01-01T00:01:00+00:00"));
  EXPECT_FALSE(state_->FinishAutomation(1, kAutomationCompleted));  // a run is left

  AutomationFilter due;
  due.due_before = now_ + absl::Seconds(59);
  EXPECT_TRUE(state_->ListAutomations(due).empty());
  due.due_before = now_ + absl::Seconds(60);
  ASSERT_EQ(state_->ListAutomations(due).size(), 1u);
  EXPECT_TRUE(state_->ClaimAutomation(1, "2026-01-01T00:01:00+00:00", std::nullopt));
  EXPECT_TRUE(state_->ListAutomations(due).empty());  // no runs left
  EXPECT_TRUE(state_->FinishAutomation(1, kAutomationCompleted));
  EXPECT_FALSE(state_->StopAutomation(1));
  EXPECT_FALSE(state_->StopAutomation(2));

  const uint64_t second = state_->StoreAutomation(spec, request).automation_id();
  EXPECT_EQ(second, 2u);
  now_ += absl::Seconds(5);
  EXPECT_TRUE(state_->StopAutomation(second));
  AutomationFilter stopped;
  stopped.statuses = {std::string(kAutomationStopped)};
  std::vector<proto::Automation> listed = state_->ListAutomations(stopped);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].stopped_at(), "2026-01-01T00:00:05+00:00");
  EXPECT_EQ(state_->ListAutomations({}).front().automation_id(), second);  // latest update
}

TEST_P(LinkStateTest, nodes_are_listed_by_ascending_id) {
  for (int i = 0; i < 12; ++i) OnlineNode("key" + std::to_string(i));
  std::vector<uint64_t> listed;
  for (const proto::NodeInfo& n : state_->ListNodes()) listed.push_back(n.node_id());
  EXPECT_EQ(listed.size(), 12u);
  EXPECT_TRUE(std::is_sorted(listed.begin(), listed.end()));
  EXPECT_EQ(state_->GetOnlineNodeIds(), listed);
  proto::NodeInfo info = state_->ListNodes()[0];
  EXPECT_EQ(info.status(), "online");
  EXPECT_EQ(info.heartbeat_interval(), 30);
  EXPECT_EQ(info.online_until(), core::ToEpochSeconds(now_) + 60);
  EXPECT_EQ(info.last_activated_at(), core::FormatIsoUtc(now_));
  EXPECT_FALSE(info.has_last_deactivated_at());
  EXPECT_FALSE(info.has_unregistered_at());
  EXPECT_EQ(info.owner_aid(), "<id:none>");
}

TEST_P(LinkStateTest, stale_node_goes_offline_at_its_deadline) {
  uint64_t a = OnlineNode("a");
  now_ += absl::Seconds(100);
  std::vector<proto::NodeInfo> nodes = state_->ListNodes();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].status(), "offline");
  EXPECT_EQ(nodes[0].last_deactivated_at(), core::FormatIsoUtc(now_ - absl::Seconds(40)));
  EXPECT_EQ(core::FlowerErrorCode(state_->DeactivateNode(a)),
            core::api_error::kFleetNodeDeactivationFailed);
  ASSERT_TRUE(state_->ActivateNode("a", 10).ok());
  EXPECT_EQ(core::FlowerErrorCode(state_->ActivateNode("a", 10).status()),
            core::api_error::kFleetNodeActivationFailed);
  ASSERT_TRUE(state_->UnregisterNode(a).ok());
  EXPECT_FALSE(*state_->AcknowledgeNodeHeartbeat(a, 30));
  proto::NodeInfo gone = state_->ListNodes()[0];
  EXPECT_EQ(gone.status(), "unregistered");
  EXPECT_EQ(gone.online_until(), core::ToEpochSeconds(now_));
  EXPECT_EQ(gone.public_key(), "a");
}

TEST_P(LinkStateTest, instructions_are_handed_out_oldest_first_up_to_the_limit) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    proto::Message ins = Instruction(run.run_id, a, 3600 - i);
    ids.push_back(ins.metadata().message_id());
    ASSERT_EQ(*state_->StoreMessageIns(ins), ids.back());
    ASSERT_EQ(*state_->StoreMessageIns(ins), ids.back());  // idempotent
  }
  EXPECT_TRUE(state_->GetMessageIns(a, 0).empty());
  std::vector<proto::Message> first = state_->GetMessageIns(a, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].metadata().message_id(), ids[0]);
  EXPECT_EQ(first[1].metadata().message_id(), ids[1]);
  EXPECT_EQ(first[0].metadata().ttl(), 3600);
  std::vector<proto::Message> rest = state_->GetMessageIns(a, 10);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].metadata().message_id(), ids[2]);
  // Deleted instructions are unknown afterwards.
  state_->DeleteMessages({ids[0]});
  std::vector<proto::Message> res = state_->GetMessageRes({ids[0], ids[1]});
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].error().code(), 3);
}

TEST_P(LinkStateTest, an_instruction_gets_one_reply) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, a);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  proto::Message res = Reply(ins);
  ASSERT_EQ(*state_->StoreMessageRes(res), res.metadata().message_id());
  ASSERT_EQ(*state_->StoreMessageRes(res), res.metadata().message_id());  // idempotent
  now_ += absl::Seconds(1);
  proto::Message other = Reply(ins);
  ASSERT_NE(other.metadata().message_id(), res.metadata().message_id());
  EXPECT_TRUE(absl::IsAlreadyExists(state_->StoreMessageRes(other).status()));
  proto::Message orphan = Reply(Instruction(run.run_id, a, 10));
  EXPECT_TRUE(absl::IsFailedPrecondition(state_->StoreMessageRes(orphan).status()));
}

TEST_P(LinkStateTest, expired_reply_yields_reply_unavailable) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  proto::Message ins = Instruction(run.run_id, a);
  ASSERT_TRUE(state_->StoreMessageIns(ins).ok());
  ASSERT_TRUE(state_->StoreMessageRes(Reply(ins)).ok());  // TTL 60 s
  now_ += absl::Seconds(50);
  ASSERT_TRUE(*state_->AcknowledgeNodeHeartbeat(a, 30));
  EXPECT_TRUE(state_->tasks().AcknowledgeTaskHeartbeat(run.task_id));
  now_ += absl::Seconds(20);
  std::vector<proto::Message> got = state_->GetMessageRes({ins.metadata().message_id()});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].error().code(), 4);
  EXPECT_TRUE(state_->GetMessageRes({ins.metadata().message_id()}).empty());
}

TEST_P(LinkStateTest, expired_push_session_drops_its_message_and_objects) {
  uint64_t a = OnlineNode("a");
  CreatedRun run = NewRunningRun();
  core::RecordDict content;
  content.Set("c", core::ConfigRecord{{"x", int64_t{1}}});
  const core::Message m = InstructionMessage(run.run_id, a, 3600, std::move(content));
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  std::string session = state_->StartPushSession(run.run_id);
  ASSERT_TRUE(state_->PreregisterObjectTree(session, run.run_id, bundle.tree).ok());
  EXPECT_TRUE(absl::IsNotFound(
      state_->PreregisterObjectTree("no-such-session", run.run_id, bundle.tree).status()));
  ASSERT_TRUE(state_->StoreMessageIns(*core::MessageToProto(m)).ok());
  const auto& first = bundle.objects.front();
  ASSERT_TRUE(state_->StoreObject(run.run_id, "", first.object_id, first.content()));
  now_ += absl::Seconds(181);
  const auto& second = bundle.objects[1];
  EXPECT_FALSE(state_->StoreObject(run.run_id, session, second.object_id, second.content()));
  EXPECT_TRUE(state_->GetMessageIns(a, 10).empty());
  EXPECT_FALSE(state_->object_store().Contains(bundle.root_id()));
  EXPECT_FALSE(state_->StoreObject(run.run_id, session, second.object_id, second.content()));
}

// A node killed (kill -9) while it uploads its reply: the reply is stored, one of its objects
// arrived, the others never will.
class HalfUploadedReplyTest : public LinkStateTest {
 protected:
  void SetUp() override {
    LinkStateTest::SetUp();
    node_ = OnlineNode("a");  // heartbeat interval 30 s: offline after 60 s of silence
    run_ = NewRunningRun();
    ins_ = Instruction(run_.run_id, node_);
    ASSERT_TRUE(state_->StoreMessageIns(ins_).ok());
    ASSERT_EQ(state_->GetMessageIns(node_, 1).size(), 1u);
    core::Message reply = *core::MessageFromProto(Reply(ins_));
    reply.content->Set("c", core::ConfigRecord{{"x", int64_t{1}}});
    reply.metadata.message_id = *core::ComputeMessageId(reply);
    bundle_ = *core::DeflateMessage(reply);
    const std::string session = state_->StartPushSession(run_.run_id);
    ASSERT_TRUE(
        state_->StoreMessageWithObjectTree(session, *core::MessageToProto(reply), bundle_.tree)
            .ok());
    const core::DeflatedObject& first = bundle_.objects.front();
    ASSERT_TRUE(state_->StoreObject(run_.run_id, session, first.object_id, first.content()));
  }
  // An object of the reply that never arrives.
  const std::string& Missing() const { return bundle_.objects[1].object_id; }

  uint64_t node_ = 0;
  CreatedRun run_{};
  proto::Message ins_;
  core::ObjectBundle bundle_;
};

// As stock, the reply is handed out once stored (its objects follow), and the puller of its
// objects waits for the missing ones while the push session lives; once it has expired, the
// pull that finds a missing object drops the reply with its objects: the object is unknown
// then (PullObject answers "not found", and the ServerApp's grid makes the reply a
// MESSAGE_UNAVAILABLE error instead of pulling for hours).
TEST_P(HalfUploadedReplyTest, a_pull_of_a_missing_object_drops_it_once_the_session_expired) {
  std::vector<proto::Message> got = state_->GetMessageRes({ins_.metadata().message_id()});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].has_error());
  EXPECT_EQ(got[0].metadata().message_id(), bundle_.root_id());
  now_ += absl::Seconds(179);
  EXPECT_FALSE(state_->ExpirePushSessionsAwaiting(run_.run_id, Missing()));
  EXPECT_EQ(state_->object_store().Get(Missing()), "");
  now_ += absl::Seconds(2);
  EXPECT_FALSE(state_->ExpirePushSessionsAwaiting(run_.run_id + 1, Missing()));
  EXPECT_FALSE(state_->ExpirePushSessionsAwaiting(run_.run_id, bundle_.objects.front().object_id));
  EXPECT_EQ(state_->object_store().Get(Missing()), "");
  EXPECT_TRUE(state_->ExpirePushSessionsAwaiting(run_.run_id, Missing()));
  EXPECT_EQ(state_->object_store().Get(Missing()), std::nullopt);
  EXPECT_FALSE(state_->object_store().Contains(bundle_.root_id()));
  EXPECT_FALSE(state_->object_store().Contains(bundle_.objects.front().object_id));
  EXPECT_FALSE(state_->ExpirePushSessionsAwaiting(run_.run_id, Missing()));
}

// Not pulled before the node's heartbeat lapsed, the reply is never handed out: the puller
// gets the node's Node Unavailable error reply instead, as for any node gone offline (as stock).
TEST_P(HalfUploadedReplyTest, an_unpulled_reply_of_a_lapsed_node_becomes_node_unavailable) {
  now_ += absl::Seconds(61);
  std::vector<proto::Message> got = state_->GetMessageRes({ins_.metadata().message_id()});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].error().code(), 5);
  EXPECT_NE(got[0].error().reason().find("Node Unavailable"), std::string::npos);
  EXPECT_EQ(got[0].metadata().reply_to_message_id(), ins_.metadata().message_id());
}

INSTANTIATE_TEST_SUITE_P(Implementations, HalfUploadedReplyTest,
                         ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

TEST_P(LinkStateTest, push_session_of_a_stopped_run_is_gone) {
  CreatedRun run = NewRunningRun();
  core::Message m;
  m.content = core::RecordDict();
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  std::string session = state_->StartPushSession(run.run_id);
  ASSERT_TRUE(state_->PreregisterObjectTree(session, run.run_id, bundle.tree).ok());
  ASSERT_TRUE(state_->StopRun(run.run_id));
  const auto& obj = bundle.objects.front();
  EXPECT_FALSE(state_->StoreObject(run.run_id, session, obj.object_id, obj.content()));
  EXPECT_FALSE(state_->object_store().Contains(bundle.root_id()));
}

TEST_P(LinkStateTest, a_root_pushed_again_belongs_to_the_newest_session) {
  CreatedRun run = NewRunningRun();
  core::Message m;
  m.content = core::RecordDict();
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  std::string older = state_->StartPushSession(run.run_id);
  ASSERT_TRUE(state_->PreregisterObjectTree(older, run.run_id, bundle.tree).ok());
  std::string newer = state_->StartPushSession(run.run_id);
  ASSERT_TRUE(state_->PreregisterObjectTree(newer, run.run_id, bundle.tree).ok());
  const auto& obj = bundle.objects.front();
  EXPECT_FALSE(state_->StoreObject(run.run_id, older, obj.object_id, obj.content()));
  EXPECT_TRUE(state_->StoreObject(run.run_id, newer, obj.object_id, obj.content()));
}

INSTANTIATE_TEST_SUITE_P(Implementations, LinkStateTest, ::testing::Values("memory", "sqlite"),
                         [](const auto& info) { return info.param; });

// Tests of the SQLite state only: what survives the process, and sharing the file.
class SqliteLinkStateTest : public LinkStateTest {};

TEST_P(SqliteLinkStateTest, sqlite_state_survives_reopening) {
  using google::protobuf::util::MessageDifferencer;
  uint64_t a = OnlineNode("a");
  uint64_t b = *state_->CreateNode("b", 0);
  NewRun spec;
  spec.fab_hash = std::string(64, 'e');
  spec.override_config = core::UserConfig{{"epochs", int64_t{3}}};
  CreatedRun run = *state_->CreateRun(spec);
  CreatedRun pending = *state_->CreateRun(NewRun{});
  std::string token = *state_->tasks().ClaimTask(run.task_id);
  ASSERT_TRUE(state_->tasks().ActivateTask(run.task_id));
  proto::Fab fab;
  fab.set_hash_str(spec.fab_hash);
  fab.set_content("fab bytes");
  state_->StoreFab(fab);
  proto::Message delivered = Instruction(run.run_id, a, 100);
  proto::Message undelivered = Instruction(run.run_id, a, 200);
  ASSERT_TRUE(state_->StoreMessageIns(delivered).ok());
  ASSERT_EQ(state_->GetMessageIns(a, 1).size(), 1u);
  ASSERT_TRUE(state_->StoreMessageIns(undelivered).ok());
  proto::Context context = *state_->GetRunContext(run.run_id);
  (*context.mutable_run_config())["lr"].set_double_(0.1);
  state_->SetRunContext(run.run_id, context);
  state_->tasks().AddTaskLog(run.task_id, "one\n");
  state_->tasks().AddTaskLog(run.task_id, "two\n");
  state_->StoreTraffic(run.run_id, 5, 6);
  core::Message m;
  m.content = core::RecordDict();
  m.content->Set("c", core::ConfigRecord{{"x", int64_t{2}}});
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  std::string session = state_->StartPushSession(run.run_id);
  ASSERT_TRUE(state_->PreregisterObjectTree(session, run.run_id, bundle.tree).ok());
  const proto::Run run_before = *state_->GetRun(run.run_id);
  const std::vector<proto::NodeInfo> nodes_before = state_->ListNodes();
  const std::vector<TaskLogEntry> log_before = state_->tasks().GetTaskLog(run.task_id, 0);

  Reopen();

  EXPECT_TRUE(MessageDifferencer::Equals(*state_->GetRun(run.run_id), run_before));
  EXPECT_EQ(state_->GetRun(run.run_id)->status().status(), "running");
  std::optional<proto::Task> task = state_->tasks().GetTaskByToken(token);
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->task_id(), run.task_id);
  EXPECT_EQ(task->starting_at(), run_before.starting_at());
  ASSERT_EQ(state_->tasks().GetPendingTasks().size(), 1u);
  EXPECT_EQ(state_->tasks().GetPendingTasks()[0].task_id(), pending.task_id);
  std::vector<proto::NodeInfo> nodes_after = state_->ListNodes();
  ASSERT_EQ(nodes_after.size(), nodes_before.size());
  for (size_t i = 0; i < nodes_after.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(nodes_after[i], nodes_before[i]));
  }
  EXPECT_EQ(state_->GetOnlineNodeIds(), std::vector<uint64_t>{a});
  EXPECT_EQ(state_->GetNodeIdByPublicKey("b"), b);
  EXPECT_TRUE(MessageDifferencer::Equals(*state_->GetFab(spec.fab_hash), fab));
  EXPECT_TRUE(MessageDifferencer::Equals(*state_->GetRunContext(run.run_id), context));
  std::vector<TaskLogEntry> log_after = state_->tasks().GetTaskLog(run.task_id, 0);
  ASSERT_EQ(log_after.size(), 2u);
  EXPECT_EQ(log_after[0].timestamp, log_before[0].timestamp);
  EXPECT_EQ(log_after[1].timestamp, log_before[1].timestamp);
  EXPECT_EQ(log_after[1].text, "two\n");
  std::vector<proto::Message> ins = state_->GetMessageIns(a, 10);
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(ins[0], undelivered));
  for (const auto& obj : bundle.objects) {
    EXPECT_TRUE(state_->StoreObject(run.run_id, session, obj.object_id, obj.content()));
  }
  EXPECT_EQ(state_->object_store().Get(bundle.root_id()), bundle.objects.back().content());

  // Deadlines survive too: the silent task fails at its heartbeat deadline.
  now_ += absl::Seconds(61);
  Reopen();
  proto::Run failed = *state_->GetRun(run.run_id);
  EXPECT_EQ(failed.status().sub_status(), "failed");
  EXPECT_EQ(failed.finished_at(), core::FormatIsoUtc(now_ - absl::Seconds(1)));
  EXPECT_FALSE(state_->tasks().GetTaskByToken(token).has_value());
}

// A SuperLink killed (kill -9) after marking an instruction delivered but before its answer
// reached the node: the node never confirms it, and gets it at its first pull after the restart.
TEST_P(SqliteLinkStateTest, an_unconfirmed_delivery_of_a_killed_process_is_made_once_more) {
  uint64_t a = OnlineNode("a");
  uint64_t b = OnlineNode("b");
  CreatedRun run = NewRunningRun();
  auto store = [&](const proto::Message& ins) {
    const std::string session = state_->StartPushSession(run.run_id);
    const core::Message message = *core::MessageFromProto(ins);
    const core::ObjectBundle bundle = *core::DeflateMessage(message);
    ASSERT_TRUE(state_->StoreMessageWithObjectTree(session, ins, bundle.tree).ok());
  };
  const proto::Message lost = Instruction(run.run_id, a, 100);
  const proto::Message confirmed = Instruction(run.run_id, a, 200);
  const proto::Message answered = Instruction(run.run_id, a, 300);
  const proto::Message lost_b = Instruction(run.run_id, b, 100);
  for (const proto::Message* ins : {&lost, &confirmed, &answered, &lost_b}) {
    store(*ins);
    ASSERT_EQ(state_->GetMessageIns(ins->metadata().dst_node_id(), 1).size(), 1u);
  }
  state_->object_store().Delete(confirmed.metadata().message_id());  // ConfirmMessageReceived
  ASSERT_TRUE(state_->StoreMessageRes(Reply(answered)).ok());
  EXPECT_TRUE(state_->GetMessageIns(a, 10).empty());  // no redelivery within one process

  Reopen();
  std::vector<proto::Message> again = state_->GetMessageIns(a, 10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].metadata().message_id(), lost.metadata().message_id());
  EXPECT_TRUE(state_->GetMessageIns(a, 10).empty());  // once
  ASSERT_EQ(state_->GetMessageIns(b, 10).size(), 1u);

  // Lost again with the next process; once the node confirms it, it stays delivered.
  Reopen();
  ASSERT_EQ(state_->GetMessageIns(a, 10).size(), 1u);
  state_->object_store().Delete(lost.metadata().message_id());
  Reopen();
  EXPECT_TRUE(state_->GetMessageIns(a, 10).empty());
}

TEST_P(SqliteLinkStateTest, registrations_survive_reopening) {
  using google::protobuf::util::MessageDifferencer;
  NodeDetails details;
  details.name = "n";
  details.location = "0,0";
  uint64_t kept = *state_->CreateNode("kept", 30, details);
  uint64_t dropped = *state_->CreateNode("dropped", 30);
  ASSERT_TRUE(state_->UnregisterNode(dropped).ok());
  const std::vector<proto::NodeInfo> before = state_->ListNodes();

  Reopen();

  const std::vector<proto::NodeInfo> after = state_->ListNodes();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(after[i], before[i])) << after[i].DebugString();
  }
  EXPECT_EQ(state_->GetNodeIdByPublicKey("kept"), kept);
  EXPECT_EQ(state_->GetNodeIdByPublicKey("dropped"), std::nullopt);
  EXPECT_EQ(*state_->ActivateNode("kept", 30), kept);
  EXPECT_EQ(core::FlowerErrorCode(state_->CreateNode("dropped", 30).status()),
            core::api_error::kPublicKeyAlreadyInUse);
}

TEST_P(SqliteLinkStateTest, a_schema_version_1_database_gains_node_details) {
  uint64_t old_node = *state_->CreateNode("old", 0);
  state_.reset();
  {
    // What schema version 1 was: the node table without name and location, the run table
    // without the federation config.
    SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE node DROP COLUMN name; ALTER TABLE node DROP COLUMN location;");
    db.exec("ALTER TABLE run DROP COLUMN federation_config;");
    db.exec("PRAGMA user_version = 1");
  }
  Reopen();
  EXPECT_TRUE(state_->CreateRun(NewRun{}).ok());
  NodeDetails details;
  details.name = "new";
  uint64_t new_node = *state_->CreateNode("new", 30, details);
  std::vector<proto::NodeInfo> nodes = state_->ListNodes();
  ASSERT_EQ(nodes.size(), 2u);
  for (const proto::NodeInfo& info : nodes) {
    EXPECT_EQ(info.has_name(), info.node_id() == new_node);
    EXPECT_TRUE(info.node_id() == old_node || info.node_id() == new_node);
  }
}

TEST_P(SqliteLinkStateTest, a_schema_version_2_database_gains_run_federation_configs) {
  CreatedRun old_run = *state_->CreateRun(NewRun{});
  state_.reset();
  {
    // What schema version 2 was: the run table without the federation config.
    SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE run DROP COLUMN federation_config;");
    db.exec("PRAGMA user_version = 2");
  }
  Reopen();
  EXPECT_FALSE(state_->GetFederationConfig(old_run.run_id).has_value());
  NewRun spec;
  spec.primary_task_type = std::string(kSimulationTaskType);
  spec.federation_config.emplace().set_num_supernodes(2);
  CreatedRun sim = *state_->CreateRun(spec);
  EXPECT_EQ(state_->GetFederationConfig(sim.run_id)->num_supernodes(), 2u);
}

TEST_P(SqliteLinkStateTest, a_schema_version_3_database_gains_run_series_apps_and_automations) {
  CreatedRun old_run = *state_->CreateRun(NewRun{});
  state_.reset();
  {
    // What schema version 3 was: no run series, apps or automations.
    SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE run_series; DROP TABLE app; DROP TABLE automation;");
    db.exec("PRAGMA user_version = 3");
  }
  Reopen();
  now_ += absl::Seconds(1);
  CreatedRun new_run = *state_->CreateRun(NewRun{});
  std::vector<proto::RunSeries> series = state_->ListRunSeries();
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].series_id(), new_run.series_id);
  EXPECT_EQ(series[1].series_id(), old_run.series_id);
  EXPECT_EQ(series[1].created_at(), "2026-01-01T00:00:00+00:00");  // its run's pending_at
  ASSERT_EQ(series[1].run_ids_size(), 1);
  EXPECT_EQ(series[1].run_ids(0), old_run.run_id);
  NewRun join;
  join.series_id = old_run.series_id;
  EXPECT_TRUE(state_->CreateRun(join).ok());
  EXPECT_TRUE(state_->ListApps(kDefaultFederation, std::nullopt).empty());
  EXPECT_TRUE(state_->ListAutomations({}).empty());
}

TEST_P(SqliteLinkStateTest, two_states_on_one_file_share_it_safely) {
  auto opened = LinkState::Open(path_.string(), [this] { return now_; });
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<LinkState> other = *std::move(opened);
  uint64_t a = *state_->CreateNode("a", 0);
  EXPECT_EQ(other->GetNodeIdByPublicKey("a"), a);
  EXPECT_EQ(core::FlowerErrorCode(other->CreateNode("a", 0).status()),
            core::api_error::kPublicKeyAlreadyInUse);

  // Concurrent writers through both: nothing lost, each task claimed exactly once.
  constexpr int kPerThread = 40;
  std::vector<CreatedRun> runs;
  for (int i = 0; i < kPerThread; ++i) runs.push_back(*state_->CreateRun(NewRun{}));
  std::atomic<int> claimed{0};
  std::atomic<int> failures{0};
  auto worker = [&](LinkState* s, const std::string& prefix) {
    for (int i = 0; i < kPerThread; ++i) {
      if (!s->CreateNode(prefix + std::to_string(i), 0).ok()) ++failures;
      if (s->tasks().ClaimTask(runs[i].task_id).has_value()) ++claimed;
    }
  };
  std::thread t1(worker, state_.get(), "x");
  std::thread t2(worker, other.get(), "y");
  std::thread t3(worker, state_.get(), "z");
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(claimed.load(), kPerThread);
  EXPECT_EQ(state_->ListNodes().size(), 1u + 3 * kPerThread);
  EXPECT_EQ(other->ListNodes().size(), 1u + 3 * kPerThread);
  EXPECT_TRUE(other->tasks().GetPendingTasks().empty());
}

TEST_P(SqliteLinkStateTest, opening_a_file_that_is_not_a_database_fails_clearly) {
  state_.reset();
  Remove();
  {
    std::ofstream garbage(path_, std::ios::binary);
    garbage << std::string(8192, 'x');
  }
  auto state = LinkState::Open(path_.string(), [this] { return now_; });
  ASSERT_FALSE(state.ok());
  EXPECT_TRUE(absl::IsUnavailable(state.status())) << state.status();
  EXPECT_NE(state.status().message().find(path_.string()), absl::string_view::npos);
  EXPECT_EQ(state.status().message().find('\n'), absl::string_view::npos);

  auto missing_dir = LinkState::Open((path_ / "no" / "such.db").string());
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_TRUE(absl::IsUnavailable(missing_dir.status())) << missing_dir.status();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteLinkStateTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace flwr::superlink
