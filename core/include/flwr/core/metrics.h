// Prometheus metrics of the server processes (SuperLink, SuperNode), in the text exposition
// format at http://<address>/metrics (prometheus-cpp's pull Exposer; `--metrics-address`).
// Stock Flower has no metrics endpoint: this is ours, off unless asked for.
//
// Every metric is named flwr_<component>_<name>; the ones every server has:
//   requests_total{api,route,code}            API calls answered, by API ("fleet", "control",
//                                             "runtime"), route (HTTP path or gRPC method) and
//                                             code (HTTP status or gRPC status code name)
//   request_duration_seconds{api,route}       their latency (histogram)
//   messages_total{api,direction}             Flower Messages received ("in": the
//                                             `messages_list` of requests) and sent ("out": of
//                                             responses)
//   bytes_total{api,direction}                request ("in") and response ("out") body bytes
// plus the gauges a component adds with AddGauge (read at scrape time) and the histograms it
// adds with AddHistogram.
#ifndef FLWR_CORE_METRICS_H_
#define FLWR_CORE_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "flwr/core/http_proto_server.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/server_interceptor.h"

namespace prometheus {
class Exposer;
class Registry;
class Histogram;
}  // namespace prometheus

namespace flwr::core {

class ServerMetrics {
 public:
  using Labels = std::map<std::string, std::string>;
  // One sample of a gauge: its labels and value.
  struct Sample {
    Labels labels;
    double value = 0;
  };

  // `component`: "superlink" or "supernode".
  explicit ServerMetrics(absl::string_view component);
  ~ServerMetrics();
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // Serves GET /metrics on `address` ("host:port"; port 0 picks a free one, see port()).
  // InvalidArgument for an address without a port, Unavailable if it cannot be bound,
  // FailedPrecondition if already serving. Logs where it serves.
  absl::Status Serve(absl::string_view address);
  // The bound port; 0 before Serve().
  int port() const;

  // Records one answered call (see the table above). Thread-safe.
  void ObserveRequest(absl::string_view api, absl::string_view route, absl::string_view code,
                      absl::Duration latency);
  // Counts the Flower Messages of a request (`in`) or response (out) and its body bytes.
  // Thread-safe.
  void CountBody(absl::string_view api, bool in, const google::protobuf::Message& body,
                 size_t body_bytes);

  // A gauge flwr_<component>_<name> whose samples `read` returns at each scrape (on the
  // scraping thread: it must be thread-safe and quick). Add before Serve().
  void AddGauge(const std::string& name, const std::string& help,
                std::function<std::vector<Sample>()> read);

  // One sample per distinct value of `values`, labelled `label`=value, holding its count: a
  // gauge of things by status.
  static std::vector<Sample> CountBy(const std::string& label,
                                     const std::vector<std::string>& values);

  // A histogram flwr_<component>_<name> (seconds) with prometheus' default-like buckets from
  // 5 ms to 10 min; Observe it through the returned function (thread-safe). Add before
  // Serve().
  std::function<void(absl::Duration)> AddHistogram(const std::string& name,
                                                   const std::string& help);

  // A gRPC server interceptor factory that records every call of the server it is added to
  // (ServerBuilder::experimental().SetInterceptorCreators) as API `api`. The metrics must
  // outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> GrpcInterceptor(
      std::string api);

  // An HttpProtoServerOptions::on_call hook that records every call of that server as the API
  // its path names ("/v1/<api>/..."), else as `api`. The metrics must outlive the server.
  std::function<void(const HttpCall&)> HttpCallRecorder(std::string api);

  // The current exposition text (what GET /metrics answers), for tests and logs.
  std::string Scrape() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_METRICS_H_
