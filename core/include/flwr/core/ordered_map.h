// An insertion-ordered string-keyed map with Python `dict` semantics.
//
// Flower's records are Python dicts: their iteration order is insertion order, and that order
// is part of the wire format (JSON bodies, protobuf item lists, object trees). Replacing the
// value of an existing key keeps the key's original position, as in Python.
#ifndef FLWR_CORE_ORDERED_MAP_H_
#define FLWR_CORE_ORDERED_MAP_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace flwr::core {

template <typename V>
class OrderedMap {
 public:
  using Entry = std::pair<std::string, V>;
  using const_iterator = typename std::vector<Entry>::const_iterator;
  using iterator = typename std::vector<Entry>::iterator;

  OrderedMap() = default;
  OrderedMap(std::initializer_list<Entry> entries) {
    for (const auto& e : entries) Set(e.first, e.second);
  }

  // Inserts `key` at the end, or replaces the value of an existing `key` in place.
  // Returns a reference to the stored value, valid until the next mutation.
  V& Set(std::string key, V value) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      entries_[it->second].second = std::move(value);
      return entries_[it->second].second;
    }
    index_.emplace(key, entries_.size());
    entries_.emplace_back(std::move(key), std::move(value));
    return entries_.back().second;
  }

  // Returns the value stored under `key`, or nullptr if there is none.
  const V* Find(absl::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  V* Find(absl::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  bool Contains(absl::string_view key) const { return index_.contains(key); }

  // Removes `key`; returns false if it was absent. Later entries keep their relative order.
  bool Erase(absl::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
    index_.clear();
    for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
    return true;
  }

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }

  // Equal when both hold the same keys in the same order with equal values.
  friend bool operator==(const OrderedMap& a, const OrderedMap& b) {
    return a.entries_ == b.entries_;
  }

 private:
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;
};

}  // namespace flwr::core

#endif  // FLWR_CORE_ORDERED_MAP_H_
