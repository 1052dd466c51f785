// What the server binaries (flower-superlink, flower-supernode, flower-superexec) share on
// their command line and around it: the stock version flag, the tables of stock flags they
// recognise but do not implement, the flags they share, argparse's exit statuses, the shutdown
// signals, and reading a file named by a flag.
#ifndef FLWR_CORE_SERVER_CLI_H_
#define FLWR_CORE_SERVER_CLI_H_

#include <signal.h>

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "flwr/core/file_util.h"

namespace flwr::core {

// A stock flag this binary refuses. Using it is a usage error: "<name> is not supported by
// this <component>", or, for a flag stock itself has retired, stock's own words (`help`).
struct UnsupportedFlag {
  const char* name;
  const char* help;
  bool retired = false;
};

// `-V,--version`, printing "Flower version: <pinned version>" as stock.
void AddVersionFlag(CLI::App& app);
// Options (taking a value) that fail as UnsupportedFlag says; `component` is "SuperLink", ...
void AddUnsupportedOptions(CLI::App& app, absl::Span<const UnsupportedFlag> flags,
                           absl::string_view component);

// argparse's `_positive_int` of the stock SuperLink: an integer >= 1, else "value must be >= 1"
// (or "invalid _positive_int value: '<text>'").
CLI::Validator PositiveInt();

// `--superexec-auth-secret-file`, with stock's help, into `file`.
void AddSuperExecAuthSecretFlag(CLI::App& app, std::string& file);

// Parses argv. nullopt to go on; else the status to exit with after CLI11 printed what it
// had to: 0 for --help and --version, 2 for a usage error (as argparse).
std::optional<int> ParseServerArgs(CLI::App& app, int argc, char** argv);

// SIGINT and SIGTERM (and SIGQUIT if `with_sigquit`), blocked in the calling thread and so in
// every thread it starts afterwards; SIGPIPE is ignored. Wait for them with
// WaitForShutdownSignal. Call before starting any thread.
sigset_t BlockShutdownSignals(bool with_sigquit = false);
// Blocks until one of `signals` arrives; returns it.
int WaitForShutdownSignal(const sigset_t& signals);

}  // namespace flwr::core

#endif  // FLWR_CORE_SERVER_CLI_H_
