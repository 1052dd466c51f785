#include "flwr/core/app_launcher.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "flwr/core/fab.h"
#include "flwr/core/logging.h"

namespace flwr::core {

AppLauncher::AppLauncher(AppTaskSource& source, AppLauncherOptions options)
    : source_(source), options_(std::move(options)) {}

AppLauncher::~AppLauncher() { Stop(); }

void AppLauncher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void AppLauncher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  for (Child& child : children_) child.process.Terminate();
  children_.clear();
}

absl::StatusOr<std::string> AppLauncher::ProgramFor(absl::string_view fab_hash) {
  if (options_.native_program.empty() && options_.native_program_env.empty()) {
    return options_.default_program;
  }
  if (auto it = programs_.find(fab_hash); it != programs_.end()) return it->second;
  std::optional<proto::Fab> fab = source_.GetFab(fab_hash);
  // Not cached: the FAB may arrive later.
  if (!fab) return absl::NotFoundError(absl::StrCat("FAB ", fab_hash, " not found"));
  absl::StatusOr<std::string> program = ProgramForFab(fab->content());
  programs_.emplace(std::string(fab_hash), program);
  return program;
}

absl::StatusOr<std::string> AppLauncher::ProgramForFab(absl::string_view content) const {
  absl::StatusOr<FabInfo> info = ParseFab(content);
  if (!info.ok()) return info.status();
  const std::string* native = info->native.Find(options_.native_key);
  if (native == nullptr) return options_.default_program;
  if (options_.native_program.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("The app selects the native ", options_.native_key, " \"", *native,
                     "\" ([tool.flwr.app.native] ", options_.native_key,
                     "), but the native executable is "
                     "not installed here (set ",
                     options_.native_program_env, " to its path)"));
  }
  return options_.native_program;
}

void AppLauncher::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    ReapChildren();
    LaunchPending();
  }
}

void AppLauncher::LaunchPending() {
  while (std::optional<AcquiredTask> acquired = source_.AcquireTask(options_.task_type)) {
    const proto::Task& task = acquired->task;
    const std::string& token = acquired->token;
    absl::StatusOr<std::string> program = ProgramFor(task.fab_hash());
    absl::StatusOr<Subprocess> child = absl::UnknownError("not started");
    if (!program.ok()) {
      child = program.status();
    } else {
      std::vector<std::string> argv = {*program, "--runtime-api-address",
                                       options_.runtime_api_address, "--token", token};
      if (options_.root_certificates.empty()) {
        argv.push_back("--insecure");
      } else {
        argv.insert(argv.end(), {"--root-certificates", options_.root_certificates});
      }
      argv.insert(argv.end(), {"--parent-pid", std::to_string(getpid())});
      if (options_.allow_runtime_dependency_installation) {
        argv.push_back("--allow-runtime-dependency-installation");
      }
      child = Subprocess::Spawn(argv, options_.discard_output);
    }
    if (!child.ok()) {
      const std::string details =
          absl::StrCat("Cannot start the ", options_.native_key, ": ", child.status().message());
      LogError(details);
      source_.FailTask(task.task_id(), details);
      continue;
    }
    children_.push_back(Child{task, *std::move(child)});
  }
}

void AppLauncher::ReapChildren() {
  for (auto it = children_.begin(); it != children_.end();) {
    std::optional<int> exit_status = it->process.Poll();
    if (!exit_status && OutlivedItsTask(*it)) {
      LogWarning(absl::StrCat("Terminating the ", options_.native_key, " process of task ",
                              it->task.task_id(), ": it outlived its task"));
      it->process.Terminate();
      it = children_.erase(it);
      continue;
    }
    if (!exit_status) {
      ++it;
      continue;
    }
    std::optional<proto::Task> task = source_.GetTask(it->task.task_id());
    if (task && task->status().status() != kStatusFinished) {
      const std::string details =
          absl::StrCat("The ", options_.native_key, " process exited with status ", *exit_status,
                       " before finishing its task");
      LogError(details);
      source_.FailTask(task->task_id(), details);
    }
    it = children_.erase(it);
  }
}

bool AppLauncher::OutlivedItsTask(Child& child) {
  std::optional<proto::Task> task = source_.GetTask(child.task.task_id());
  if (!task) return false;
  const std::string& status = task->status().status();
  if (status != kStatusFinished && status != kStatusPending) return false;
  const absl::Time now = absl::Now();
  if (!child.orphaned_since) child.orphaned_since = now;
  return now - *child.orphaned_since >= options_.orphan_grace;
}

}  // namespace flwr::core
