#include "flwr/core/flower_error.h"

#include <gtest/gtest.h>

namespace flwr::core {
namespace {

TEST(FlowerErrorTest, CarriesCodeDetailsAndCatalogueStatusCode) {
  const absl::Status status = FlowerError(api_error::kRunIdNotFound, "run 7 not in state", "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "run 7 not in state");
  EXPECT_EQ(FlowerErrorCode(status), 16);
  EXPECT_EQ(FlowerErrorPublicDetails(status), "x");
}

TEST(FlowerErrorTest, DetailsAreOptionalAndMayBeEmpty) {
  EXPECT_EQ(FlowerErrorPublicDetails(FlowerError(api_error::kRuntimeAuthenticationFailed, "m")),
            std::nullopt);
  EXPECT_EQ(FlowerErrorPublicDetails(FlowerError(api_error::kRunIdNotFound, "m", "")), "");
}

TEST(FlowerErrorTest, UnknownCodeIsInternal) {
  const absl::Status status = FlowerError(9999, "m");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(FlowerErrorCode(status), 9999);
  EXPECT_EQ(FindFlowerErrorSpec(9999), nullptr);
}

TEST(FlowerErrorTest, PlainStatusesAreNotFlowerErrors) {
  EXPECT_EQ(FlowerErrorCode(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(FlowerErrorCode(absl::NotFoundError("x")), std::nullopt);
  EXPECT_EQ(FlowerErrorPublicDetails(absl::NotFoundError("x")), std::nullopt);
}

TEST(FlowerErrorTest, CatalogueEntriesMatchTheDocumentedTable) {
  struct Row {
    int code;
    absl::StatusCode grpc;
    int http;
    const char* message;
  };
  const Row rows[] = {
      {2, absl::StatusCode::kNotFound, 404,
       "Federation not found, archived, or you cannot perform this action."},
      {14, absl::StatusCode::kInternal, 500, "Failed to create or initialize the run."},
      {16, absl::StatusCode::kNotFound, 404, "Run ID not found."},
      {19, absl::StatusCode::kUnimplemented, 501,
       "ControlServicer initialized without account authentication."},
      {1001, absl::StatusCode::kFailedPrecondition, 412,
       "Runtime version compatibility check failed."},
      {1002, absl::StatusCode::kInvalidArgument, 415, "Unsupported Content-Type."},
      {1003, absl::StatusCode::kInvalidArgument, 400, "Invalid protobuf payload."},
      {1008, absl::StatusCode::kUnauthenticated, 401, "Authentication failed."},
      {2003, absl::StatusCode::kInvalidArgument, 400, "Invalid heartbeat interval."},
      {3005, absl::StatusCode::kPermissionDenied, 403,
       "Some Runtime API endpoints are only available for Deployment Runtime runs."},
      {3014, absl::StatusCode::kPermissionDenied, 403,
       "Message run ID does not match the authenticated task."},
  };
  for (const Row& row : rows) {
    const FlowerErrorSpec* spec = FindFlowerErrorSpec(row.code);
    ASSERT_NE(spec, nullptr) << row.code;
    EXPECT_EQ(spec->code, row.code);
    EXPECT_EQ(spec->grpc_code, row.grpc) << row.code;
    EXPECT_EQ(spec->http_status, row.http) << row.code;
    EXPECT_EQ(spec->public_message, row.message) << row.code;
    EXPECT_TRUE(spec->http_header_name.empty()) << row.code;
  }
  const FlowerErrorSpec* bearer = FindFlowerErrorSpec(api_error::kAccountAuthenticationFailed);
  ASSERT_NE(bearer, nullptr);
  EXPECT_EQ(bearer->http_header_name, "WWW-Authenticate");
  EXPECT_EQ(bearer->http_header_value, "Bearer");
  EXPECT_EQ(FindFlowerErrorSpec(0), nullptr);
  EXPECT_EQ(FindFlowerErrorSpec(2010), nullptr);  // deleted upstream
  EXPECT_EQ(FindFlowerErrorSpec(-1), nullptr);
}

}  // namespace
}  // namespace flwr::core
