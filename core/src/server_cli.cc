#include "flwr/core/server_cli.h"

#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "flwr/core/runtime_version.h"

namespace flwr::core {
namespace {

// Why `flag` fails.
std::string Refusal(const UnsupportedFlag& flag, absl::string_view component) {
  if (flag.retired) return flag.help;
  return absl::StrCat("is not supported by this ", component);
}

}  // namespace

void AddVersionFlag(CLI::App& app) {
  app.set_version_flag("-V,--version", absl::StrCat("Flower version: ", PinnedFlowerVersion()),
                       "show program's version number and exit");
}

void AddUnsupportedOptions(CLI::App& app, absl::Span<const UnsupportedFlag> flags,
                           absl::string_view component) {
  for (const UnsupportedFlag& flag : flags) {
    app.add_option_function<std::string>(
        flag.name,
        [name = std::string(flag.name), reason = Refusal(flag, component)](const std::string&) {
          throw CLI::ValidationError(name, reason);
        },
        flag.help);
  }
}

CLI::Validator PositiveInt() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        int value = 0;
        if (!absl::SimpleAtoi(text, &value)) {
          return absl::StrCat("invalid _positive_int value: '", text, "'");
        }
        return value < 1 ? "value must be >= 1" : "";
      },
      "INT>=1");
}

void AddSuperExecAuthSecretFlag(CLI::App& app, std::string& file) {
  app.add_option("--superexec-auth-secret-file", file,
                 "Path to a file containing the SuperExec shared secret. The file is read as "
                 "exact raw bytes.");
}

std::optional<int> ParseServerArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit with 2, as argparse does; --help and --version with 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

sigset_t BlockShutdownSignals(bool with_sigquit) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (with_sigquit) sigaddset(&signals, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return signals;
}

int WaitForShutdownSignal(const sigset_t& signals) {
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace flwr::core
