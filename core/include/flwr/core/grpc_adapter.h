// The GrpcAdapter transport's envelope, `flwr.proto.MessageContainer`, as the pinned flwr fills
// it on both sides (client: flwr/client/grpc_rere_client/grpc_adapter.py of 1.36; server:
// flwr/server/superlink/fleet/grpc_adapter/grpc_adapter_servicer.py): one Fleet message travels
// serialized in `grpc_message_content`, named in `grpc_message_name` by its type's Python
// `__qualname__` (the proto message's name, e.g. "RegisterNodeFleetRequest"), with metadata
// naming the sender's package and version and the message's Python module and qualname.
#ifndef FLWR_CORE_GRPC_ADAPTER_H_
#define FLWR_CORE_GRPC_ADAPTER_H_

#include <google/protobuf/message.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "flwr/proto/grpcadapter.pb.h"

namespace flwr::core {

// flwr's GRPC_ADAPTER_METADATA_SHOULD_EXIT_KEY: a response whose metadata has it "true" tells
// the SuperNode to exit (the stock one raises SIGTERM on itself).
inline constexpr absl::string_view kGrpcAdapterShouldExitKey = "should-exit";

// The Python module of a message type's generated class: "flwr/proto/fleet.proto" ->
// "flwr.proto.fleet_pb2".
std::string PythonProtoModule(const google::protobuf::Descriptor& type);

// `message` in an envelope as flwr sends it, announcing package "flwr" at `flower_version`.
proto::MessageContainer ToMessageContainer(const google::protobuf::Message& message,
                                           absl::string_view flower_version);

// The message of an envelope into `*message` (whose type says what is expected). Unknown with
// flwr's words if the envelope names another type ("Invalid grpc_message_name. Expected X, but
// got Y.") or its content does not parse as `message`'s type ("Error parsing message with type
// 'flwr.proto.X'", as Python protobuf's DecodeError says).
absl::Status FromMessageContainer(const proto::MessageContainer& container,
                                  google::protobuf::Message* message);

}  // namespace flwr::core

#endif  // FLWR_CORE_GRPC_ADAPTER_H_
