// The legacy content layout of flwr 1.36's `Client`/`NumPyClient` messages, as
// flwr/compat/common/recorddict_compat.py builds it, for native apps that also serve legacy
// ServerApps (NativeClientApp::ServeLegacyMessages):
//
//   "train"          {"fitins.parameters": Parameters, "fitins.config": ConfigRecord}
//     reply          {"fitres.metrics": ConfigRecord, "fitres.num_examples": {"num_examples"},
//                     "fitres.parameters": Parameters, "fitres.status": {"code", "message"}}
//   "evaluate"       {"evaluateins.parameters": Parameters, "evaluateins.config": ConfigRecord}
//     reply          {"evaluateres.loss": {"loss"}, "evaluateres.num_examples": {"num_examples"},
//                     "evaluateres.metrics": ConfigRecord, "evaluateres.status": {...}}
//   "get_parameters" {"getparametersins.config": ConfigRecord}
//     reply          {"getparametersres.parameters": Parameters, "getparametersres.status": {...}}
//   "get_properties" {"getpropertiesins.config": ConfigRecord}
//     reply          {"getpropertiesres.properties": ConfigRecord, "getpropertiesres.status":
//     {...}}
//
// Parameters travel as an ArrayRecord keyed "0", "1", ...: each Array has dtype "", shape ()
// and the tensor's `np.save` bytes (stype "numpy.ndarray"); no tensors: one "_empty" Array.
#ifndef FLWR_CLIENTAPP_LEGACY_MESSAGES_H_
#define FLWR_CLIENTAPP_LEGACY_MESSAGES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "flwr/clientapp/native_client_app.h"
#include "flwr/core/message.h"

namespace flwr::clientapp {

// flwr's MessageTypeLegacy.
inline constexpr absl::string_view kLegacyGetParameters = "get_parameters";
inline constexpr absl::string_view kLegacyGetProperties = "get_properties";

// True when `content` of a message of `category` ("train" or "evaluate") is in the legacy
// layout: it holds "fitins.parameters" / "evaluateins.parameters".
bool IsLegacyInstruction(absl::string_view category, const core::RecordDict& content);

// Legacy Parameters as named numpy Arrays: the i-th tensor becomes `names[i]` ("<i>" when
// `names` is empty) with the dtype and shape of its `.npy` header and the same bytes.
// InvalidArgument for a tensor type other than "numpy.ndarray", bytes that are not `.npy` (or
// are Fortran-ordered), or a tensor count other than names.size().
absl::StatusOr<core::ArrayRecord> ArraysFromLegacyParameters(const core::ArrayRecord& parameters,
                                                             absl::Span<const std::string> names);

// `arrays` as legacy Parameters, exactly as flwr's ndarrays_to_parameters followed by
// parameters_to_arrayrecord build them. InvalidArgument for an Array whose stype is not
// "numpy.ndarray".
absl::StatusOr<core::ArrayRecord> LegacyParametersFromArrays(const core::ArrayRecord& arrays);

// A legacy "train" (FitIns) answered with `train`, a message-API handler: it gets
// {"arrays": the Parameters as ArraysFromLegacyParameters names them, "config": the FitIns
// config} and its reply {"arrays", "metrics"} becomes FitRes: parameters from "arrays",
// num_examples from the metric options.num_examples_metric (an int), metrics the other metrics,
// status OK "Success". InvalidArgument for a malformed instruction or handler reply; the
// handler's own errors as they are.
absl::StatusOr<core::RecordDict> HandleLegacyTrain(const MessageHandler& train,
                                                   const LegacyOptions& options,
                                                   const core::Message& message,
                                                   core::Context& context);

// A legacy "evaluate" (EvaluateIns) answered with `evaluate`, as HandleLegacyTrain does; its
// reply {"metrics"} becomes EvaluateRes: loss from the metric options.loss_metric,
// num_examples from options.num_examples_metric, metrics all but the latter.
absl::StatusOr<core::RecordDict> HandleLegacyEvaluate(const MessageHandler& evaluate,
                                                      const LegacyOptions& options,
                                                      const core::Message& message,
                                                      core::Context& context);

// GetParametersRes: options.initial_arrays(context) as Parameters with status OK "Success", or,
// without initial_arrays, what a NumPyClient lacking get_parameters answers (code 2, no
// tensors). Errors of initial_arrays as they are.
absl::StatusOr<core::RecordDict> HandleLegacyGetParameters(const LegacyOptions& options,
                                                           const core::Context& context);

// GetPropertiesRes of a NumPyClient lacking get_properties: no properties, code 1.
core::RecordDict LegacyGetPropertiesReply();

}  // namespace flwr::clientapp

#endif  // FLWR_CLIENTAPP_LEGACY_MESSAGES_H_
