#include "flwr/core/grpc_adapter.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "flwr/core/runtime_version.h"

namespace flwr::core {
namespace {

// flwr's GRPC_ADAPTER_METADATA_* keys ("flower-version" is the deprecated twin of
// "flower-package-version"; stock still sends both).
constexpr absl::string_view kPackageNameKey = "flower-package-name";
constexpr absl::string_view kPackageVersionKey = "flower-package-version";
constexpr absl::string_view kFlowerVersionKey = "flower-version";
constexpr absl::string_view kMessageModuleKey = "grpc-message-module";
constexpr absl::string_view kMessageQualnameKey = "grpc-message-qualname";

// Python protobuf's DecodeError, as flwr's servicer and client raise it.
absl::Status MessageParseError(const google::protobuf::Descriptor& type) {
  return absl::UnknownError(
      absl::StrCat("Error parsing message with type '", type.full_name(), "'"));
}

}  // namespace

std::string PythonProtoModule(const google::protobuf::Descriptor& type) {
  const absl::string_view file = absl::StripSuffix(type.file()->name(), ".proto");
  return absl::StrCat(absl::StrReplaceAll(file, {{"/", "."}}), "_pb2");
}

proto::MessageContainer ToMessageContainer(const google::protobuf::Message& message,
                                           absl::string_view flower_version) {
  const google::protobuf::Descriptor& type = *message.GetDescriptor();
  proto::MessageContainer container;
  auto& metadata = *container.mutable_metadata();
  metadata[std::string(kPackageNameKey)] = std::string(kFlowerPackageName);
  metadata[std::string(kPackageVersionKey)] = std::string(flower_version);
  metadata[std::string(kFlowerVersionKey)] = std::string(flower_version);
  metadata[std::string(kMessageModuleKey)] = PythonProtoModule(type);
  metadata[std::string(kMessageQualnameKey)] = std::string(type.name());
  container.set_grpc_message_name(std::string(type.name()));
  container.set_grpc_message_content(message.SerializeAsString());
  return container;
}

absl::Status FromMessageContainer(const proto::MessageContainer& container,
                                  google::protobuf::Message* message) {
  const google::protobuf::Descriptor& type = *message->GetDescriptor();
  if (container.grpc_message_name() != type.name()) {
    return absl::UnknownError(absl::StrCat("Invalid grpc_message_name. Expected ", type.name(),
                                           ", but got ", container.grpc_message_name(), "."));
  }
  if (!message->ParseFromString(container.grpc_message_content())) {
    return MessageParseError(type);
  }
  return absl::OkStatus();
}

}  // namespace flwr::core
