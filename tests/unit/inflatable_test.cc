#include "flwr/core/inflatable.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/sha256.h"

namespace flwr::core {
namespace {

Array FloatArray(size_t n, float fill) {
  std::vector<float> values(n, fill);
  return *Array::FromFloats(values, {static_cast<int64_t>(n)});
}

Message TrainMessage(size_t array_elements) {
  Message m;
  m.metadata.run_id = 1;
  m.metadata.dst_node_id = 2;
  m.metadata.message_type = "train";
  m.metadata.created_at = 1700000000.5;
  RecordDict content;
  ArrayRecord arrays;
  arrays.Set("big", FloatArray(array_elements, 0.5f));
  arrays.Set("small", FloatArray(4, 1.0f));
  content.Set("arrays", arrays);
  ConfigRecord config;
  config.Set("lr", 0.1);
  content.Set("config", config);
  m.content = content;
  return m;
}

ObjectContents ToContents(const ObjectBundle& bundle) {
  ObjectContents out;
  for (const auto& obj : bundle.objects) out[obj.object_id] = obj.content();
  return out;
}

TEST(InflatableTest, message_round_trips_through_chunked_objects) {
  // 3 MiB floats -> 12 MiB npy -> three ArrayChunks (5 + 5 + 2 MiB).
  Message m = TrainMessage(3 << 20);
  auto bundle = DeflateMessage(m);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->objects.back().object_id, bundle->root_id());
  auto inflated = InflateMessage(bundle->root_id(), ToContents(*bundle));
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(*inflated, m);
}

TEST(InflatableTest, object_ids_are_sha256_of_contents_and_heads_are_well_formed) {
  const Message message = TrainMessage(16);
  auto bundle = DeflateMessage(message);
  ASSERT_TRUE(bundle.ok());
  for (const auto& obj : bundle->objects) {
    EXPECT_EQ(obj.object_id, Sha256Hex(obj.content()));
    EXPECT_TRUE(ParseObjectHead(obj.content()).ok());
  }
  // Message -> RecordDict -> {ArrayRecord -> 2 Arrays -> chunks, ConfigRecord}: 8 objects.
  EXPECT_EQ(bundle->objects.size(), 8u);
}

TEST(InflatableTest, identical_arrays_are_one_object_and_one_tree_child) {
  ArrayRecord record;
  record.Set("a", FloatArray(8, 2.0f));
  record.Set("b", FloatArray(8, 2.0f));
  auto bundle = DeflateArrayRecord(record);
  ASSERT_TRUE(bundle.ok());
  EXPECT_EQ(bundle->tree.children_size(), 1);
  EXPECT_EQ(bundle->objects.size(), 3u);  // chunk, array, record
  auto back = InflateArrayRecord(bundle->root_id(), ToContents(*bundle));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, record);
}

TEST(InflatableTest, error_message_has_no_children) {
  Message m;
  m.error = Error{3, "boom"};
  auto bundle = DeflateMessage(m);
  ASSERT_TRUE(bundle.ok());
  EXPECT_EQ(bundle->objects.size(), 1u);
  EXPECT_EQ(*InflateMessage(bundle->root_id(), ToContents(*bundle)), m);
}

TEST(InflatableTest, message_with_both_content_and_error_is_rejected) {
  Message m = TrainMessage(4);
  m.error = Error{1, "x"};
  EXPECT_EQ(DeflateMessage(m).status().code(), absl::StatusCode::kInvalidArgument);
  Message empty;
  EXPECT_FALSE(DeflateMessage(empty).ok());
}

TEST(InflatableTest, message_id_is_not_part_of_the_content) {
  Message a = TrainMessage(4);
  Message b = a;
  b.metadata.message_id = "something";
  EXPECT_EQ(*ComputeMessageId(a), *ComputeMessageId(b));
}

// Bad input: each corruption yields a clear status, never a crash.
class InflateBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = *DeflateMessage(message_);
    contents_ = ToContents(bundle_);
  }
  const DeflatedObject& ObjectOfType(absl::string_view type) {
    for (const auto& obj : bundle_.objects) {
      if (obj.prefix.substr(0, obj.prefix.find(' ')) == type) return obj;
    }
    ADD_FAILURE() << "no " << type;
    return bundle_.objects.front();
  }
  // Replaces an object's content and re-keys it and its ancestors so that every hash stays
  // valid, isolating the structural check under test from the hash check.
  absl::Status InflateWith(absl::string_view type, std::string content) {
    std::string root = bundle_.root_id();
    Rekey(ObjectOfType(type).object_id, std::move(content), &root);
    return InflateMessage(root, contents_).status();
  }
  void Rekey(const std::string& old_id, std::string content, std::string* root) {
    contents_.erase(old_id);
    const std::string new_id = ComputeObjectId(content);
    contents_[new_id] = std::move(content);
    if (old_id == *root) *root = new_id;
    // IDs are all 64 characters: replacing one keeps every head's body length right.
    std::vector<std::pair<std::string, std::string>> parents;
    for (const auto& [id, c] : contents_) {
      if (c.find(old_id) != std::string::npos) parents.emplace_back(id, c);
    }
    for (auto& [id, c] : parents) {
      for (size_t pos; (pos = c.find(old_id)) != std::string::npos;) {
        c.replace(pos, old_id.size(), new_id);
      }
      Rekey(id, c, root);
    }
  }

  const Message message_ = TrainMessage(16);
  ObjectBundle bundle_;
  ObjectContents contents_;
};

TEST_F(InflateBadInputTest, missing_object_is_not_found) {
  contents_.erase(ObjectOfType("ArrayChunk").object_id);
  EXPECT_EQ(InflateMessage(bundle_.root_id(), contents_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(InflateBadInputTest, content_that_does_not_hash_to_its_id_is_rejected) {
  contents_[ObjectOfType("ConfigRecord").object_id].back() ^= 1;
  auto status = InflateMessage(bundle_.root_id(), contents_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("hash"), std::string::npos);
}

TEST_F(InflateBadInputTest, root_of_the_wrong_type_is_rejected) {
  auto status = InflateMessage(ObjectOfType("ArrayRecord").object_id, contents_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(InflateBadInputTest, body_length_mismatch_is_rejected) {
  std::string c = ObjectOfType("ConfigRecord").content();
  c.push_back('x');
  EXPECT_FALSE(InflateWith("ConfigRecord", c).ok());
}

TEST_F(InflateBadInputTest, unknown_type_is_rejected) {
  std::string c = ObjectOfType("ConfigRecord").content();
  c.replace(0, 12, "EvilRecord12");
  EXPECT_FALSE(InflateWith("ConfigRecord", c).ok());
}

TEST_F(InflateBadInputTest, array_body_that_is_not_json_is_rejected) {
  std::string body = "{not json";
  EXPECT_FALSE(
      InflateWith("Array", absl::StrCat("Array  ", body.size(), std::string(1, '\0'), body)).ok());
}

TEST_F(InflateBadInputTest, chunk_index_out_of_range_is_rejected) {
  const std::string chunk = ObjectOfType("ArrayChunk").object_id;
  std::string body = R"({"dtype": "float32", "shape": [16], "stype": "numpy.ndarray", )"
                     R"("arraychunk_ids": [1]})";
  EXPECT_FALSE(InflateWith("Array", absl::StrCat("Array ", chunk, " ", body.size(),
                                                 std::string(1, '\0'), body))
                   .ok());
}

TEST(InflateLimitsTest, repeated_chunk_references_cannot_exceed_the_byte_budget) {
  std::string chunk_content =
      absl::StrCat("ArrayChunk  1000", std::string(1, '\0'), std::string(1000, 'x'));
  std::string chunk_id = ComputeObjectId(chunk_content);
  std::string body = R"({"dtype": "uint8", "shape": [1000000], "stype": "numpy.ndarray", )"
                     R"("arraychunk_ids": [)";
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&body, i ? ", " : "", 0);
  body += "]}";
  std::string array_content =
      absl::StrCat("Array ", chunk_id, " ", body.size(), std::string(1, '\0'), body);
  ObjectContents contents{{chunk_id, chunk_content},
                          {ComputeObjectId(array_content), array_content}};
  InflateOptions options;
  options.max_total_bytes = 100000;
  auto status = InflateArray(ComputeObjectId(array_content), contents, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
}

// Records that reference one another K times would inflate to K*K copies: bounded.
TEST(InflateLimitsTest, repeated_record_references_cannot_exceed_the_element_budget) {
  const std::string nul(1, '\0');
  auto object = [&](absl::string_view type, absl::string_view child, const std::string& body) {
    std::string content = absl::StrCat(type, " ", child, " ", body.size(), nul, body);
    return std::make_pair(ComputeObjectId(content), content);
  };
  auto refs = [](absl::string_view prefix, const std::string& id, int k) {
    std::string body = "{";
    for (int i = 0; i < k; ++i)
      absl::StrAppend(&body, i ? ", " : "", "\"", prefix, i, "\": \"", id, "\"");
    return body + "}";
  };
  auto array = object("Array", "",
                      R"({"dtype": "float32", "shape": [0], "stype": "numpy.ndarray", )"
                      R"("arraychunk_ids": []})");
  auto record = object("ArrayRecord", array.first, refs("k", array.first, 200));
  auto dict = object("RecordDict", record.first, refs("r", record.first, 200));
  ObjectContents contents{array, record, dict};
  InflateOptions options;
  options.max_elements = 10000;
  EXPECT_EQ(InflateRecordDict(dict.first, contents, options).status().code(),
            absl::StatusCode::kResourceExhausted);
  options.max_elements = 1000000;
  auto ok = InflateRecordDict(dict.first, contents, options);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), 200u);
}

TEST(ObjectHeadTest, rejects_malformed_heads) {
  const std::string nul(1, '\0');
  EXPECT_FALSE(ParseObjectHead("no divider").ok());
  EXPECT_FALSE(ParseObjectHead("Array 0" + nul).ok());      // two fields
  EXPECT_FALSE(ParseObjectHead("Array a b 0" + nul).ok());  // four fields
  EXPECT_FALSE(ParseObjectHead("Array xyz 0" + nul).ok());  // bad child id
  EXPECT_FALSE(ParseObjectHead("Array  -1" + nul).ok());    // bad length
  EXPECT_FALSE(ParseObjectHead("Array  99999999999999999999999" + nul).ok());
  EXPECT_TRUE(ParseObjectHead("ArrayChunk  2" + nul + "ab").ok());
}

}  // namespace
}  // namespace flwr::core
