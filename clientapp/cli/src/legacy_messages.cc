#include "flwr/clientapp/legacy_messages.h"

#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/npy.h"

namespace flwr::clientapp {
namespace {

// flwr's EMPTY_TENSOR_KEY: the one entry of the ArrayRecord of Parameters without tensors.
constexpr absl::string_view kEmptyTensorKey = "_empty";

// flwr's compat Code values.
constexpr int64_t kCodeOk = 0;
constexpr int64_t kCodeGetPropertiesNotImplemented = 1;
constexpr int64_t kCodeGetParametersNotImplemented = 2;

// The prefix of the instruction's records: "fitins" / "evaluateins".
absl::string_view InsPrefix(absl::string_view category) {
  return category == "train" ? "fitins" : "evaluateins";
}

// _embed_status_into_recorddict: {"code": int, "message": str} in a ConfigRecord.
core::ConfigRecord Status(int64_t code, std::string message) {
  core::ConfigRecord status;
  status.Set("code", code);
  status.Set("message", std::move(message));
  return status;
}

core::MetricRecord NumExamples(int64_t num_examples) {
  core::MetricRecord record;
  record.Set("num_examples", num_examples);
  return record;
}

// The message-API instruction a handler gets for a legacy one: {"arrays", "config"}.
absl::StatusOr<core::Message> ToMessageApi(absl::string_view category, const LegacyOptions& options,
                                           const core::Message& message) {
  const std::string prefix(InsPrefix(category));
  absl::StatusOr<const core::ArrayRecord*> parameters =
      GetArrayRecord(*message.content, absl::StrCat(prefix, ".parameters"));
  if (!parameters.ok()) return parameters.status();
  absl::StatusOr<const core::ConfigRecord*> config =
      FindConfigRecord(*message.content, absl::StrCat(prefix, ".config"));
  if (!config.ok()) return config.status();
  if (*config == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("The legacy message has no record '", prefix, ".config'"));
  }
  absl::StatusOr<core::ArrayRecord> arrays =
      ArraysFromLegacyParameters(**parameters, options.array_names);
  if (!arrays.ok()) return arrays.status();
  core::Message instruction;
  instruction.metadata = message.metadata;
  instruction.content.emplace();
  instruction.content->Set("arrays", *std::move(arrays));
  instruction.content->Set("config", **config);
  return instruction;
}

absl::StatusOr<const core::MetricRecord*> ReplyMetrics(const core::RecordDict& reply) {
  const core::Record* record = reply.Find("metrics");
  const core::MetricRecord* metrics =
      record == nullptr ? nullptr : std::get_if<core::MetricRecord>(record);
  if (metrics == nullptr) {
    return absl::InvalidArgumentError("The app's reply has no MetricRecord 'metrics'");
  }
  return metrics;
}

absl::StatusOr<int64_t> IntMetric(const core::MetricRecord& metrics, absl::string_view key) {
  const core::MetricValue* value = metrics.Find(key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("The app's reply has no metric '", key, "'"));
  }
  if (const int64_t* i = std::get_if<int64_t>(value)) return *i;
  return absl::InvalidArgumentError(absl::StrCat("The app's metric '", key, "' is not an int"));
}

absl::StatusOr<double> NumberMetric(const core::MetricRecord& metrics, absl::string_view key) {
  const core::MetricValue* value = metrics.Find(key);
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("The app's reply has no metric '", key, "'"));
  }
  if (const double* d = std::get_if<double>(value)) return *d;
  if (const int64_t* i = std::get_if<int64_t>(value)) return static_cast<double>(*i);
  return absl::InvalidArgumentError(absl::StrCat("The app's metric '", key, "' is not a number"));
}

// The metrics other than `skip`, as the ConfigRecord that flwr makes of a metrics dict.
core::ConfigRecord MetricsBut(const core::MetricRecord& metrics, absl::string_view skip) {
  core::ConfigRecord out;
  for (const auto& [key, value] : metrics) {
    if (key == skip) continue;
    out.Set(key, std::visit([](const auto& v) -> core::ConfigValue { return v; }, value));
  }
  return out;
}

}  // namespace

bool IsLegacyInstruction(absl::string_view category, const core::RecordDict& content) {
  if (category != "train" && category != "evaluate") return false;
  return content.Contains(absl::StrCat(InsPrefix(category), ".parameters"));
}

absl::StatusOr<core::ArrayRecord> ArraysFromLegacyParameters(const core::ArrayRecord& parameters,
                                                             absl::Span<const std::string> names) {
  const size_t count = parameters.size() - (parameters.Contains(kEmptyTensorKey) ? 1 : 0);
  if (!names.empty() && count != names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("The legacy Parameters hold ", count,
                                                   " tensors; this app takes ", names.size(), " (",
                                                   absl::StrJoin(names, ", "), ")"));
  }
  core::ArrayRecord arrays;
  size_t index = 0;
  for (const auto& [key, tensor] : parameters) {
    if (key == kEmptyTensorKey) continue;
    if (tensor.stype != core::kStypeNumpy) {
      return absl::InvalidArgumentError(absl::StrCat("Legacy Parameters of tensor_type '",
                                                     tensor.stype, "' are not supported (only '",
                                                     core::kStypeNumpy, "')"));
    }
    absl::StatusOr<core::NpyArray> npy = core::ParseNpy(tensor.data);
    if (!npy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Legacy tensor ", index, " is not .npy: ", npy.status().message()));
    }
    if (npy->fortran_order) {
      return absl::InvalidArgumentError(
          absl::StrCat("Legacy tensor ", index, " is Fortran-ordered (only C order is read)"));
    }
    std::string name = names.empty() ? absl::StrCat(index) : names[index];
    arrays.Set(std::move(name),
               core::Array{npy->dtype.name, npy->shape, tensor.stype, tensor.data});
    ++index;
  }
  return arrays;
}

absl::StatusOr<core::ArrayRecord> LegacyParametersFromArrays(const core::ArrayRecord& arrays) {
  core::ArrayRecord parameters;
  size_t index = 0;
  for (const auto& [name, array] : arrays) {
    if (array.stype != core::kStypeNumpy) {
      return absl::InvalidArgumentError(absl::StrCat("Array '", name, "' has stype '", array.stype,
                                                     "'; legacy Parameters carry '",
                                                     core::kStypeNumpy, "'"));
    }
    parameters.Set(absl::StrCat(index++),
                   core::Array{"", {}, std::string(core::kStypeNumpy), array.data});
  }
  if (parameters.empty()) {
    parameters.Set(std::string(kEmptyTensorKey),
                   core::Array{"", {}, std::string(core::kStypeNumpy), ""});
  }
  return parameters;
}

absl::StatusOr<core::RecordDict> HandleLegacyTrain(const MessageHandler& train,
                                                   const LegacyOptions& options,
                                                   const core::Message& message,
                                                   core::Context& context) {
  absl::StatusOr<core::Message> instruction = ToMessageApi("train", options, message);
  if (!instruction.ok()) return instruction.status();
  absl::StatusOr<core::RecordDict> reply = train(*instruction, context);
  if (!reply.ok()) return reply.status();
  absl::StatusOr<const core::ArrayRecord*> arrays = GetArrayRecord(*reply, "arrays");
  if (!arrays.ok()) return arrays.status();
  absl::StatusOr<const core::MetricRecord*> metrics = ReplyMetrics(*reply);
  if (!metrics.ok()) return metrics.status();
  absl::StatusOr<int64_t> num_examples = IntMetric(**metrics, options.num_examples_metric);
  if (!num_examples.ok()) return num_examples.status();
  absl::StatusOr<core::ArrayRecord> parameters = LegacyParametersFromArrays(**arrays);
  if (!parameters.ok()) return parameters.status();
  // The order of fitres_to_recorddict.
  core::RecordDict out;
  out.Set("fitres.metrics", MetricsBut(**metrics, options.num_examples_metric));
  out.Set("fitres.num_examples", NumExamples(*num_examples));
  out.Set("fitres.parameters", *std::move(parameters));
  out.Set("fitres.status", Status(kCodeOk, "Success"));
  return out;
}

absl::StatusOr<core::RecordDict> HandleLegacyEvaluate(const MessageHandler& evaluate,
                                                      const LegacyOptions& options,
                                                      const core::Message& message,
                                                      core::Context& context) {
  absl::StatusOr<core::Message> instruction = ToMessageApi("evaluate", options, message);
  if (!instruction.ok()) return instruction.status();
  absl::StatusOr<core::RecordDict> reply = evaluate(*instruction, context);
  if (!reply.ok()) return reply.status();
  absl::StatusOr<const core::MetricRecord*> metrics = ReplyMetrics(*reply);
  if (!metrics.ok()) return metrics.status();
  absl::StatusOr<double> loss = NumberMetric(**metrics, options.loss_metric);
  if (!loss.ok()) return loss.status();
  absl::StatusOr<int64_t> num_examples = IntMetric(**metrics, options.num_examples_metric);
  if (!num_examples.ok()) return num_examples.status();
  // The order of evaluateres_to_recorddict.
  core::MetricRecord loss_record;
  loss_record.Set("loss", *loss);
  core::RecordDict out;
  out.Set("evaluateres.loss", std::move(loss_record));
  out.Set("evaluateres.num_examples", NumExamples(*num_examples));
  out.Set("evaluateres.metrics", MetricsBut(**metrics, options.num_examples_metric));
  out.Set("evaluateres.status", Status(kCodeOk, "Success"));
  return out;
}

absl::StatusOr<core::RecordDict> HandleLegacyGetParameters(const LegacyOptions& options,
                                                           const core::Context& context) {
  core::RecordDict out;
  if (!options.initial_arrays) {
    // maybe_call_get_parameters: Parameters(tensor_type="", tensors=[]).
    out.Set("getparametersres.parameters",
            core::ArrayRecord{{std::string(kEmptyTensorKey), core::Array{"", {}, "", ""}}});
    out.Set("getparametersres.status",
            Status(kCodeGetParametersNotImplemented, "Client does not implement `get_parameters`"));
    return out;
  }
  absl::StatusOr<core::ArrayRecord> arrays = options.initial_arrays(context);
  if (!arrays.ok()) return arrays.status();
  absl::StatusOr<core::ArrayRecord> parameters = LegacyParametersFromArrays(*arrays);
  if (!parameters.ok()) return parameters.status();
  out.Set("getparametersres.parameters", *std::move(parameters));
  out.Set("getparametersres.status", Status(kCodeOk, "Success"));
  return out;
}

core::RecordDict LegacyGetPropertiesReply() {
  core::RecordDict out;
  out.Set("getpropertiesres.properties", core::ConfigRecord{});
  out.Set("getpropertiesres.status",
          Status(kCodeGetPropertiesNotImplemented, "Client does not implement `get_properties`"));
  return out;
}

}  // namespace flwr::clientapp
