// ConnectionStream: one accepted HTTP/1.1 connection of HttpProtoServer as the httplib::Stream
// that httplib's request parser and response writer use: a non-blocking TCP socket, optionally
// under TLS, with a read buffer that lasts as long as the connection.
//
// httplib's SocketStream lives for one httplib-owned connection loop; this one outlives each
// request, so that a kept-alive connection can wait for its next request under the server's epoll
// set instead of on a worker thread. Its buffer matters twice: httplib reads request lines byte
// by byte (a syscall each without a buffer), and the bytes of a pipelined next request that
// arrive with the current one must be served, not lost (HasBufferedBytes()).
#ifndef FLWR_CORE_SRC_HTTP_CONNECTION_STREAM_H_
#define FLWR_CORE_SRC_HTTP_CONNECTION_STREAM_H_

#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "httplib_internal.h"

namespace flwr::core {

// Not thread-safe: one worker at a time uses it (the server hands a connection to one worker).
class ConnectionStream : public httplib::Stream {
 public:
  // Takes ownership of `fd`, a connected non-blocking socket. `tls`: the server's context for
  // a TLS connection (Handshake() then runs the server side of the handshake), or nullptr.
  // Each wait for the socket to become readable (writable) is limited to `read_timeout`
  // (`write_timeout`); the handshake counts as reading.
  ConnectionStream(int fd, SSL_CTX* tls, absl::Duration read_timeout, absl::Duration write_timeout);
  ~ConnectionStream() override;  // Sends TLS close_notify if it can, and closes the socket.

  ConnectionStream(const ConnectionStream&) = delete;
  ConnectionStream& operator=(const ConnectionStream&) = delete;

  // True once the connection can carry requests: always for plain HTTP, after a successful
  // Handshake() for TLS.
  bool ready() const { return !tls_ || handshake_done_; }
  // Runs (or continues) the TLS handshake. False if it failed or timed out (close the
  // connection then).
  bool Handshake();
  // True if bytes already received wait in this stream's buffer (or in OpenSSL's): the next
  // request can be parsed without waiting for the socket.
  bool HasBufferedBytes() const;
  int fd() const { return fd_; }
  // Holds the next write (a response's status line and headers) until the one after it (its
  // body), so that both go out in one send, or until Flush(), or until the stream must wait
  // for the client. For a response written whole; a streamed one sends its headers at once.
  void HoldNextWrite() { hold_next_write_ = true; }
  // Sends what is held. False if the connection failed.
  bool Flush();

  // httplib::Stream. is_readable() is HasBufferedBytes(): it never waits. socket() is
  // INVALID_SOCKET: httplib (built without CPPHTTPLIB_USE_POLL) answers 500 to a request on a
  // descriptor >= FD_SETSIZE because its own select() could not wait on it; this stream waits
  // with poll(), so the number does not matter, and httplib uses it for nothing else.
  bool is_readable() const override { return HasBufferedBytes(); }
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return INVALID_SOCKET; }

 private:
  // One recv/send (SSL_read/SSL_write), waiting for the socket as needed. >0: bytes moved;
  // 0: the peer closed; -1: error or timeout.
  ssize_t Transfer(bool reading, char* ptr, size_t size);
  // Sends all `size` bytes. False if the connection failed.
  bool WriteAll(const char* ptr, size_t size);
  // Waits up to `timeout` for poll `events` on the socket.
  bool Wait(short events, absl::Duration timeout) const;

  const int fd_;
  const bool tls_;
  SSL* const ssl_;  // nullptr: plain, or SSL_new failed
  const absl::Duration read_timeout_;
  const absl::Duration write_timeout_;
  bool handshake_done_ = false;
  bool failed_ = false;  // a fatal TLS error: no close_notify
  // The client ended its side. Nothing is written then: a request cut short by the client's end
  // (a body shorter than its Content-Length, one too large that httplib skips) is dropped
  // without an answer, as uvicorn drops it (httplib's SocketStream refuses to write to such a
  // peer too).
  bool peer_closed_ = false;
  std::string remote_ip_;
  int remote_port_ = 0;
  std::string local_ip_;
  int local_port_ = 0;
  bool hold_next_write_ = false;
  std::string held_;  // written, not yet sent (see HoldNextWrite())
  // httplib's own SocketStream buffers 4 KiB too.
  std::array<char, 4096> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_SRC_HTTP_CONNECTION_STREAM_H_
