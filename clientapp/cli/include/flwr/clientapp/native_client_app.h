// Native (C++) ClientApps and how the C++ `flwr-clientapp` picks one for a FAB.
//
// A FAB selects its native ClientApp in pyproject.toml, beside the Python components that
// stock Flower uses (and ignores this table):
//
//     [tool.flwr.app.native]
//     clientapp = "cifar-cnn"
//
// The C++ `flwr-clientapp` runs native apps only: a FAB without that key, or naming an app
// this build lacks, gets an error reply (LOAD_CLIENT_APP_EXCEPTION) that names the requested
// app and the available ones. Python ClientApps run under the stock Python `flwr-clientapp`.
#ifndef FLWR_CLIENTAPP_NATIVE_CLIENT_APP_H_
#define FLWR_CLIENTAPP_NATIVE_CLIENT_APP_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "flwr/core/fab.h"
#include "flwr/core/message.h"

namespace flwr::clientapp {

// Handles one instruction and returns the reply's content. An error status becomes an error
// reply (CLIENT_APP_RAISED_EXCEPTION) whose reason carries its message.
using MessageHandler =
    std::function<absl::StatusOr<core::RecordDict>(const core::Message&, core::Context&)>;

// How a native app also serves legacy ServerApps (`flwr.server.ServerApp(server_fn=...)` with a
// `flwr.server.strategy`), which send the content layout of flwr's `Client`/`NumPyClient`
// (legacy_messages.h). The app's message-API handlers do the work; the legacy layout is
// translated around them.
struct LegacyOptions {
  // Names given to the legacy Parameters' tensors, in order, before a handler sees them
  // (Parameters carry no names). Empty: "0", "1", ... (as flwr's parameters_to_arrayrecord).
  std::vector<std::string> array_names;
  // The reply metric that becomes FitRes/EvaluateRes num_examples (and leaves their metrics).
  std::string num_examples_metric = "num-examples";
  // The evaluate reply metric that becomes EvaluateRes loss (it stays in the metrics too).
  std::string loss_metric = "eval_loss";
  // The app's initial arrays, the answer to "get_parameters". Unset: answered as a NumPyClient
  // without get_parameters answers (status GET_PARAMETERS_NOT_IMPLEMENTED, no tensors).
  std::function<absl::StatusOr<core::ArrayRecord>(const core::Context&)> initial_arrays;
};

// A ClientApp as flwr's `ClientApp`: handlers by message category ("train", "evaluate",
// "query") and action ("default" unless the message type is "<category>.<action>").
class NativeClientApp {
 public:
  // Registers `handler` for "<category>.<action>" (replacing an earlier one).
  void Register(absl::string_view category, absl::string_view action, MessageHandler handler);

  // Also serves legacy messages, as a stock `NumPyClient` behind `client_fn` does: "train" /
  // "evaluate" whose content is FitIns / EvaluateIns ("fitins.parameters", "fitins.config" /
  // "evaluateins.*") go through the registered handlers and are answered with FitRes /
  // EvaluateRes; "get_parameters" and "get_properties" are answered as `options` says.
  void ServeLegacyMessages(LegacyOptions options);

  // Dispatches as flwr's ClientApp.__call__. InvalidArgument "Invalid message type: <type>"
  // for a type that is not "<category>" or "<category>.<identifier>" with category train,
  // evaluate, query or system (or, when serving legacy messages, "get_parameters" or
  // "get_properties"); InvalidArgument "No <category> function registered with name
  // '<action>'" when nothing handles it; otherwise the handler's result.
  absl::StatusOr<core::RecordDict> Handle(const core::Message& message,
                                          core::Context& context) const;

 private:
  std::map<std::string, MessageHandler> handlers_;
  std::optional<LegacyOptions> legacy_;
};

// A new app, or why it cannot be made (e.g. its module cannot be loaded).
using NativeClientAppFactory = std::function<absl::StatusOr<std::unique_ptr<NativeClientApp>>()>;

// Native ClientApps by name. Not thread-safe while being filled.
class NativeClientAppRegistry {
 public:
  void Add(std::string name, NativeClientAppFactory factory);
  // The registered names, sorted.
  std::vector<std::string> Names() const;
  // A new app; NotFound for an unknown name, else the factory's error.
  absl::StatusOr<std::unique_ptr<NativeClientApp>> Create(absl::string_view name) const;

 private:
  std::map<std::string, NativeClientAppFactory, std::less<>> factories_;
};

// Every native ClientApp of this build: "numpy-echo", built in, and "cifar-cnn" (the CNN on
// libtorch, flwr::cnn), which lives in the module flwr-clientapp-cnn.so beside the executable
// ($FLWR_CLIENTAPP_CNN_MODULE overrides its path; native_module.h), loaded when first created:
// a process that runs numpy-echo never maps libtorch.
const NativeClientAppRegistry& BuiltinClientApps();

// The app the FAB selects ([tool.flwr.app.native] clientapp). FailedPrecondition with a
// message that names the requested app and the available ones when the FAB is unreadable,
// selects none, or selects one the registry lacks or cannot make (its module is missing).
absl::StatusOr<std::unique_ptr<NativeClientApp>> LoadNativeClientApp(
    const NativeClientAppRegistry& registry, absl::string_view fab_content);

// What the ClientApp process does with one pulled instruction, as flwr's run_clientapp:
// the reply to push, the task's sub_status and details, and the exit code.
struct ClientAppOutcome {
  core::Message reply;
  std::string sub_status;  // "completed" | "failed"
  std::string details;     // "" or the error reason
  int exit_code = 0;       // 0 or TASK_PROC_EXCEPTION (800)
};

// Loads the FAB's native app and runs it on `message` with `context` (which the app may
// change). A load failure gives an error reply with code LOAD_CLIENT_APP_EXCEPTION; an app
// error gives code CLIENT_APP_RAISED_EXCEPTION with reason "<class '...'>:<'message'>", as
// flwr formats Python exceptions. Both are logged as "ClientApp raised an exception".
ClientAppOutcome RunNativeClientApp(const NativeClientAppRegistry& registry,
                                    absl::string_view fab_content, const core::Message& message,
                                    core::Context& context);

// Helpers for native apps: typed lookups in a Context's configs and a message's records.
// Each returns InvalidArgument naming the key when the value is missing or of another type.
absl::StatusOr<int64_t> ConfigInt(const core::UserConfig& config, absl::string_view key);
absl::StatusOr<double> ConfigDouble(const core::UserConfig& config, absl::string_view key);
absl::StatusOr<std::string> ConfigString(const core::UserConfig& config, absl::string_view key);
// The ArrayRecord / ConfigRecord stored under `key` in `content`.
absl::StatusOr<const core::ArrayRecord*> GetArrayRecord(const core::RecordDict& content,
                                                        absl::string_view key);
// nullptr when absent (a ConfigRecord is optional in stock messages).
absl::StatusOr<const core::ConfigRecord*> FindConfigRecord(const core::RecordDict& content,
                                                           absl::string_view key);
// A number in a ConfigRecord (int or float), or nullopt when absent.
absl::StatusOr<std::optional<double>> ConfigRecordNumber(const core::ConfigRecord& record,
                                                         absl::string_view key);

}  // namespace flwr::clientapp

#endif  // FLWR_CLIENTAPP_NATIVE_CLIENT_APP_H_
