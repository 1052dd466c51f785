#include "flwr/superlink/link_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "flwr/core/ids.h"
#include "flwr/core/iso_time.h"
#include "link_state_util.h"

namespace flwr::superlink {

absl::StatusOr<std::unique_ptr<LinkState>> LinkState::Open(absl::string_view database,
                                                           Clock clock) {
  absl::StatusOr<std::unique_ptr<core::ObjectStore>> store = core::ObjectStore::Open(database);
  if (database == core::kInMemoryDatabase) {
    if (!store.ok()) return store.status();
    return NewInMemoryLinkState(*std::move(store), core::TaskStore::CreateInMemory(clock), clock);
  }
  if (!store.ok()) {
    // The object store says which file and why, on one line.
    if (absl::IsUnavailable(store.status())) return store.status();
    return absl::UnavailableError(absl::StrCat("cannot open SuperLink database '", database,
                                               "': ", store.status().message()));
  }
  return OpenSqliteLinkState(database, *std::move(store), std::move(clock));
}

absl::StatusOr<CreatedRun> LinkState::CreateRun(const NewRun& spec) {
  uint64_t task_id;
  do {
    task_id = core::RandomId();
  } while (task_id == 0 || tasks_->GetTask(task_id));
  // The run first: it shows (GetRun) once its task exists, so the launcher never claims a
  // task whose run is not stored yet.
  absl::StatusOr<CreatedRun> run = InsertRun(spec, task_id);
  if (!run.ok()) return run.status();
  absl::StatusOr<uint64_t> task = tasks_->CreateTask(
      core::NewTask{spec.primary_task_type, run->run_id, spec.fab_hash, task_id});
  if (!task.ok()) return task.status();
  return run;
}

std::optional<proto::Run> LinkState::GetRun(uint64_t run_id) {
  std::optional<proto::Run> run = LoadRun(run_id);
  if (!run || !AddPrimaryTaskStatus(*run)) return std::nullopt;
  return run;
}

std::vector<proto::Run> LinkState::ListRuns(absl::string_view flwr_aid) {
  std::vector<proto::Run> runs = LoadRuns(flwr_aid);
  std::erase_if(runs, [this](proto::Run& run) { return !AddPrimaryTaskStatus(run); });
  // Newest first: latest pending_at, then latest created.
  std::stable_sort(runs.begin(), runs.end(), [](const proto::Run& a, const proto::Run& b) {
    return a.pending_at() > b.pending_at();
  });
  return runs;
}

bool LinkState::StopRun(uint64_t run_id) {
  std::optional<proto::Run> run = LoadRun(run_id);
  if (!run || !tasks_->FinishTask(run->primary_task_id(), kSubStatusStopped, "")) return false;
  CleanupRun(run_id);
  return true;
}

bool LinkState::AddPrimaryTaskStatus(proto::Run& run) {
  std::optional<proto::Task> task = tasks_->GetTask(run.primary_task_id());
  if (!task) return false;
  run.set_pending_at(task->pending_at());
  run.set_starting_at(task->starting_at());
  run.set_running_at(task->running_at());
  run.set_finished_at(task->finished_at());
  run.mutable_status()->set_status(task->status().status());
  run.mutable_status()->set_sub_status(task->status().sub_status());
  run.mutable_status()->set_details(task->status().details());
  return true;
}

proto::Automation LinkState::StoreAutomation(proto::Automation automation,
                                             const proto::StartRunRequest& request) {
  const std::string now = core::FormatIsoUtc(Now());
  automation.set_status(std::string(kAutomationActive));
  automation.set_created_at(now);
  automation.set_updated_at(now);
  automation.set_automation_id(InsertAutomation(automation, request));
  return automation;
}

std::optional<std::pair<proto::StartRunRequest, std::string>> LinkState::ClaimAutomation(
    uint64_t automation_id, absl::string_view previous_next_run_at,
    std::optional<std::string> next_run_at) {
  proto::StartRunRequest request;
  std::string flwr_aid;
  const bool claimed = UpdateAutomation(
      automation_id,
      [&](proto::Automation& automation) {
        if (automation.status() != kAutomationActive ||
            automation.next_run_at() != previous_next_run_at ||
            (automation.has_remaining_runs() && automation.remaining_runs() == 0)) {
          return false;
        }
        if (!next_run_at && (!automation.has_remaining_runs() || automation.remaining_runs() > 1)) {
          return false;
        }
        automation.set_updated_at(core::FormatIsoUtc(Now()));
        if (automation.has_remaining_runs()) {
          automation.set_remaining_runs(automation.remaining_runs() - 1);
        }
        if (next_run_at) automation.set_next_run_at(*next_run_at);
        flwr_aid = automation.flwr_aid();
        return true;
      },
      &request);
  if (!claimed) return std::nullopt;
  return std::make_pair(std::move(request), std::move(flwr_aid));
}

std::vector<proto::Automation> LinkState::ListAutomations(const AutomationFilter& filter) {
  const auto matches = [](const auto& allowed, const auto& value) {
    return !allowed || std::find(allowed->begin(), allowed->end(), value) != allowed->end();
  };
  // flwr compares ISO strings; ours are all UTC with microseconds or none, so compare times.
  const auto time_of = [](const std::string& iso) {
    absl::StatusOr<absl::Time> t = core::ParseIsoTime(iso);
    return t.ok() ? *t : absl::InfiniteFuture();
  };
  std::vector<proto::Automation> out;
  for (proto::Automation& automation : LoadAutomations()) {
    if (!matches(filter.automation_ids, automation.automation_id()) ||
        !matches(filter.federations, automation.federation()) ||
        !matches(filter.statuses, automation.status())) {
      continue;
    }
    if (filter.due_before &&
        (time_of(automation.next_run_at()) > *filter.due_before ||
         (automation.has_remaining_runs() && automation.remaining_runs() == 0))) {
      continue;
    }
    out.push_back(std::move(automation));
  }
  if (filter.order_by_next_run_at) {
    std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
      return time_of(a.next_run_at()) < time_of(b.next_run_at());
    });
  } else {
    std::stable_sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
      return time_of(a.updated_at()) > time_of(b.updated_at());
    });
  }
  if (filter.limit && out.size() > *filter.limit) out.resize(*filter.limit);
  return out;
}

bool LinkState::StopAutomation(uint64_t automation_id) {
  return UpdateAutomation(
      automation_id,
      [this](proto::Automation& automation) {
        if (automation.status() != kAutomationActive) return false;
        const std::string now = core::FormatIsoUtc(Now());
        automation.set_status(std::string(kAutomationStopped));
        automation.set_updated_at(now);
        automation.set_stopped_at(now);
        return true;
      },
      nullptr);
}

bool LinkState::FinishAutomation(uint64_t automation_id, absl::string_view status) {
  return UpdateAutomation(
      automation_id,
      [&](proto::Automation& automation) {
        if (automation.status() != kAutomationActive) return false;
        if (status == kAutomationCompleted &&
            (!automation.has_remaining_runs() || automation.remaining_runs() != 0)) {
          return false;
        }
        automation.set_status(std::string(status));
        automation.set_updated_at(core::FormatIsoUtc(Now()));
        return true;
      },
      nullptr);
}

absl::StatusOr<std::vector<std::string>> LinkState::StoreMessageWithObjectTree(
    absl::string_view session_id, const proto::Message& message, const proto::ObjectTree& tree) {
  absl::WriterMutexLock lock(&message_tree_mu_);
  const proto::Metadata& meta = message.metadata();
  absl::StatusOr<std::string> stored =
      meta.reply_to_message_id().empty() ? StoreMessageIns(message) : StoreMessageRes(message);
  if (!stored.ok()) return stored.status();
  return PreregisterObjectTree(session_id, meta.run_id(), tree);
}

}  // namespace flwr::superlink
