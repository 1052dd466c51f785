#include "toml_value.h"

#include <algorithm>
#include <sstream>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "toml++/toml.h"

namespace flwr::core::internal {
namespace {

template <typename T>
std::string Streamed(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

TomlValue Convert(const toml::node& node);

TomlValue ConvertTable(const toml::table& table) {
  // toml++ orders keys by name; tomli by first appearance. Each key remembers where it first
  // appeared, which restores the document order.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  entries.reserve(table.size());
  for (const auto& [key, node] : table) entries.emplace_back(&key, &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first->source().begin < b.first->source().begin;
  });
  TomlValue out;
  out.kind = TomlValue::Kind::kTable;
  for (const auto& [key, node] : entries) {
    out.keys.emplace_back(key->str());
    out.items.push_back(Convert(*node));
  }
  return out;
}

TomlValue Convert(const toml::node& node) {
  TomlValue out;
  switch (node.type()) {
    case toml::node_type::table:
      return ConvertTable(*node.as_table());
    case toml::node_type::array:
      out.kind = TomlValue::Kind::kArray;
      for (const toml::node& element : *node.as_array()) out.items.push_back(Convert(element));
      break;
    case toml::node_type::string:
      out.kind = TomlValue::Kind::kString;
      out.string = node.as_string()->get();
      break;
    case toml::node_type::integer:
      out.kind = TomlValue::Kind::kInteger;
      out.integer = node.as_integer()->get();
      break;
    case toml::node_type::floating_point:
      out.kind = TomlValue::Kind::kFloat;
      out.floating = node.as_floating_point()->get();
      break;
    case toml::node_type::boolean:
      out.kind = TomlValue::Kind::kBool;
      out.boolean = node.as_boolean()->get();
      break;
    case toml::node_type::date:
      out.kind = TomlValue::Kind::kDate;
      out.string = Streamed(node.as_date()->get());
      break;
    case toml::node_type::time:
      out.kind = TomlValue::Kind::kTime;
      out.string = Streamed(node.as_time()->get());
      break;
    case toml::node_type::date_time:
      out.kind = TomlValue::Kind::kDateTime;
      out.string = Streamed(node.as_date_time()->get());
      break;
    case toml::node_type::none:
      break;
  }
  return out;
}

absl::Status Flatten(const TomlValue& table, const std::string& parent, UserConfig* out) {
  for (size_t i = 0; i < table.keys.size(); ++i) {
    const std::string& key = table.keys[i];
    const TomlValue& value = table.items[i];
    std::string flat_key = parent.empty() ? key : absl::StrCat(parent, ".", key);
    switch (value.kind) {
      case TomlValue::Kind::kTable: {
        absl::Status status = Flatten(value, flat_key, out);
        if (!status.ok()) return status;
        break;
      }
      case TomlValue::Kind::kBool:
        out->Set(std::move(flat_key), value.boolean);
        break;
      case TomlValue::Kind::kInteger:
        out->Set(std::move(flat_key), value.integer);
        break;
      case TomlValue::Kind::kFloat:
        out->Set(std::move(flat_key), value.floating);
        break;
      case TomlValue::Kind::kString:
        out->Set(std::move(flat_key), value.string);
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "The value for key ", key,
            " needs to be of type `int`, `float`, `bool, `str`, or  a `dict` of those."));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const TomlValue* TomlValue::Find(absl::string_view key) const {
  if (kind != Kind::kTable) return nullptr;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) return &items[i];
  }
  return nullptr;
}

void TomlValue::Set(absl::string_view key, TomlValue value) {
  if (kind != Kind::kTable) return;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == key) {
      items[i] = std::move(value);
      return;
    }
  }
  keys.emplace_back(key);
  items.push_back(std::move(value));
}

absl::StatusOr<TomlValue> ParseToml(absl::string_view text) {
  // toml++ skips a byte order mark; tomli sees U+FEFF and fails on it.
  if (absl::StartsWith(text, "\xEF\xBB\xBF")) {
    return absl::InvalidArgumentError("Invalid statement (at line 1, column 1)");
  }
  try {
    toml::table root = toml::parse(std::string_view(text.data(), text.size()));
    return ConvertTable(root);
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return absl::InvalidArgumentError(
        absl::StrFormat("%s (at line %d, column %d)", error.description(), at.line, at.column));
  }
}

absl::Status FlattenTomlTable(const TomlValue& table, UserConfig* out) {
  return Flatten(table, "", out);
}

}  // namespace flwr::core::internal
