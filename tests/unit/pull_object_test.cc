// PullObject of the SuperLink's Fleet and Runtime APIs for an object whose pusher died
// mid-upload: "not available" while its push session lives, "not found" once it has expired
// (flwr's LinkState.get_object), so that the puller stops waiting.
#include <gtest/gtest.h>

#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"
#include "flwr/superlink/fleet_service.h"
#include "flwr/superlink/link_state.h"
#include "flwr/superlink/runtime_service.h"

namespace flwr::superlink {
namespace {

class PullObjectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = *LinkState::Open(core::kInMemoryDatabase, [this] { return now_; });
    node_ = *state_->CreateNode("key", 0);
    ASSERT_TRUE(state_->ActivateNode("key", 30).ok());
    run_ = *state_->CreateRun(NewRun{});
    ASSERT_TRUE(state_->tasks().ClaimTask(run_.task_id).has_value());
    ASSERT_TRUE(state_->tasks().ActivateTask(run_.task_id));
    task_.set_task_id(run_.task_id);
    task_.set_run_id(run_.run_id);
    task_.set_type(std::string(kServerAppTaskType));
  }

  // A message of the run from `src` to `dst`, with its ID.
  core::Message NewMessage(uint64_t src, uint64_t dst, std::string type,
                           core::RecordDict content = {}) {
    core::Message message;
    message.metadata.run_id = run_.run_id;
    message.metadata.src_node_id = src;
    message.metadata.dst_node_id = dst;
    message.metadata.message_type = std::move(type);
    message.metadata.ttl = 3600;
    message.metadata.created_at = core::ToEpochSeconds(now_);
    message.content = std::move(content);
    message.metadata.message_id = *core::ComputeMessageId(message);
    return message;
  }

  // Pushes a message of `src` to `dst` with its objects but the first: the pusher died.
  void PushAllButFirstObject(uint64_t src, uint64_t dst) {
    core::RecordDict content;
    content.Set("c", core::ConfigRecord{{"x", int64_t{1}}});
    const core::Message message = NewMessage(src, dst, "train", std::move(content));
    const core::ObjectBundle bundle = *core::DeflateMessage(message);
    const std::string session = state_->StartPushSession(run_.run_id);
    ASSERT_TRUE(state_->PreregisterObjectTree(session, run_.run_id, bundle.tree).ok());
    for (size_t i = 1; i < bundle.objects.size(); ++i) {
      ASSERT_TRUE(state_->StoreObject(run_.run_id, session, bundle.objects[i].object_id,
                                      bundle.objects[i].content()));
    }
    missing_.set_run_id(run_.run_id);
    missing_.set_object_id(bundle.objects.front().object_id);
  }

  // Moves the clock past the push session's expiry, the run's task heartbeating meanwhile.
  void ExpirePushSession() {
    for (int i = 0; i < 4; ++i) {
      now_ += absl::Seconds(46);
      ASSERT_TRUE(state_->tasks().AcknowledgeTaskHeartbeat(run_.task_id));
    }
  }

  absl::Time now_ = absl::FromUnixSeconds(1767225600);
  std::unique_ptr<LinkState> state_;
  uint64_t node_ = 0;
  CreatedRun run_{};
  proto::Task task_;
  proto::PullObjectRequest missing_;
};

TEST_F(PullObjectTest, fleet_pull_of_an_object_of_a_dead_pusher_is_not_found_once_expired) {
  PushAllButFirstObject(kSuperLinkNodeId, node_);
  FleetService fleet(state_.get(), /*enable_supernode_auth=*/false, [this] { return now_; });
  proto::PullObjectResponse waiting = *fleet.PullObject(missing_);
  EXPECT_TRUE(waiting.object_found());
  EXPECT_FALSE(waiting.object_available());
  ExpirePushSession();
  proto::PullObjectResponse gone = *fleet.PullObject(missing_);
  EXPECT_FALSE(gone.object_found());
}

TEST_F(PullObjectTest, runtime_pull_of_an_object_of_a_dead_pusher_is_not_found_once_expired) {
  PushAllButFirstObject(node_, kSuperLinkNodeId);
  RuntimeService runtime(state_.get(), [this] { return now_; });
  missing_.mutable_node()->set_node_id(kSuperLinkNodeId);
  proto::PullObjectResponse waiting;
  ASSERT_TRUE(waiting.ParseFromString(*runtime.PullObject(task_, missing_)));
  EXPECT_TRUE(waiting.object_found());
  EXPECT_FALSE(waiting.object_available());
  ExpirePushSession();
  proto::PullObjectResponse gone;
  ASSERT_TRUE(gone.ParseFromString(*runtime.PullObject(task_, missing_)));
  EXPECT_FALSE(gone.object_found());
}

// Flower 1.42's runtime PullMessages: besides the replies asked for, the run's instructions
// addressed to the SuperLink (node 1), handed out once with their object trees and deleted.
TEST_F(PullObjectTest, runtime_pull_messages_hands_out_instructions_to_the_superlink_once) {
  const core::Message message = NewMessage(kSuperLinkNodeId, kSuperLinkNodeId, "query");
  const core::ObjectBundle bundle = *core::DeflateMessage(message);
  proto::PushAppMessagesRequest push;
  *push.add_messages_list() = *core::MessageToProto(message);
  *push.add_message_object_trees() = bundle.tree;
  RuntimeService runtime(state_.get(), [this] { return now_; });
  proto::PushAppMessagesResponse pushed = *runtime.PushMessages(task_, push);
  ASSERT_EQ(pushed.message_ids_size(), 1);
  ASSERT_EQ(pushed.message_ids(0), message.metadata.message_id);

  proto::PullAppMessagesResponse pulled = *runtime.PullMessages(task_, {});
  ASSERT_EQ(pulled.messages_list_size(), 1);
  EXPECT_EQ(pulled.messages_list(0).metadata().message_id(), message.metadata.message_id);
  EXPECT_EQ(pulled.message_object_trees(0).object_id(), message.metadata.message_id);
  EXPECT_EQ(runtime.PullMessages(task_, {})->messages_list_size(), 0);
}

// The round timer keeps one entry per running run: a run whose ServerApp died (its task ended
// without PushTaskOutput) is forgotten at the next batch of another run.
TEST_F(PullObjectTest, round_timer_forgets_runs_that_ended_without_their_serverapps_output) {
  RuntimeService runtime(state_.get(), [this] { return now_; });
  std::vector<absl::Duration> rounds;
  runtime.set_round_observer([&](absl::Duration d) { rounds.push_back(d); });
  auto push_batch = [&](const proto::Task& task, uint64_t run_id) {
    core::Message message = NewMessage(kSuperLinkNodeId, node_, "train");
    message.metadata.run_id = run_id;
    message.metadata.message_id = *core::ComputeMessageId(message);
    proto::PushAppMessagesRequest push;
    *push.add_messages_list() = *core::MessageToProto(message);
    *push.add_message_object_trees() = core::DeflateMessage(message)->tree;
    ASSERT_TRUE(runtime.PushMessages(task, push).ok());
  };
  push_batch(task_, run_.run_id);
  now_ += absl::Seconds(5);
  push_batch(task_, run_.run_id);
  EXPECT_EQ(rounds, std::vector<absl::Duration>{absl::Seconds(5)});
  EXPECT_EQ(runtime.timed_runs(), 1u);

  // The ServerApp of the run dies: its task fails, no output is pushed.
  ASSERT_TRUE(state_->tasks().FinishTask(run_.task_id, "failed", "the process died"));
  CreatedRun other = *state_->CreateRun(NewRun{});
  ASSERT_TRUE(state_->tasks().ClaimTask(other.task_id).has_value());
  ASSERT_TRUE(state_->tasks().ActivateTask(other.task_id));
  proto::Task other_task = task_;
  other_task.set_task_id(other.task_id);
  other_task.set_run_id(other.run_id);
  push_batch(other_task, other.run_id);
  EXPECT_EQ(runtime.timed_runs(), 1u);
}

}  // namespace
}  // namespace flwr::superlink
