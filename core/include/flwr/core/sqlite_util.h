// Helpers of our SQLite states (SQLiteCpp): how values are stored, and one transaction per call.
// uint64 IDs are stored bit for bit as int64; absl::Time values as integer nanoseconds since
// the epoch. Include only where SQLiteCpp is linked.
#ifndef FLWR_CORE_SQLITE_UTIL_H_
#define FLWR_CORE_SQLITE_UTIL_H_

#include <SQLiteCpp/SQLiteCpp.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "flwr/core/logging.h"

namespace flwr::core::sqlite {

inline int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }
inline uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v); }
inline int64_t TimeToSql(absl::Time t) { return absl::ToUnixNanos(t); }
inline absl::Time TimeFromSql(int64_t ns) { return absl::FromUnixNanos(ns); }

// The bytes of a TEXT or BLOB column (empty for NULL).
inline std::string Bytes(const SQLite::Column& column) {
  const void* data = column.getBlob();
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

inline uint64_t Id(const SQLite::Column& column) { return FromSql(column.getInt64()); }

inline void BindId(SQLite::Statement& statement, int index, uint64_t id) {
  statement.bind(index, ToSql(id));
}

inline void BindText(SQLite::Statement& statement, int index, absl::string_view text) {
  statement.bind(index, std::string(text));
}

// As a BLOB, even when empty (SQLite binds a null pointer as NULL).
inline void BindBlob(SQLite::Statement& statement, int index, absl::string_view bytes) {
  static constexpr char kEmpty[1] = {0};
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    throw std::length_error("value too large for the database");
  }
  statement.bind(index, bytes.empty() ? kEmpty : bytes.data(), static_cast<int>(bytes.size()));
}

inline constexpr SQLite::TransactionBehavior kRead = SQLite::TransactionBehavior::DEFERRED;
// For calls that may write: a read-then-write never fails on a concurrent writer.
inline constexpr SQLite::TransactionBehavior kWrite = SQLite::TransactionBehavior::IMMEDIATE;

// Runs `fn` under `mu` in one transaction on `db`, committed whatever `fn` returns. A database
// error rolls the transaction back, is logged as "<what> database error in <op>: ..." and
// yields on_error(message).
template <typename T, typename Fn, typename OnError>
T InTransaction(absl::Mutex& mu, SQLite::Database& db, absl::string_view what, absl::string_view op,
                SQLite::TransactionBehavior behavior, Fn fn, OnError on_error) {
  absl::MutexLock lock(&mu);
  try {
    SQLite::Transaction txn(db, behavior);
    T out = fn();
    txn.commit();
    return out;
  } catch (const std::exception& e) {
    std::string error = absl::StrCat(what, " database error in ", op, ": ", e.what());
    LogError(error);
    return on_error(error);
  }
}

}  // namespace flwr::core::sqlite

#endif  // FLWR_CORE_SQLITE_UTIL_H_
