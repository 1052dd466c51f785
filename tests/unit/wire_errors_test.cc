#include "flwr/core/wire_errors.h"

#include <gtest/gtest.h>

#include "flwr/core/flower_error.h"
#include "flwr/core/wire_errors_grpc.h"

namespace flwr::core {
namespace {

TEST(WireErrorsTest, GrpcDetailsAreJsonDumpsBytes) {
  const grpc::Status status = ToGrpcStatus(FlowerError(api_error::kRunIdNotFound, "secret"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            R"({"code": 16, "public_message": "Run ID not found.", "public_details": null})");
}

TEST(WireErrorsTest, GrpcDetailsEscapeAsciiOnly) {
  const grpc::Status status =
      ToGrpcStatus(FlowerError(api_error::kRuntimeVersionIncompatible, "m", "caf\xC3\xA9 \"q\"\n"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(),
            R"({"code": 1001, "public_message": "Runtime version compatibility check failed.", )"
            R"("public_details": "caf\u00e9 \"q\"\n"})");
}

TEST(WireErrorsTest, GrpcHidesUnknownCodesAndServerFaults) {
  grpc::Status status = ToGrpcStatus(FlowerError(4242, "m"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), "Internal server error.");
  status = ToGrpcStatus(absl::InternalError("/var/db locked"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), "Internal server error.");
  status = ToGrpcStatus(absl::InvalidArgumentError("`run_id` must be positive"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "`run_id` must be positive");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(WireErrorsTest, GrpcRoundTrip) {
  const absl::Status status =
      FromGrpcStatus(ToGrpcStatus(FlowerError(api_error::kNoPermissions, "internal", "why")));
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(FlowerErrorCode(status), 9);
  EXPECT_EQ(status.message(), "You do not have permission to perform this action.");
  EXPECT_EQ(FlowerErrorPublicDetails(status), "why");

  const absl::Status plain = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  EXPECT_EQ(plain, absl::UnavailableError("down"));
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(WireErrorsTest, FromGrpcKeepsTransportCodeForCodesOutsideTheCatalogue) {
  const absl::Status status = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::ABORTED,
                   R"({"code": 4242, "public_message": "New.", "public_details": null})"));
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(FlowerErrorCode(status), 4242);
  EXPECT_EQ(status.message(), "New.");
}

TEST(WireErrorsTest, HttpBodyIsStarletteJsonResponseBytes) {
  HttpError error = ToHttpError(FlowerError(api_error::kRuntimeAuthenticationFailed, "no token"));
  EXPECT_EQ(error.status, 401);
  EXPECT_EQ(error.body, R"({"code":1008,"detail":"Authentication failed."})");
  EXPECT_TRUE(error.headers.empty());

  error = ToHttpError(FlowerError(api_error::kRuntimeVersionIncompatible, "m", "caf\xC3\xA9\x01"));
  EXPECT_EQ(error.status, 412);
  EXPECT_EQ(error.body,
            "{\"code\":1001,\"detail\":\"Runtime version compatibility check failed.\","
            "\"extra\":\"caf\xC3\xA9\\u0001\"}");

  // Bytes that are not UTF-8 go out as bytes.decode("utf-8", "replace") would.
  error = ToHttpError(absl::InvalidArgumentError("\x7F\xE2\x80\xA8\xFF\xE2\x82"));
  EXPECT_EQ(error.body, "{\"detail\":\"\x7F\xE2\x80\xA8\xEF\xBF\xBD\xEF\xBF\xBD\"}");
}

TEST(WireErrorsTest, HttpCarriesCatalogueHeaders) {
  const HttpError error = ToHttpError(FlowerError(api_error::kAccountAuthenticationFailed, "m"));
  EXPECT_EQ(error.status, 401);
  ASSERT_EQ(error.headers.size(), 1u);
  EXPECT_EQ(error.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(error.headers[0].second, "Bearer");
}

TEST(WireErrorsTest, HttpPlainErrors) {
  struct Case {
    absl::Status status;
    int http;
    const char* body;
  };
  const Case cases[] = {
      {absl::InvalidArgumentError("bad \"x\""), 400, R"({"detail":"bad \"x\""})"},
      {absl::NotFoundError("n"), 404, R"({"detail":"n"})"},
      {absl::FailedPreconditionError("f"), 412, R"({"detail":"f"})"},
      {absl::PermissionDeniedError("p"), 403, R"({"detail":"p"})"},
      {absl::UnauthenticatedError("u"), 401, R"({"detail":"u"})"},
      {absl::ResourceExhaustedError("r"), 413, R"({"detail":"r"})"},
      {absl::UnimplementedError("i"), 501, R"({"detail":"i"})"},
      {absl::UnavailableError("a"), 503, R"({"detail":"a"})"},
      {absl::AbortedError("b"), 500, R"({"detail":"b"})"},
      {absl::InternalError("/secret"), 500, R"({"detail":"Internal server error."})"},
      {absl::DataLossError("/secret"), 500, R"({"detail":"Internal server error."})"},
      {FlowerError(4242, "m"), 500, R"({"detail":"Internal server error."})"},
      {absl::OkStatus(), 500, R"({"detail":"Internal server error."})"},
  };
  for (const Case& c : cases) {
    const HttpError error = ToHttpError(c.status);
    EXPECT_EQ(error.status, c.http) << c.status;
    EXPECT_EQ(error.body, c.body) << c.status;
  }
}

TEST(WireErrorsTest, FromHttpAcceptsBothKeyStyles) {
  absl::Status status = FromHttpError(404, R"({"code":16,"detail":"Run ID not found."})");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(FlowerErrorCode(status), 16);
  EXPECT_EQ(status.message(), "Run ID not found.");
  EXPECT_EQ(FlowerErrorPublicDetails(status), std::nullopt);

  status = FromHttpError(
      412, R"({"code": 1001, "public_message": "P.", "public_details": "d", "detail": "no"})");
  EXPECT_EQ(FlowerErrorCode(status), 1001);
  EXPECT_EQ(status.message(), "P.");
  EXPECT_EQ(FlowerErrorPublicDetails(status), "d");

  status = FromHttpError(412, R"({"code":1001,"detail":"D.","extra":null})");
  EXPECT_EQ(FlowerErrorCode(status), 1001);
  EXPECT_EQ(FlowerErrorPublicDetails(status), std::nullopt);
}

TEST(WireErrorsTest, FromHttpRejectsWhatFromJsonRejects) {
  for (const char* body : {
           R"({"code":true,"detail":"x"})",
           R"({"code":16.0,"detail":"x"})",
           R"({"code":"16","detail":"x"})",
           R"({"code":16,"detail":5})",
           R"({"code":16,"detail":"x","extra":5})",
           R"({"code":16,"public_message":null,"detail":"x"})",
           R"([16,"x"])",
       }) {
    const absl::Status status = FromHttpError(404, body);
    EXPECT_EQ(FlowerErrorCode(status), std::nullopt) << body;
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << body;
  }
}

TEST(WireErrorsTest, FromHttpPlainBodies) {
  EXPECT_EQ(FromHttpError(404, R"({"detail":"Not Found"})"), absl::NotFoundError("Not Found"));
  EXPECT_EQ(FromHttpError(405, R"({"detail":"Method Not Allowed"})"),
            absl::UnimplementedError("Method Not Allowed"));
  EXPECT_EQ(FromHttpError(502, "<html>bad gateway</html>"),
            absl::InternalError("HTTP 502: <html>bad gateway</html>"));
  EXPECT_EQ(FromHttpError(504, "").code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(FromHttpError(418, "").code(), absl::StatusCode::kInvalidArgument);
  // Plain errors survive the round trip.
  const absl::Status original = absl::FailedPreconditionError("Run is not running");
  const HttpError error = ToHttpError(original);
  EXPECT_EQ(FromHttpError(error.status, error.body), original);
}

}  // namespace
}  // namespace flwr::core
