// One suite for both ObjectStore implementations (in-memory and SQLite).
#include "flwr/core/object_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "../temp_path.h"
#include "flwr/core/inflatable.h"

namespace flwr::core {
namespace {

class ObjectStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      path_ = flwr::testing::TempPath("state.db");
      std::filesystem::remove(path_);
      store_ = *ObjectStore::Open(path_.string());
    } else {
      store_ = *ObjectStore::Open(kInMemoryDatabase);
    }
    Message m;
    m.metadata.message_type = "train";
    RecordDict content;
    ArrayRecord arrays;
    arrays.Set("a", *Array::FromFloats({1, 2, 3}, {3}));
    arrays.Set("b", *Array::FromFloats({4, 5}, {2}));
    content.Set("arrays", arrays);
    message_ = m;
    message_.content = content;
    bundle_ = *DeflateMessage(message_);
  }
  void TearDown() override {
    store_.reset();
    if (!path_.empty()) {
      for (const char* suffix : {"", "-wal", "-shm"})
        std::filesystem::remove(path_.string() + suffix);
    }
  }
  void PutAll() {
    for (const auto& obj : bundle_.objects)
      ASSERT_TRUE(store_->Put(obj.object_id, obj.content()).ok());
  }

  std::filesystem::path path_;
  std::unique_ptr<ObjectStore> store_;
  Message message_;
  ObjectBundle bundle_;
};

TEST_P(ObjectStoreTest, preregister_returns_all_new_objects_in_post_order) {
  auto missing = store_->Preregister(1, bundle_.tree);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, ObjectTreePostOrder(bundle_.tree));
  EXPECT_EQ(store_->Size(), bundle_.objects.size());
  EXPECT_EQ(store_->Get(bundle_.root_id()), std::optional<std::string>(""));
}

TEST_P(ObjectStoreTest, preregister_again_returns_only_objects_still_missing) {
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  const auto& first = bundle_.objects.front();
  ASSERT_TRUE(store_->Put(first.object_id, first.content()).ok());
  auto missing = store_->Preregister(1, bundle_.tree);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->size(), bundle_.objects.size() - 1);
  EXPECT_EQ(std::count(missing->begin(), missing->end(), first.object_id), 0);
}

TEST_P(ObjectStoreTest, put_then_get_returns_the_bytes) {
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  PutAll();
  for (const auto& obj : bundle_.objects) EXPECT_EQ(store_->Get(obj.object_id), obj.content());
  auto tree = store_->GetObjectTree(bundle_.root_id());
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->SerializeAsString(), bundle_.tree.SerializeAsString());
}

// Byte for byte what the message itself serializes to: unknown, not yet available, available
// (small, and a 5 MiB chunk whose length takes a 4-byte varint).
TEST_P(ObjectStoreTest, serialized_pull_object_response_is_the_messages_bytes) {
  auto expected = [this](const std::string& id) {
    proto::PullObjectResponse response;
    std::optional<std::string> content = store_->Get(id);
    if (content) {
      response.set_object_found(true);
      response.set_object_available(!content->empty());
      response.set_object_content(*content);
    }
    return response.SerializeAsString();
  };
  const std::string root = bundle_.root_id();
  EXPECT_EQ(SerializedPullObjectResponse(*store_, root), expected(root));
  EXPECT_TRUE(SerializedPullObjectResponse(*store_, root).empty());
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  EXPECT_EQ(SerializedPullObjectResponse(*store_, root), expected(root));
  PutAll();
  for (const auto& obj : bundle_.objects) {
    EXPECT_EQ(SerializedPullObjectResponse(*store_, obj.object_id), expected(obj.object_id));
  }
  Message big = message_;
  ArrayRecord arrays;
  arrays.Set("big", *Array::FromFloats(std::vector<float>(1 << 20, 0.5f), {1 << 20}));
  big.content->Set("arrays", arrays);
  ObjectBundle bundle = *DeflateMessage(big);
  ASSERT_TRUE(store_->Preregister(2, bundle.tree).ok());
  for (const auto& obj : bundle.objects)
    ASSERT_TRUE(store_->Put(obj.object_id, obj.content()).ok());
  for (const auto& obj : bundle.objects) {
    EXPECT_EQ(SerializedPullObjectResponse(*store_, obj.object_id), expected(obj.object_id));
    proto::PullObjectResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(SerializedPullObjectResponse(*store_, obj.object_id)));
    EXPECT_EQ(parsed.object_content(), obj.content());
  }
}

// TakeForForwarding gives the bytes; the object can be stored again afterwards.
TEST_P(ObjectStoreTest, take_for_forwarding_gives_the_bytes) {
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  const auto& first = bundle_.objects.front();
  EXPECT_EQ(store_->TakeForForwarding(first.object_id), std::string());
  PutAll();
  EXPECT_EQ(store_->TakeForForwarding(first.object_id), first.content());
  EXPECT_EQ(store_->TakeForForwarding("ab"), std::nullopt);
  ASSERT_TRUE(store_->Put(first.object_id, first.content()).ok());
  EXPECT_EQ(store_->Get(first.object_id), first.content());
}

TEST_P(ObjectStoreTest, put_rejects_unregistered_wrong_hash_and_malformed_objects) {
  const auto& obj = bundle_.objects.front();
  EXPECT_EQ(store_->Put(obj.object_id, obj.content()).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  std::string tampered = obj.content();
  tampered.back() ^= 1;
  EXPECT_EQ(store_->Put(obj.object_id, tampered).code(), absl::StatusCode::kInvalidArgument);
  const std::string junk = "not an object";
  proto::ObjectTree junk_tree;
  junk_tree.set_object_id(ComputeObjectId(junk));
  ASSERT_TRUE(store_->Preregister(1, junk_tree).ok());
  EXPECT_EQ(store_->Put(ComputeObjectId(junk), junk).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Get(obj.object_id), std::optional<std::string>(""));  // nothing stored
}

TEST_P(ObjectStoreTest, preregister_rejects_invalid_ids_without_registering_anything) {
  proto::ObjectTree tree = bundle_.tree;
  tree.mutable_children(0)->set_object_id("not-a-sha256");
  EXPECT_EQ(store_->Preregister(1, tree).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Size(), 0u);
}

TEST_P(ObjectStoreTest, delete_removes_the_tree_but_keeps_shared_children) {
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  PutAll();
  // A second message shares the ArrayRecord.
  Message other = message_;
  other.metadata.message_type = "evaluate";
  ObjectBundle other_bundle = *DeflateMessage(other);
  ASSERT_TRUE(store_->Preregister(1, other_bundle.tree).ok());
  store_->Delete(bundle_.root_id());
  EXPECT_FALSE(store_->Contains(bundle_.root_id()));
  EXPECT_TRUE(store_->Contains(other_bundle.root_id()));
  EXPECT_TRUE(store_->Contains(bundle_.tree.children(0).object_id()));  // shared RecordDict
  store_->Delete(other_bundle.root_id());
  EXPECT_EQ(store_->Size(), 0u);
}

TEST_P(ObjectStoreTest, delete_does_not_remove_a_referenced_child) {
  ASSERT_TRUE(store_->Preregister(1, bundle_.tree).ok());
  store_->Delete(bundle_.tree.children(0).object_id());
  EXPECT_EQ(store_->Size(), bundle_.objects.size());
}

TEST_P(ObjectStoreTest, delete_objects_in_run_frees_the_run) {
  ASSERT_TRUE(store_->Preregister(7, bundle_.tree).ok());
  PutAll();
  store_->DeleteObjectsInRun(7);
  EXPECT_EQ(store_->Size(), 0u);
  store_->DeleteObjectsInRun(8);  // unknown run: no-op
}

TEST_P(ObjectStoreTest, get_object_tree_of_unknown_id_is_not_found) {
  EXPECT_EQ(store_->GetObjectTree(bundle_.root_id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(bundle_.root_id()), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Implementations, ObjectStoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Sqlite" : "InMemory"; });

TEST(SqliteObjectStoreTest, objects_survive_reopening_the_file) {
  auto path = flwr::testing::TempPath("objects.db");
  std::filesystem::remove(path);
  Message m;
  RecordDict content;
  ConfigRecord config;
  config.Set("x", int64_t{1});
  content.Set("c", config);
  m.content = content;
  ObjectBundle bundle = *DeflateMessage(m);
  {
    auto store = *ObjectStore::Open(path.string());
    ASSERT_TRUE(store->Preregister(1, bundle.tree).ok());
    for (const auto& obj : bundle.objects)
      ASSERT_TRUE(store->Put(obj.object_id, obj.content()).ok());
  }
  auto store = *ObjectStore::Open(path.string());
  EXPECT_EQ(store->Get(bundle.root_id()), bundle.objects.back().content());
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST(SqliteObjectStoreTest, unopenable_path_is_unavailable) {
  EXPECT_EQ(ObjectStore::Open("/nonexistent-dir/x/y.db").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flwr::core
