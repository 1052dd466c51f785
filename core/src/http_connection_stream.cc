#include "http_connection_stream.h"

#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <limits>

namespace flwr::core {
namespace {

// The numeric host and port of a socket address, as httplib reports them.
void IpAndPort(const sockaddr_storage& address, socklen_t length, std::string& ip, int& port) {
  if (address.ss_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
  } else if (address.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
  } else {
    return;
  }
  std::array<char, NI_MAXHOST> host{};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host.data(), host.size(),
                  nullptr, 0, NI_NUMERICHOST) == 0) {
    ip = host.data();
  }
}

}  // namespace

ConnectionStream::ConnectionStream(int fd, SSL_CTX* tls, absl::Duration read_timeout,
                                   absl::Duration write_timeout)
    : fd_(fd),
      tls_(tls != nullptr),
      ssl_(tls != nullptr ? SSL_new(tls) : nullptr),
      read_timeout_(read_timeout),
      write_timeout_(write_timeout) {
  if (ssl_ != nullptr) SSL_set_fd(ssl_, fd_);
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    IpAndPort(address, length, remote_ip_, remote_port_);
  }
  length = sizeof(address);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    IpAndPort(address, length, local_ip_, local_port_);
  }
}

ConnectionStream::~ConnectionStream() {
  if (ssl_ != nullptr) {
    if (handshake_done_ && !failed_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // one try: never waits
    }
    ERR_clear_error();  // what it queued must not reach this thread's next connection
    SSL_free(ssl_);
  }
  close(fd_);
}

bool ConnectionStream::Handshake() {
  if (ready()) return true;
  if (ssl_ == nullptr) return false;
  for (;;) {
    ERR_clear_error();  // SSL_get_error reads this thread's queue: only this call's errors
    const int result = SSL_accept(ssl_);
    if (result == 1) return handshake_done_ = true;
    const int error = SSL_get_error(ssl_, result);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      failed_ = true;
      return false;
    }
    if (!Wait(error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, read_timeout_)) return false;
  }
}

bool ConnectionStream::HasBufferedBytes() const {
  return begin_ < end_ || (ssl_ != nullptr && SSL_has_pending(ssl_) == 1);
}

bool ConnectionStream::is_writable() const { return Wait(POLLOUT, write_timeout_); }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (begin_ == end_) {
    // Waiting for the client: what it must see first (a held status line and headers, e.g.
    // a `100 Continue`) goes out now.
    if (!Flush()) return -1;
    if (size >= buffer_.size()) return Transfer(/*reading=*/true, ptr, size);
    const ssize_t n = Transfer(/*reading=*/true, buffer_.data(), buffer_.size());
    if (n <= 0) return n;
    begin_ = 0;
    end_ = static_cast<size_t>(n);
  }
  const size_t n = std::min(size, end_ - begin_);
  std::memcpy(ptr, buffer_.data() + begin_, n);
  begin_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  if (peer_closed_) return -1;
  if (hold_next_write_) {
    hold_next_write_ = false;
    held_.append(ptr, size);  // after the held response of a pipelined request, if any
    return static_cast<ssize_t>(size);
  }
  // A small body goes out with the held headers in one send: one segment, one wakeup of the
  // client. A large one after them (copying it would cost more than the second send).
  constexpr size_t kJoinLimit = size_t{64} << 10;
  if (!held_.empty() && size <= kJoinLimit) {
    held_.append(ptr, size);
    return Flush() ? static_cast<ssize_t>(size) : -1;
  }
  return Flush() && WriteAll(ptr, size) ? static_cast<ssize_t>(size) : -1;
}

bool ConnectionStream::Flush() {
  if (held_.empty()) return true;
  const bool written = WriteAll(held_.data(), held_.size());
  held_.clear();
  return written;
}

bool ConnectionStream::WriteAll(const char* ptr, size_t size) {
  for (size_t written = 0; written < size;) {
    const ssize_t n = Transfer(/*reading=*/false, const_cast<char*>(ptr) + written, size - written);
    if (n <= 0) return false;
    written += static_cast<size_t>(n);
  }
  return true;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = remote_ip_;
  port = remote_port_;
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = local_ip_;
  port = local_port_;
}

ssize_t ConnectionStream::Transfer(bool reading, char* ptr, size_t size) {
  if (!ready()) return -1;
  const absl::Duration timeout = reading ? read_timeout_ : write_timeout_;
  for (;;) {
    short wait_for;
    if (ssl_ != nullptr) {
      const int chunk = static_cast<int>(std::min<size_t>(size, INT_MAX));
      ERR_clear_error();  // SSL_get_error reads this thread's queue: only this call's errors
      const int n = reading ? SSL_read(ssl_, ptr, chunk) : SSL_write(ssl_, ptr, chunk);
      if (n > 0) return n;
      const int error = SSL_get_error(ssl_, n);
      if (error == SSL_ERROR_ZERO_RETURN) {
        peer_closed_ = reading;
        return 0;
      }
      if (error == SSL_ERROR_WANT_READ) {
        wait_for = POLLIN;
      } else if (error == SSL_ERROR_WANT_WRITE) {
        wait_for = POLLOUT;
      } else {
        failed_ = true;
        return -1;
      }
    } else {
      const ssize_t n = reading ? recv(fd_, ptr, size, 0) : send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n > 0) return n;
      if (n == 0) {
        peer_closed_ = reading;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      wait_for = reading ? POLLIN : POLLOUT;
    }
    if (!Wait(wait_for, timeout)) return -1;
  }
}

bool ConnectionStream::Wait(short events, absl::Duration timeout) const {
  pollfd entry{fd_, events, 0};
  const int timeout_ms = static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(timeout), std::numeric_limits<int>::max()));
  for (;;) {
    const int ready = poll(&entry, 1, timeout_ms);
    if (ready >= 0) return ready > 0;
    if (errno != EINTR) return false;
  }
}

}  // namespace flwr::core
