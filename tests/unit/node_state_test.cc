// NodeState (in memory) and the SuperNode's Runtime API service, with a fake clock.
#include "flwr/supernode/node_state.h"

#include <gtest/gtest.h>

#include "flwr/core/flower_error.h"
#include "flwr/core/inflatable.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/proto_convert.h"
#include "flwr/core/sha256.h"
#include "flwr/supernode/node_runtime_service.h"

namespace flwr::supernode {
namespace {

constexpr uint64_t kRun = 5;
constexpr uint64_t kSeries = 9;

class NodeStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = absl::FromUnixSeconds(1767225600);
    state_ = NodeState::CreateInMemory([this] { return now_; });
    proto::Run run;
    run.set_run_id(kRun);
    run.set_series_id(kSeries);
    proto::Fab fab;
    fab.set_content("fab bytes");
    fab.set_hash_str(core::Sha256Hex(fab.content()));
    run.set_fab_hash(fab.hash_str());
    state_->StoreRun(run);
    ASSERT_TRUE(state_->StoreFab(fab).ok());
    proto::Context context;
    context.set_run_id(kRun);
    context.set_series_id(kSeries);
    state_->SetRunSeriesContext(kSeries, context);
  }

  // An instruction with its objects in the store, as the Fleet loop leaves it.
  proto::Message Instruction(const std::string& group) {
    core::Message m;
    m.metadata.run_id = kRun;
    m.metadata.src_node_id = 1;
    m.metadata.dst_node_id = 7;
    m.metadata.group_id = group;
    m.metadata.message_type = "train";
    m.metadata.created_at = core::ToEpochSeconds(now_);
    m.content = core::RecordDict();
    absl::StatusOr<core::ObjectBundle> bundle = core::DeflateMessage(m);
    EXPECT_TRUE(bundle.ok());
    EXPECT_TRUE(state_->object_store().Preregister(kRun, bundle->tree).ok());
    for (const core::DeflatedObject& o : bundle->objects) {
      EXPECT_TRUE(state_->object_store().Put(o.object_id, o.content()).ok());
    }
    m.metadata.message_id = bundle->tree.object_id();
    proto::Message wire = *core::MessageToProto(m);
    state_->StoreInstruction(wire);
    return wire;
  }

  absl::Time now_;
  std::unique_ptr<NodeState> state_;
};

TEST_F(NodeStateTest, LapsedLeaseGivesACrashReply) {
  proto::Message ins = Instruction("3");
  const uint64_t task = state_->CreateTask(kRun, "h", ins.metadata().message_id());
  state_->tasks().ClaimTask(task);
  state_->tasks().ActivateTask(task);
  ASSERT_TRUE(state_->RetrieveInstruction(*state_->tasks().GetTask(task)).has_value());
  EXPECT_TRUE(state_->TakeReplies().empty());
  now_ += absl::Seconds(61);
  std::vector<proto::Message> replies = state_->TakeReplies();
  ASSERT_EQ(replies.size(), 1u);
  const proto::Message& reply = replies[0];
  EXPECT_EQ(reply.error().code(), kClientAppCrashedCode);
  EXPECT_EQ(reply.error().reason(), kClientAppCrashedReason);
  EXPECT_EQ(reply.metadata().reply_to_message_id(), ins.metadata().message_id());
  EXPECT_EQ(reply.metadata().src_node_id(), 7u);
  EXPECT_EQ(reply.metadata().dst_node_id(), 1u);
  EXPECT_EQ(reply.metadata().group_id(), "3");
  // The reply's ID is its object ID, and its TTL ends with the instruction's.
  core::Message value = *core::MessageFromProto(reply);
  EXPECT_EQ(*core::ComputeMessageId(value), reply.metadata().message_id());
  EXPECT_NEAR(reply.metadata().ttl(), ins.metadata().ttl() - 61, 1e-6);
  EXPECT_EQ(state_->tasks().GetTask(task)->status().sub_status(), "failed");
  EXPECT_TRUE(state_->TakeReplies().empty());
}

TEST_F(NodeStateTest, FinishWithoutPullingGivesACrashReplyButNotAfterAReply) {
  // The stock SuperNode hangs when a ClientApp fails before pulling its message.
  proto::Message ins = Instruction("1");
  const uint64_t task = state_->CreateTask(kRun, "h", ins.metadata().message_id());
  state_->tasks().ClaimTask(task);
  EXPECT_TRUE(state_->tasks().FinishTask(task, "failed", "boom"));
  ASSERT_EQ(state_->TakeReplies().size(), 1u);

  proto::Message second = Instruction("2");
  const uint64_t task2 = state_->CreateTask(kRun, "h", second.metadata().message_id());
  state_->tasks().ClaimTask(task2);
  state_->tasks().ActivateTask(task2);
  proto::Message reply = ErrorReplyTo(second.metadata(), 2, "raised", now_);
  state_->StoreReply(reply);
  EXPECT_TRUE(state_->tasks().FinishTask(task2, "failed", "raised"));
  std::vector<proto::Message> replies = state_->TakeReplies();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].error().code(), 2);
}

TEST_F(NodeStateTest, InstructionIsHandedOutOnceAndTimed) {
  proto::Message ins = Instruction("1");
  const uint64_t task = state_->CreateTask(kRun, "h", ins.metadata().message_id());
  proto::Task t = *state_->tasks().GetTask(task);
  ASSERT_TRUE(state_->RetrieveInstruction(t).has_value());
  EXPECT_FALSE(state_->RetrieveInstruction(t).has_value());
  now_ += absl::Milliseconds(1500);
  core::Message reply;
  reply.metadata.run_id = kRun;
  reply.metadata.reply_to_message_id = ins.metadata().message_id();
  reply.metadata.message_id = "r";
  reply.content = core::RecordDict();
  state_->StoreReply(*core::MessageToProto(reply));
  EXPECT_DOUBLE_EQ(*state_->ProcessingSeconds(ins.metadata().message_id()), 1.5);
  // A second reply to the same instruction is ignored.
  reply.metadata.message_id = "r2";
  state_->StoreReply(*core::MessageToProto(reply));
  EXPECT_EQ(state_->TakeReplies().size(), 1u);
}

TEST_F(NodeStateTest, FabMustMatchItsHash) {
  proto::Fab fab;
  fab.set_content("x");
  fab.set_hash_str(std::string(64, 'a'));
  EXPECT_EQ(state_->StoreFab(fab).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(NodeStateTest, PushSessionsAcceptOnlyPendingVerifiedObjectsAndExpire) {
  core::Message m;
  m.metadata.run_id = kRun;
  m.content = core::RecordDict();
  m.content->Set("c", core::ConfigRecord({{"k", std::string("v")}}));
  core::ObjectBundle bundle = *core::DeflateMessage(m);
  const std::string session = state_->StartPushSession(kRun);
  absl::StatusOr<std::vector<std::string>> missing =
      state_->PreregisterObjectTree(session, kRun, bundle.tree);
  ASSERT_TRUE(missing.ok());
  ASSERT_EQ(missing->size(), bundle.objects.size());
  const core::DeflatedObject& first = bundle.objects.front();
  EXPECT_FALSE(state_->StoreObject(kRun, session, first.object_id, first.content() + "x"));
  EXPECT_FALSE(state_->StoreObject(kRun + 1, session, first.object_id, first.content()));
  EXPECT_FALSE(state_->StoreObject(kRun, "other", first.object_id, first.content()));
  EXPECT_TRUE(state_->StoreObject(kRun, session, first.object_id, first.content()));
  // Repeated (a retry after a timeout): the same bytes are "stored", other bytes are not.
  EXPECT_TRUE(state_->StoreObject(kRun, session, first.object_id, first.content()));
  EXPECT_FALSE(state_->StoreObject(kRun, session, first.object_id, first.content() + "x"));
  now_ += absl::Seconds(181);
  const core::DeflatedObject& last = bundle.objects.back();
  EXPECT_FALSE(state_->StoreObject(kRun, session, last.object_id, last.content()));
}

TEST_F(NodeStateTest, ServiceRequiresTokensAndChecksReplies) {
  NodeRuntimeService service(state_.get());
  absl::StatusOr<proto::Task> none = service.AuthenticateTask("");
  EXPECT_EQ(core::FlowerErrorCode(none.status()), core::api_error::kRuntimeAuthenticationFailed);

  proto::Message ins = Instruction("1");
  const uint64_t task_id = state_->CreateTask(kRun, "h", ins.metadata().message_id());
  proto::ClaimTaskRequest claim;
  claim.set_task_id(task_id);
  const std::string token = service.ClaimTask(claim)->token();
  proto::Task task = *service.AuthenticateTask(token);
  absl::StatusOr<proto::PullTaskInputResponse> input = service.PullTaskInput(task, {});
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->context().series_id(), kSeries);
  EXPECT_EQ(core::FlowerErrorCode(service.PullTaskInput(task, {}).status()),
            core::api_error::kRuntimeTaskStartFailed);
  EXPECT_EQ(core::FlowerErrorCode(service.GetNodes(task, {}).status()),
            core::api_error::kRuntimeEndpointUnavailable);

  proto::PushAppMessagesRequest two;
  EXPECT_EQ(core::FlowerErrorCode(service.PushMessages(task, two).status()),
            core::api_error::kRuntimeInvalidMessageCount);

  // The context a ClientApp pushes back becomes the series context.
  proto::PushTaskOutputRequest output;
  output.set_sub_status("completed");
  *output.mutable_context() = input->context();
  (*output.mutable_context()->mutable_node_config())["seen"].set_bool_(true);
  ASSERT_TRUE(service.PushTaskOutput(task, output).ok());
  EXPECT_TRUE(state_->GetRunSeriesContext(kSeries)->node_config().at("seen").bool_());
}

}  // namespace
}  // namespace flwr::supernode
