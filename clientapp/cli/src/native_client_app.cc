#include "flwr/clientapp/native_client_app.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/clientapp/legacy_messages.h"
#include "flwr/core/app_runtime_client.h"
#include "flwr/core/logging.h"

namespace flwr::clientapp {
namespace {

constexpr absl::string_view kDefaultAction = "default";

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    // Python's str.isidentifier also accepts non-ASCII letters; message types are ASCII.
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

bool IsCategory(absl::string_view s) {
  return s == "train" || s == "evaluate" || s == "query" || s == core::kSystemMessageType;
}

// flwr's validate_message_type.
bool IsValidMessageType(absl::string_view type) {
  if (IsCategory(type)) return true;
  const size_t dot = type.find('.');
  if (dot == absl::string_view::npos || type.find('.', dot + 1) != absl::string_view::npos) {
    return false;
  }
  return IsCategory(type.substr(0, dot)) && IsIdentifier(type.substr(dot + 1));
}

// How flwr renders an exception as an error reason: str(type(ex)) + ":<'" + str(ex) + "'>".
std::string PythonStyleReason(const absl::Status& status) {
  const absl::string_view type = status.code() == absl::StatusCode::kInvalidArgument ||
                                         status.code() == absl::StatusCode::kFailedPrecondition ||
                                         status.code() == absl::StatusCode::kOutOfRange
                                     ? "<class 'ValueError'>"
                                 : status.code() == absl::StatusCode::kNotFound
                                     ? "<class 'FileNotFoundError'>"
                                     : "<class 'RuntimeError'>";
  return absl::StrCat(type, ":<'", status.message(), "'>");
}

template <typename T>
absl::StatusOr<T> ConfigValue(const core::UserConfig& config, absl::string_view key,
                              absl::string_view type_name) {
  const core::UserConfigValue* value = config.Find(key);
  if (value == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("Missing config key '", key, "'"));
  if (const T* typed = std::get_if<T>(value)) return *typed;
  return absl::InvalidArgumentError(
      absl::StrCat("Config key '", key, "' is not of type ", type_name));
}

}  // namespace

void NativeClientApp::Register(absl::string_view category, absl::string_view action,
                               MessageHandler handler) {
  handlers_[absl::StrCat(category, ".", action)] = std::move(handler);
}

void NativeClientApp::ServeLegacyMessages(LegacyOptions options) { legacy_ = std::move(options); }

absl::StatusOr<core::RecordDict> NativeClientApp::Handle(const core::Message& message,
                                                         core::Context& context) const {
  const std::string& type = message.metadata.message_type;
  if (legacy_.has_value() && (type == kLegacyGetParameters || type == kLegacyGetProperties)) {
    if (!message.content.has_value()) {
      return absl::InvalidArgumentError("The instruction carries an error, not content");
    }
    if (type == kLegacyGetProperties) return LegacyGetPropertiesReply();
    return HandleLegacyGetParameters(*legacy_, context);
  }
  if (!IsValidMessageType(type)) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid message type: ", type));
  }
  std::string category = type;
  std::string action(kDefaultAction);
  if (const size_t dot = type.find('.'); dot != std::string::npos) {
    category = type.substr(0, dot);
    action = type.substr(dot + 1);
  }
  auto it = handlers_.find(absl::StrCat(category, ".", action));
  if (it == handlers_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("No ", category, " function registered with name '", action, "'"));
  }
  if (!message.content.has_value()) {
    return absl::InvalidArgumentError("The instruction carries an error, not content");
  }
  if (legacy_.has_value() && IsLegacyInstruction(category, *message.content)) {
    return category == "train" ? HandleLegacyTrain(it->second, *legacy_, message, context)
                               : HandleLegacyEvaluate(it->second, *legacy_, message, context);
  }
  return it->second(message, context);
}

void NativeClientAppRegistry::Add(std::string name, NativeClientAppFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

std::vector<std::string> NativeClientAppRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, factory] : factories_) names.push_back(name);
  return names;
}

absl::StatusOr<std::unique_ptr<NativeClientApp>> NativeClientAppRegistry::Create(
    absl::string_view name) const {
  auto it = factories_.find(name);
  if (it == factories_.end()) {
    return absl::NotFoundError(absl::StrCat("no native ClientApp '", name, "'"));
  }
  return it->second();
}

absl::StatusOr<std::unique_ptr<NativeClientApp>> LoadNativeClientApp(
    const NativeClientAppRegistry& registry, absl::string_view fab_content) {
  const std::string available =
      absl::StrCat("available native ClientApps: ", absl::StrJoin(registry.Names(), ", "));
  absl::StatusOr<core::FabInfo> info = core::ParseFab(fab_content);
  if (!info.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the FAB cannot be read (", info.status().message(), "); ", available));
  }
  const std::string* name = info->native.Find("clientapp");
  if (name == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the FAB selects no native ClientApp ([tool.flwr.app.native] clientapp is not set); "
        "this C++ flwr-clientapp runs native ClientApps only (",
        available, "); run Python ClientApps with the stock flwr-clientapp"));
  }
  absl::StatusOr<std::unique_ptr<NativeClientApp>> app = registry.Create(*name);
  if (absl::IsNotFound(app.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the FAB requests native ClientApp '", *name,
        "' ([tool.flwr.app.native] clientapp), which this flwr-clientapp does not have (",
        available, ")"));
  }
  if (!app.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the FAB requests native ClientApp '", *name,
        "' ([tool.flwr.app.native] clientapp), which cannot be loaded: ", app.status().message()));
  }
  core::LogInfo(absl::StrCat("Running native ClientApp '", *name, "'"));
  return app;
}

ClientAppOutcome RunNativeClientApp(const NativeClientAppRegistry& registry,
                                    absl::string_view fab_content, const core::Message& message,
                                    core::Context& context) {
  ClientAppOutcome outcome;
  auto fail = [&](int64_t code, std::string reason, const absl::Status& status) {
    core::LogError(absl::StrCat("ClientApp raised an exception\n", status.ToString()));
    outcome.reply = core::MakeReply(message, std::nullopt, core::Error{code, reason});
    outcome.sub_status = "failed";
    outcome.details = std::move(reason);
    outcome.exit_code = core::exit_code::kTaskProcException;
    return outcome;
  };
  absl::StatusOr<std::unique_ptr<NativeClientApp>> app = LoadNativeClientApp(registry, fab_content);
  if (!app.ok()) {
    return fail(core::kErrorCodeLoadClientAppException,
                absl::StrCat("An exception was raised when attempting to load `ClientApp`: ",
                             app.status().message()),
                app.status());
  }
  absl::StatusOr<core::RecordDict> content = (*app)->Handle(message, context);
  if (!content.ok()) {
    return fail(core::kErrorCodeClientAppRaisedException, PythonStyleReason(content.status()),
                content.status());
  }
  outcome.reply = core::MakeReply(message, *std::move(content));
  outcome.sub_status = "completed";
  return outcome;
}

absl::StatusOr<int64_t> ConfigInt(const core::UserConfig& config, absl::string_view key) {
  return ConfigValue<int64_t>(config, key, "int");
}

absl::StatusOr<double> ConfigDouble(const core::UserConfig& config, absl::string_view key) {
  const core::UserConfigValue* value = config.Find(key);
  if (value != nullptr) {
    if (const int64_t* i = std::get_if<int64_t>(value)) return static_cast<double>(*i);
  }
  return ConfigValue<double>(config, key, "float");
}

absl::StatusOr<std::string> ConfigString(const core::UserConfig& config, absl::string_view key) {
  return ConfigValue<std::string>(config, key, "str");
}

absl::StatusOr<const core::ArrayRecord*> GetArrayRecord(const core::RecordDict& content,
                                                        absl::string_view key) {
  const core::Record* record = content.Find(key);
  if (record == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("The message has no record '", key, "'"));
  }
  const core::ArrayRecord* arrays = std::get_if<core::ArrayRecord>(record);
  if (arrays == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Record '", key, "' is not an ArrayRecord"));
  }
  return arrays;
}

absl::StatusOr<const core::ConfigRecord*> FindConfigRecord(const core::RecordDict& content,
                                                           absl::string_view key) {
  const core::Record* record = content.Find(key);
  if (record == nullptr) return nullptr;
  const core::ConfigRecord* config = std::get_if<core::ConfigRecord>(record);
  if (config == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("Record '", key, "' is not a ConfigRecord"));
  }
  return config;
}

absl::StatusOr<std::optional<double>> ConfigRecordNumber(const core::ConfigRecord& record,
                                                         absl::string_view key) {
  const core::ConfigValue* value = record.Find(key);
  if (value == nullptr) return std::optional<double>();
  if (const double* d = std::get_if<double>(value)) return std::optional<double>(*d);
  if (const int64_t* i = std::get_if<int64_t>(value)) {
    return std::optional<double>(static_cast<double>(*i));
  }
  if (const uint64_t* u = std::get_if<uint64_t>(value)) {
    return std::optional<double>(static_cast<double>(*u));
  }
  return absl::InvalidArgumentError(absl::StrCat("ConfigRecord key '", key, "' is not a number"));
}

}  // namespace flwr::clientapp
