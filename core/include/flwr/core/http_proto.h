// What both sides of "protobuf over HTTP/1.1" (http_proto_server.h, http_proto_client.h) agree
// on: the media types of flwr's `supercore/protobuf/translation.py` and `framing.py`.
#ifndef FLWR_CORE_HTTP_PROTO_H_
#define FLWR_CORE_HTTP_PROTO_H_

#include "absl/strings/string_view.h"

namespace flwr::core {

inline constexpr absl::string_view kProtobufMediaType = "application/protobuf";
inline constexpr absl::string_view kProtobufStreamMediaType = "application/flower-protobuf-stream";

}  // namespace flwr::core

#endif  // FLWR_CORE_HTTP_PROTO_H_
