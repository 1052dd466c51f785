#include "flwr/core/npy.h"

#include <gtest/gtest.h>

#include <string>

namespace flwr::core {
namespace {

std::string Raw(std::initializer_list<float> values) {
  return std::string(reinterpret_cast<const char*>(values.begin()), values.size() * 4);
}

TEST(NpyTest, encode_float32_matrix_matches_numpy_header_layout) {
  DType f4 = *DTypeFromName("float32");
  auto npy = EncodeNpy(f4, {2, 2}, Raw({1, 2, 3, 4}));
  ASSERT_TRUE(npy.ok()) << npy.status();
  // Magic, version 1.0, header padded with spaces and a newline to a 64-byte boundary.
  EXPECT_EQ(npy->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ((npy->size() - 16) % 64, 0u);
  EXPECT_NE(npy->find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"),
            std::string::npos);
  EXPECT_EQ((*npy)[npy->size() - 16 - 1], '\n');  // the header ends right before the data
}

TEST(NpyTest, parse_returns_what_encode_wrote) {
  DType i8 = *DTypeFromName("int64");
  std::string raw(3 * 8, '\x07');
  auto npy = EncodeNpy(i8, {3}, raw);
  ASSERT_TRUE(npy.ok());
  auto parsed = ParseNpy(*npy);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->dtype.name, "int64");
  EXPECT_EQ(parsed->shape, std::vector<int64_t>{3});
  EXPECT_FALSE(parsed->fortran_order);
  EXPECT_EQ(parsed->data, raw);
}

TEST(NpyTest, scalar_shape_is_empty_tuple) {
  auto npy = EncodeNpy(*DTypeFromName("float64"), {}, std::string(8, '\0'));
  ASSERT_TRUE(npy.ok());
  EXPECT_NE(npy->find("'shape': (), }"), std::string::npos);
  EXPECT_TRUE(ParseNpy(*npy).ok());
}

TEST(NpyTest, dtype_names_map_to_numpy_descrs) {
  EXPECT_EQ(DTypeFromName("bool")->descr, "|b1");
  EXPECT_EQ(DTypeFromName("uint8")->descr, "|u1");
  EXPECT_EQ(DTypeFromName("complex128")->descr, "<c16");
  EXPECT_EQ(DTypeFromName("datetime64[ms]")->descr, "<M8[ms]");
  EXPECT_EQ(DTypeFromName("<U5")->itemsize, 20u);
  EXPECT_EQ(DTypeFromName(">f4")->descr, ">f4");
  EXPECT_FALSE(DTypeFromName("<f4").ok());  // numpy prints that dtype as "float32"
  EXPECT_FALSE(DTypeFromName("object").ok());
  EXPECT_EQ(DTypeFromDescr("<S5")->descr, "|S5");
}

TEST(NpyTest, non_canonical_descrs_numpy_rejects_or_rewrites_are_rejected) {
  for (const char* descr : {"<f4 ", "<f04", "<f+4", "<f 4", "|b1    ", "<i8\n", "<M8[1s]",
                            "<M8[01s]", "<M8[generic]", "<m8[2generic]", "<U05"}) {
    EXPECT_FALSE(DTypeFromDescr(descr).ok()) << descr;
  }
  EXPECT_EQ(DTypeFromDescr("<M8[10s]")->name, "datetime64[10s]");
  EXPECT_FALSE(DTypeFromName("datetime64[1s]").ok());
  EXPECT_FALSE(DTypeFromName(">f04").ok());
  EXPECT_FALSE(DTypeFromName("float33").ok());
}

TEST(NpyTest, encode_rejects_data_that_does_not_match_shape) {
  EXPECT_FALSE(EncodeNpy(*DTypeFromName("float32"), {3}, Raw({1, 2})).ok());
  EXPECT_FALSE(EncodeNpy(*DTypeFromName("float32"), {-1}, "").ok());
}

class NpyBadInputTest : public ::testing::TestWithParam<std::string> {};

std::string WithHeader(const std::string& header, const std::string& data = "") {
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  out.append(header);
  out.append(data);
  return out;
}

TEST_P(NpyBadInputTest, parse_returns_invalid_argument_without_crashing) {
  auto parsed = ParseNpy(GetParam());
  EXPECT_FALSE(parsed.ok());
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, NpyBadInputTest,
    ::testing::Values(
        std::string(""), std::string("\x93NUMPY"), std::string("NOTNUMPY\x01\x00\x00\x00"),
        std::string("\x93NUMPY\x09\x00\x00\x00", 10),
        WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "12345678X"),
        WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "1234"),
        WithHeader("{'descr': '<f4', 'fortran_order': False, }"),
        WithHeader("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (), }", "1234"),
        WithHeader("{'descr': 'O', 'fortran_order': False, 'shape': (), }", "12345678"),
        WithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (), }"),
        WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
        WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': "
                   "(9999999999, 9999999999, 9999999999), }"),
        WithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", "1234"),
        WithHeader("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"),
        std::string("\x93NUMPY\x01\x00\xff\xff", 10)));

}  // namespace
}  // namespace flwr::core
