#include "flwr/supernode/clientapp_launcher.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/fab.h"
#include "flwr/core/logging.h"
#include "flwr/core/task.h"

namespace flwr::supernode {

ClientAppLauncher::ClientAppLauncher(NodeState* state, ClientAppLauncherOptions options)
    : state_(state), options_(std::move(options)) {}

ClientAppLauncher::~ClientAppLauncher() { Stop(); }

void ClientAppLauncher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void ClientAppLauncher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  for (Child& child : children_) child.process.Terminate();
  children_.clear();
}

absl::StatusOr<std::string> ClientAppLauncher::ProgramFor(absl::string_view fab_hash) const {
  std::optional<proto::Fab> fab = state_->GetFab(fab_hash);
  if (!fab) return absl::NotFoundError(absl::StrCat("FAB ", fab_hash, " not found"));
  absl::StatusOr<core::FabInfo> info = core::ParseFab(fab->content());
  if (!info.ok()) return info.status();
  const std::string* native = info->native.Find("clientapp");
  if (native == nullptr) return options_.python_clientapp;
  if (options_.native_clientapp.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "The app selects the native ClientApp \"", *native,
        "\" ([tool.flwr.app.native] clientapp), but this SuperNode has no native `flwr-clientapp` "
        "(set FLWR_NATIVE_CLIENTAPP to its path)"));
  }
  return options_.native_clientapp;
}

void ClientAppLauncher::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    ReapChildren();
    LaunchPending();
  }
}

void ClientAppLauncher::LaunchPending() {
  for (const proto::Task& task : state_->GetPendingTasks()) {
    std::optional<std::string> token = state_->ClaimTask(task.task_id());
    if (!token) continue;
    absl::StatusOr<std::string> program = ProgramFor(task.fab_hash());
    absl::StatusOr<core::Subprocess> child = absl::UnknownError("not started");
    if (!program.ok()) {
      child = program.status();
    } else {
      std::vector<std::string> argv = {*program,
                                       "--runtime-api-address",
                                       options_.runtime_api_address,
                                       "--token",
                                       *token,
                                       "--insecure",
                                       "--parent-pid",
                                       std::to_string(getpid())};
      if (options_.allow_runtime_dependency_installation) {
        argv.push_back("--allow-runtime-dependency-installation");
      }
      child = core::Subprocess::Spawn(argv);
    }
    if (!child.ok()) {
      const std::string details =
          absl::StrCat("Cannot start the ClientApp: ", child.status().message());
      core::LogError(details);
      state_->FinishTask(task.task_id(), core::kSubStatusFailed, details);
      continue;
    }
    children_.push_back(Child{task.task_id(), *std::move(child)});
  }
}

void ClientAppLauncher::ReapChildren() {
  for (auto it = children_.begin(); it != children_.end();) {
    std::optional<int> exit_status = it->process.Poll();
    if (!exit_status) {
      ++it;
      continue;
    }
    std::optional<proto::Task> task = state_->GetTask(it->task_id);
    if (task && task->status().status() != core::kStatusFinished) {
      const std::string details =
          absl::StrCat("The ClientApp process exited with status ", *exit_status,
                       " before finishing its task");
      core::LogError(details);
      state_->FinishTask(it->task_id, core::kSubStatusFailed, details);
    }
    it = children_.erase(it);
  }
}

}  // namespace flwr::supernode
