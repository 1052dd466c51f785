#include "flwr/core/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <exception>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "flwr/core/logging.h"
#include "grpcpp/support/status_code_enum.h"

namespace flwr::core {
namespace {

// Seconds, 5 ms to 10 min: API calls take milliseconds, rounds and ClientApp runs minutes.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* const buckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return *buckets;
}

// grpc::StatusCode as its canonical name ("OK", "UNAVAILABLE", ...).
std::string GrpcCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : absl::StrCat(i);
}

// Gauges whose samples are read at scrape time.
class ScrapeTimeGauges : public prometheus::Collectable {
 public:
  void Add(prometheus::MetricFamily family,
           std::function<std::vector<ServerMetrics::Sample>()> read) {
    absl::MutexLock lock(&mu_);
    gauges_.emplace_back(std::move(family), std::move(read));
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    absl::MutexLock lock(&mu_);
    for (const auto& [family, read] : gauges_) {
      prometheus::MetricFamily f = family;
      for (const ServerMetrics::Sample& sample : read()) {
        prometheus::ClientMetric metric;
        for (const auto& [name, value] : sample.labels) metric.label.push_back({name, value});
        metric.gauge.value = sample.value;
        f.metric.push_back(std::move(metric));
      }
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<
      std::pair<prometheus::MetricFamily, std::function<std::vector<ServerMetrics::Sample>()>>>
      gauges_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

class ServerMetrics::Impl {
 public:
  explicit Impl(absl::string_view component)
      : prefix_(absl::StrCat("flwr_", component, "_")),
        registry_(std::make_shared<prometheus::Registry>()),
        gauges_(std::make_shared<ScrapeTimeGauges>()),
        requests_(prometheus::BuildCounter()
                      .Name(prefix_ + "requests_total")
                      .Help("API calls answered, by API, route and status code")
                      .Register(*registry_)),
        durations_(prometheus::BuildHistogram()
                       .Name(prefix_ + "request_duration_seconds")
                       .Help("Latency of API calls, by API and route")
                       .Register(*registry_)),
        messages_(prometheus::BuildCounter()
                      .Name(prefix_ + "messages_total")
                      .Help("Flower Messages received (in) and sent (out), by API")
                      .Register(*registry_)),
        bytes_(prometheus::BuildCounter()
                   .Name(prefix_ + "bytes_total")
                   .Help("Request (in) and response (out) body bytes, by API")
                   .Register(*registry_)) {}

  // Each series is looked up in its family once, then kept: finding one builds and hashes its
  // label map, which cost as much as the rest of a Fleet call's bookkeeping.

  void Count(absl::string_view api, bool in, size_t messages, size_t bytes) {
    absl::MutexLock lock(&series_mu_);
    DirectionSeries& series = direction_series_[absl::StrCat(api, in ? " in" : " out")];
    const auto labels = [&]() -> prometheus::Labels {
      return {{"api", std::string(api)}, {"direction", in ? "in" : "out"}};
    };
    if (series.bytes == nullptr) series.bytes = &bytes_.Add(labels());
    series.bytes->Increment(static_cast<double>(bytes));
    if (messages == 0) return;  // a messages series appears with the first message it counts
    if (series.messages == nullptr) series.messages = &messages_.Add(labels());
    series.messages->Increment(static_cast<double>(messages));
  }

  void ObserveRequest(absl::string_view api, absl::string_view route, absl::string_view code,
                      absl::Duration latency) {
    absl::MutexLock lock(&series_mu_);
    auto [it, added] = request_series_.try_emplace(absl::StrCat(api, " ", route, " ", code));
    RequestSeries& series = it->second;
    if (added) {
      const std::string api_s(api), route_s(route);
      series.requests =
          &requests_.Add({{"api", api_s}, {"route", route_s}, {"code", std::string(code)}});
      series.duration = &durations_.Add({{"api", api_s}, {"route", route_s}}, DurationBuckets());
    }
    series.requests->Increment();
    series.duration->Observe(absl::ToDoubleSeconds(latency));
  }

  // The series kept (owned by their families, which never remove them), by "api direction" and
  // by "api route code".
  struct DirectionSeries {
    prometheus::Counter* bytes = nullptr;
    prometheus::Counter* messages = nullptr;
  };
  struct RequestSeries {
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* duration = nullptr;
  };
  absl::Mutex series_mu_;
  absl::flat_hash_map<std::string, DirectionSeries> direction_series_ ABSL_GUARDED_BY(series_mu_);
  absl::flat_hash_map<std::string, RequestSeries> request_series_ ABSL_GUARDED_BY(series_mu_);

  const std::string prefix_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ScrapeTimeGauges> gauges_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& messages_;
  prometheus::Family<prometheus::Counter>& bytes_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

namespace {

// Records each call of a gRPC server: latency from the first hook to the status sent, request and
// response message and byte counts.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(ServerMetrics* metrics, const std::string* api,
                     grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics), api_(api), method_(info->method()), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (const auto* message =
              static_cast<const google::protobuf::Message*>(methods->GetRecvMessage())) {
        metrics_->CountBody(*api_, /*in=*/true, *message, message->ByteSizeLong());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (const auto* message =
              static_cast<const google::protobuf::Message*>(methods->GetSendMessage())) {
        metrics_->CountBody(*api_, /*in=*/false, *message, message->ByteSizeLong());
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->ObserveRequest(*api_, method_, GrpcCodeName(methods->GetSendStatus().error_code()),
                               absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  ServerMetrics* metrics_;
  const std::string* api_;
  std::string method_;
  absl::Time start_;
};

class MetricsInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  MetricsInterceptorFactory(ServerMetrics* metrics, std::string api)
      : metrics_(metrics), api_(std::move(api)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, &api_, info);
  }

 private:
  ServerMetrics* metrics_;
  std::string api_;
};

}  // namespace

ServerMetrics::ServerMetrics(absl::string_view component)
    : impl_(std::make_shared<Impl>(component)) {}

ServerMetrics::~ServerMetrics() = default;

absl::Status ServerMetrics::Serve(absl::string_view address) {
  if (impl_->exposer_ != nullptr) return absl::FailedPreconditionError("already serving metrics");
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid metrics address '", address, "' (expected HOST:PORT)"));
  }
  try {
    impl_->exposer_ = std::make_unique<prometheus::Exposer>(std::string(address), 1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  impl_->exposer_->RegisterCollectable(impl_->registry_);
  impl_->exposer_->RegisterCollectable(impl_->gauges_);
  const std::vector<int> ports = impl_->exposer_->GetListeningPorts();
  impl_->port_ = ports.empty() ? 0 : ports.front();
  LogInfo(absl::StrCat("Serving Prometheus metrics on http://", address, "/metrics"));
  return absl::OkStatus();
}

int ServerMetrics::port() const { return impl_->port_; }

void ServerMetrics::ObserveRequest(absl::string_view api, absl::string_view route,
                                   absl::string_view code, absl::Duration latency) {
  impl_->ObserveRequest(api, route, code, latency);
}

void ServerMetrics::CountBody(absl::string_view api, bool in, const google::protobuf::Message& body,
                              size_t body_bytes) {
  impl_->Count(api, in, CountFlowerMessages(body), body_bytes);
}

std::function<void(const HttpCall&)> ServerMetrics::HttpCallRecorder(std::string api) {
  return [this, fallback = std::move(api)](const HttpCall& call) {
    std::string api = fallback;
    if (absl::StartsWith(call.path, "/v1/")) {
      api = std::string(call.path.substr(4, call.path.find('/', 4) - 4));
    }
    impl_->Count(api, /*in=*/true, call.request_messages, call.request_bytes);
    impl_->Count(api, /*in=*/false, call.response_messages, call.response_bytes);
    impl_->ObserveRequest(api, call.path, absl::StrCat(call.status), call.latency);
  };
}

void ServerMetrics::AddGauge(const std::string& name, const std::string& help,
                             std::function<std::vector<Sample>()> read) {
  prometheus::MetricFamily family;
  family.name = impl_->prefix_ + name;
  family.help = help;
  family.type = prometheus::MetricType::Gauge;
  impl_->gauges_->Add(std::move(family), std::move(read));
}

std::vector<ServerMetrics::Sample> ServerMetrics::CountBy(const std::string& label,
                                                          const std::vector<std::string>& values) {
  std::map<std::string, int> counts;
  for (const std::string& value : values) ++counts[value];
  std::vector<Sample> samples;
  for (const auto& [value, n] : counts) samples.push_back({{{label, value}}, double(n)});
  return samples;
}

std::function<void(absl::Duration)> ServerMetrics::AddHistogram(const std::string& name,
                                                                const std::string& help) {
  prometheus::Histogram& histogram = prometheus::BuildHistogram()
                                         .Name(impl_->prefix_ + name)
                                         .Help(help)
                                         .Register(*impl_->registry_)
                                         .Add({}, DurationBuckets());
  return
      [&histogram, keep = impl_](absl::Duration d) { histogram.Observe(absl::ToDoubleSeconds(d)); };
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetrics::GrpcInterceptor(std::string api) {
  return std::make_unique<MetricsInterceptorFactory>(this, std::move(api));
}

std::string ServerMetrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry_->Collect();
  for (prometheus::MetricFamily& f : impl_->gauges_->Collect()) families.push_back(std::move(f));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace flwr::core
