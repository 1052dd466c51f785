// Flower's Message (Metadata + RecordDict content or Error) and Context, as in `flwr.app`.
#ifndef FLWR_CORE_MESSAGE_H_
#define FLWR_CORE_MESSAGE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "flwr/core/ordered_map.h"
#include "flwr/core/records.h"

namespace flwr::core {

// Default time-to-live of a new message, in seconds (flwr's DEFAULT_TTL, 12 hours).
inline constexpr double kDefaultMessageTtl = 43200.0;

struct Metadata {
  uint64_t run_id = 0;
  std::string message_id;  // the object ID of the message, assigned when it is deflated
  uint64_t src_node_id = 0;
  uint64_t dst_node_id = 0;
  std::string reply_to_message_id;
  std::string group_id;
  double ttl = kDefaultMessageTtl;
  std::string message_type;
  double created_at = 0;  // seconds since the Unix epoch
  std::optional<uint64_t> src_task_id;
  std::optional<uint64_t> dst_task_id;

  friend bool operator==(const Metadata&, const Metadata&) = default;
};

struct Error {
  int64_t code = 0;
  std::string reason;
  friend bool operator==(const Error&, const Error&) = default;
};

// Exactly one of `content` and `error` is set in a well-formed message.
struct Message {
  Metadata metadata;
  std::optional<RecordDict> content;
  std::optional<Error> error;

  friend bool operator==(const Message&, const Message&) = default;
};

// A value of a run config or node config (flwr's UserConfigValue, carried as a Scalar).
using UserConfigValue = std::variant<double, int64_t, uint64_t, bool, std::string, Bytes>;
using UserConfig = OrderedMap<UserConfigValue>;

struct Context {
  uint64_t run_id = 0;
  uint64_t node_id = 0;
  UserConfig node_config;
  RecordDict state;
  UserConfig run_config;
  uint64_t series_id = 0;

  friend bool operator==(const Context&, const Context&) = default;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_MESSAGE_H_
