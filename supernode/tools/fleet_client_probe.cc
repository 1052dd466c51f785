// fleet_client_probe: drives a FleetClient from a line-based script on stdin, for the interop
// tests (tests/interop/test_fleet_client.py). Usage:
//   fleet_client_probe <superlink-fleet-address> [--grpc-rere] [--root-certificates FILE]
//                      [--max-retries N]
// The Fleet API is HTTP unless --grpc-rere is given.
// Each stdin line is one command; each command prints one JSON line on stdout:
//   connect                 -> {"ok":true,"node_id":N}
//   pull [TIMEOUT_S]        -> polls PullMessage every 0.5 s until an instruction arrives, then
//                              GetRun + GetFab of its run: {"ok":true,"message_id","run_id",
//                              "message_type","fab_hash","fab_size","arrays":{"<record>/<key>":
//                              {"dtype","shape","sha256" (of the raw elements),"sum"}}}
//   reply ADD               -> replies to the last instruction: every float32 array + ADD, and
//                              a MetricRecord "metrics" {"add": ADD}: {"ok":true,"message_id"}
//   heartbeats              -> {"ok":true,"count":N,"status":"OK"}
//   disconnect              -> {"ok":true}
//   quit                    -> exits 0
// A failing command prints {"ok":false,"code":"<absl code>","error":"<status>",
// "run_not_running":bool,"node_rejected":bool}.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "flwr/core/iso_time.h"
#include "flwr/core/npy.h"
#include "flwr/core/sha256.h"
#include "flwr/supernode/fleet_client.h"
#include "nlohmann/json.hpp"

namespace {

using flwr::supernode::FleetClient;
using nlohmann::json;

json Error(const absl::Status& status) {
  return {{"ok", false},
          {"code", absl::StatusCodeToString(status.code())},
          {"error", status.ToString()},
          {"run_not_running", flwr::supernode::IsRunNotRunning(status)},
          {"node_rejected", flwr::supernode::IsNodeRejected(status)}};
}

absl::StatusOr<json> DescribeArrays(const flwr::core::RecordDict& content) {
  json arrays = json::object();
  for (const auto& [name, record] : content) {
    const auto* array_record = std::get_if<flwr::core::ArrayRecord>(&record);
    if (array_record == nullptr) continue;
    for (const auto& [key, array] : *array_record) {
      absl::StatusOr<flwr::core::NpyArray> npy = array.Numpy();
      if (!npy.ok()) return npy.status();
      double sum = 0;
      if (array.dtype == "float32") {
        for (size_t i = 0; i + 4 <= npy->data.size(); i += 4) {
          float v;
          std::memcpy(&v, npy->data.data() + i, 4);
          sum += v;
        }
      }
      arrays[name + "/" + key] = {{"dtype", array.dtype},
                                  {"shape", array.shape},
                                  {"sha256", flwr::core::Sha256Hex(npy->data)},
                                  {"sum", sum}};
    }
  }
  return arrays;
}

absl::StatusOr<flwr::core::Message> MakeReply(const flwr::core::Message& ins, uint64_t node_id,
                                              float add) {
  flwr::core::Message reply;
  flwr::core::RecordDict content;
  for (const auto& [name, record] : *ins.content) {
    const auto* array_record = std::get_if<flwr::core::ArrayRecord>(&record);
    if (array_record == nullptr) continue;
    flwr::core::ArrayRecord out;
    for (const auto& [key, array] : *array_record) {
      if (array.dtype != "float32") {
        out.Set(key, array);
        continue;
      }
      absl::StatusOr<flwr::core::NpyArray> npy = array.Numpy();
      if (!npy.ok()) return npy.status();
      std::vector<float> values(npy->data.size() / 4);
      std::memcpy(values.data(), npy->data.data(), values.size() * 4);
      for (float& v : values) v += add;
      absl::StatusOr<flwr::core::Array> modified =
          flwr::core::Array::FromFloats(values, array.shape);
      if (!modified.ok()) return modified.status();
      out.Set(key, *std::move(modified));
    }
    content.Set(name, std::move(out));
  }
  content.Set("metrics", flwr::core::MetricRecord{{"add", static_cast<double>(add)}});
  reply.content = std::move(content);
  // Message(content, reply_to=ins), as flwr.app.Message builds it.
  const double now = flwr::core::ToEpochSeconds(absl::Now());
  reply.metadata.run_id = ins.metadata.run_id;
  reply.metadata.src_node_id = node_id;
  reply.metadata.dst_node_id = ins.metadata.src_node_id;
  reply.metadata.reply_to_message_id = ins.metadata.message_id;
  reply.metadata.group_id = ins.metadata.group_id;
  reply.metadata.message_type = ins.metadata.message_type;
  reply.metadata.created_at = now;
  reply.metadata.ttl = ins.metadata.created_at + ins.metadata.ttl - now;
  reply.metadata.src_task_id = ins.metadata.dst_task_id;
  reply.metadata.dst_task_id = ins.metadata.src_task_id;
  return reply;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: fleet_client_probe ADDRESS [--grpc-rere] [--root-certificates FILE] "
                 "[--max-retries N]\n";
    return 2;
  }
  flwr::supernode::FleetClientOptions options;
  options.address = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--grpc-rere") {
      options.transport = flwr::supernode::FleetTransportKind::kGrpcRere;
    } else if (flag == "--root-certificates" && i + 1 < argc) {
      std::ifstream in(argv[++i], std::ios::binary);
      std::stringstream buf;
      buf << in.rdbuf();
      options.insecure = false;
      options.root_certificates = buf.str();
    } else if (flag == "--max-retries" && i + 1 < argc) {
      options.max_retries = std::stoi(argv[++i]);
    }
  }
  absl::StatusOr<std::unique_ptr<FleetClient>> client = FleetClient::Create(options);
  if (!client.ok()) {
    std::cout << Error(client.status()).dump() << std::endl;
    return 1;
  }
  std::optional<flwr::supernode::PulledMessage> last;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream words(line);
    std::string command;
    words >> command;
    json out;
    if (command.empty()) continue;
    if (command == "quit") break;
    if (command == "connect") {
      absl::Status s = (*client)->Connect();
      out = s.ok() ? json{{"ok", true}, {"node_id", (*client)->node_id()}} : Error(s);
    } else if (command == "pull") {
      double timeout = 30;
      words >> timeout;
      const absl::Time deadline = absl::Now() + absl::Seconds(timeout);
      absl::StatusOr<std::optional<flwr::supernode::PulledMessage>> pulled;
      while (true) {
        pulled = (*client)->PullMessage();
        if (!pulled.ok() || pulled->has_value() || absl::Now() > deadline) break;
        absl::SleepFor(absl::Milliseconds(500));
      }
      if (!pulled.ok()) {
        out = Error(pulled.status());
      } else if (!pulled->has_value()) {
        out = {{"ok", true}, {"message_id", nullptr}};
      } else {
        last = **std::move(pulled);
        out = {{"ok", true},
               {"message_id", last->message.metadata.message_id},
               {"run_id", last->run_id},
               {"message_type", last->message.metadata.message_type}};
        absl::StatusOr<flwr::proto::Run> run = (*client)->GetRun(last->run_id);
        absl::StatusOr<flwr::proto::Fab> fab =
            run.ok() ? (*client)->GetFab(run->fab_hash(), last->run_id)
                     : absl::StatusOr<flwr::proto::Fab>(run.status());
        absl::StatusOr<json> arrays = last->message.content.has_value()
                                          ? DescribeArrays(*last->message.content)
                                          : absl::StatusOr<json>(json::object());
        if (!fab.ok()) {
          out = Error(fab.status());
        } else if (!arrays.ok()) {
          out = Error(arrays.status());
        } else {
          out["fab_hash"] = fab->hash_str();
          out["fab_size"] = fab->content().size();
          out["arrays"] = *arrays;
        }
      }
    } else if (command == "reply") {
      float add = 1;
      words >> add;
      if (!last.has_value() || !last->message.content.has_value()) {
        out = Error(absl::FailedPreconditionError("no instruction with content pulled"));
      } else {
        absl::StatusOr<flwr::core::Message> reply =
            MakeReply(last->message, (*client)->node_id(), add);
        absl::StatusOr<std::string> id = reply.ok() ? (*client)->PushReply(*reply, 0.25)
                                                    : absl::StatusOr<std::string>(reply.status());
        out = id.ok() ? json{{"ok", true}, {"message_id", *id}} : Error(id.status());
      }
    } else if (command == "heartbeats") {
      out = {{"ok", true},
             {"count", (*client)->heartbeats_sent()},
             {"status", (*client)->heartbeat_status().ToString()}};
    } else if (command == "disconnect") {
      absl::Status s = (*client)->Disconnect();
      out = s.ok() ? json{{"ok", true}} : Error(s);
    } else {
      out = Error(absl::InvalidArgumentError("unknown command: " + command));
    }
    std::cout << out.dump() << std::endl;
  }
  return 0;
}
