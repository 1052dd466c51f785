#include "flwr/core/fab.h"

#include <zip.h>

#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "flwr/core/python_compat.h"
#include "flwr/core/sha256.h"
#include "python_packaging.h"
#include "toml_value.h"

namespace flwr::core {
namespace {

using internal::PyVersion;
using internal::TomlValue;

// ----- zip archives ------------------------------------------------------------------------

struct ZipCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
using ZipArchive = std::unique_ptr<zip_t, ZipCloser>;

struct ZipFileCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
using ZipFile = std::unique_ptr<zip_file_t, ZipFileCloser>;

std::string ZipErrorText(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// Opens `content` (which must outlive the archive) and enforces the zip bomb bounds.
absl::StatusOr<ZipArchive> OpenArchive(absl::string_view content) {
  if (content.empty()) return absl::InvalidArgumentError("File is not a zip file (it is empty)");
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(content.data(), content.size(), 0, &error);
  if (source == nullptr) {
    std::string text = zip_error_strerror(&error);
    zip_error_fini(&error);
    return absl::InternalError(absl::StrCat("cannot read the FAB buffer: ", text));
  }
  ZipArchive archive(zip_open_from_source(source, ZIP_RDONLY, &error));
  if (archive == nullptr) {
    zip_source_free(source);
    std::string text = zip_error_strerror(&error);
    zip_error_fini(&error);
    return absl::InvalidArgumentError(absl::StrCat("File is not a zip file (", text, ")"));
  }
  zip_error_fini(&error);

  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  if (entries < 0 || static_cast<uint64_t>(entries) > kFabMaxEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("the archive has ", entries, " entries, more than ", kFabMaxEntries));
  }
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t stat;
    if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &stat) != 0 ||
        !(stat.valid & ZIP_STAT_SIZE)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read entry ", i, " of the archive"));
    }
    total += stat.size;
    if (stat.size > kFabMaxUncompressedSize || total > kFabMaxUncompressedSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("the archive expands to more than ", kFabMaxUncompressedSize, " bytes"));
    }
  }
  return archive;
}

// ----- pyproject.toml validation (flwr/common/config.py, supercore/fab_format_version.py) --

constexpr absl::string_view kObjectRefHelp =
    "\n\n\nThe object reference string should have the form <module>:<attribute>. Valid\n"
    "examples include `client:app` and `project.package.module:wrapper.app`. It must\n"
    "refer to a module on the PYTHONPATH and the module needs to have the specified\n"
    "attribute.\n";

constexpr absl::string_view kLicenseFileRequired =
    "fab-format-version = 1 requires [project].license to be { file = \"LICENSE\" } or "
    "{ file = \"LICENSE.md\" }.";

// str(ValueError(errors)) for a list of str: Python's list repr.
absl::Status ErrorList(const std::vector<std::string>& errors) {
  std::vector<std::string> reprs;
  reprs.reserve(errors.size());
  for (const std::string& error : errors) reprs.push_back(PythonRepr(error));
  return absl::InvalidArgumentError(absl::StrCat("[", absl::StrJoin(reprs, ", "), "]"));
}

absl::Status Unusable(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Invalid pyproject.toml: ", what));
}

// Returns config[key] if it is absent or a table, else an error naming `section`.
absl::StatusOr<const TomlValue*> FindTable(const TomlValue* config, absl::string_view key,
                                           absl::string_view section) {
  if (config == nullptr) return nullptr;
  const TomlValue* value = config->Find(key);
  if (value != nullptr && !value->is_table()) {
    return Unusable(absl::StrCat(section, " must be a table"));
  }
  return value;
}

// check_pattern_list_value for fab-include / fab-exclude.
void CheckPatternList(const TomlValue& app, absl::string_view key,
                      std::vector<std::string>* errors) {
  const TomlValue* value = app.Find(key);
  if (value == nullptr) return;
  const std::string prefix = absl::StrCat("Property \"", key, "\" in [tool.flwr.app] must ");
  if (value->kind != TomlValue::Kind::kArray) {
    errors->push_back(absl::StrCat(prefix, "be a list of strings."));
  } else if (value->items.empty()) {
    errors->push_back(absl::StrCat(prefix,
                                   "not be an empty list. Remove the key to use built-in "
                                   "defaults, or specify at least one pattern."));
  } else {
    for (const TomlValue& pattern : value->items) {
      if (!pattern.is_string() || PythonStrip(pattern.string).empty()) {
        errors->push_back(absl::StrCat(prefix, "be a list of non-empty strings."));
        break;
      }
    }
  }
}

// The tables validate_fields_in_config looks at; null where absent.
struct Sections {
  const TomlValue* project = nullptr;
  const TomlValue* app = nullptr;
  const TomlValue* components = nullptr;
  const TomlValue* config = nullptr;
};

// validate_fields_in_config. Missing fields are collected in *errors; an unusable run config
// value fails at once, as flwr's _validate_run_config raises.
absl::Status ValidateFields(const TomlValue& root, Sections* s, std::vector<std::string>* errors) {
  absl::StatusOr<const TomlValue*> project = FindTable(&root, "project", "[project]");
  if (!project.ok()) return project.status();
  s->project = *project;
  if (s->project == nullptr) {
    errors->push_back("Missing [project] section");
  } else {
    if (s->project->Find("name") == nullptr) {
      errors->push_back("Property \"name\" missing in [project]");
    }
    if (s->project->Find("version") == nullptr) {
      errors->push_back("Property \"version\" missing in [project]");
    }
  }

  absl::StatusOr<const TomlValue*> tool = FindTable(&root, "tool", "[tool]");
  if (!tool.ok()) return tool.status();
  absl::StatusOr<const TomlValue*> flwr = FindTable(*tool, "flwr", "[tool.flwr]");
  if (!flwr.ok()) return flwr.status();
  absl::StatusOr<const TomlValue*> app = FindTable(*flwr, "app", "[tool.flwr.app]");
  if (!app.ok()) return app.status();
  s->app = *app;
  if (s->app == nullptr) {
    errors->push_back("Missing [tool.flwr.app] section");
    return absl::OkStatus();
  }
  if (s->app->Find("publisher") == nullptr) {
    errors->push_back("Property \"publisher\" missing in [tool.flwr.app]");
  }
  CheckPatternList(*s->app, "fab-include", errors);
  CheckPatternList(*s->app, "fab-exclude", errors);

  absl::StatusOr<const TomlValue*> config = FindTable(s->app, "config", "[tool.flwr.app.config]");
  if (!config.ok()) return config.status();
  s->config = *config;
  if (s->config != nullptr) {
    UserConfig unused;
    absl::Status status = internal::FlattenTomlTable(*s->config, &unused);
    if (!status.ok()) return status;
  }

  absl::StatusOr<const TomlValue*> components =
      FindTable(s->app, "components", "[tool.flwr.app.components]");
  if (!components.ok()) return components.status();
  s->components = *components;
  if (s->components == nullptr) {
    errors->push_back("Missing [tool.flwr.app.components] section");
  } else if (s->components->Find("agentapp") == nullptr) {
    for (absl::string_view key : {"serverapp", "clientapp"}) {
      if (s->components->Find(key) == nullptr) {
        errors->push_back(
            absl::StrCat("Property \"", key, "\" missing in [tool.flwr.app.components]"));
      }
    }
  }
  return absl::OkStatus();
}

// _get_declared_license_file and _require_license_file.
absl::Status RequireLicenseFile(const TomlValue* project) {
  const TomlValue* license = project == nullptr ? nullptr : project->Find("license");
  if (license == nullptr || license->is_string()) {
    return absl::InvalidArgumentError(kLicenseFileRequired);
  }
  if (!license->is_table()) {
    return absl::InvalidArgumentError(
        "Invalid [project].license: expected a string or table value.");
  }
  if (license->Find("text") != nullptr) {
    return absl::InvalidArgumentError(
        "fab-format-version = 1 requires [project].license to reference a root-level license "
        "file, not inline text.");
  }
  const TomlValue* file = license->Find("file");
  if (file == nullptr) return absl::InvalidArgumentError(kLicenseFileRequired);
  if (!file->is_string()) {
    return absl::InvalidArgumentError("Invalid [project].license.file: expected a string path.");
  }
  if (file->string != "LICENSE" && file->string != "LICENSE.md") {
    return absl::InvalidArgumentError(
        "fab-format-version = 1 requires [project].license.file to be \"LICENSE\" or "
        "\"LICENSE.md\".");
  }
  return absl::OkStatus();
}

// _get_flwr_requirement: the single "flwr" entry of [project].dependencies, if any.
absl::StatusOr<std::optional<internal::PyRequirement>> FlwrRequirement(const TomlValue* project) {
  const TomlValue* dependencies = project == nullptr ? nullptr : project->Find("dependencies");
  if (dependencies == nullptr) return std::nullopt;
  if (dependencies->kind != TomlValue::Kind::kArray) {
    return absl::InvalidArgumentError(
        "Invalid [project].dependencies: expected a list containing a \"flwr\" dependency "
        "declaration.");
  }
  std::vector<internal::PyRequirement> flwr;
  for (const TomlValue& dependency : dependencies->items) {
    if (!dependency.is_string()) {
      return absl::InvalidArgumentError(
          "Invalid [project].dependencies: dependency entries must be strings.");
    }
    absl::StatusOr<internal::PyRequirement> requirement =
        internal::ParseRequirement(dependency.string);
    if (absl::IsInvalidArgument(requirement.status())) {
      return absl::InvalidArgumentError(absl::StrCat("Invalid dependency declaration \"",
                                                     dependency.string,
                                                     "\": ", requirement.status().message()));
    }
    if (!requirement.ok()) return absl::InvalidArgumentError(requirement.status().message());
    if (requirement->name == "flwr") flwr.push_back(*std::move(requirement));
  }
  if (flwr.empty()) return std::nullopt;
  if (flwr.size() > 1) {
    return absl::InvalidArgumentError(
        "Multiple \"flwr\" dependency declarations are not supported.");
  }
  return std::move(flwr.front());
}

// _derive_flwr_version_min: the highest `>=` bound of the requirement.
absl::StatusOr<PyVersion> FlwrVersionMin(const internal::PyRequirement& requirement) {
  std::optional<PyVersion> lower_bound;
  for (const internal::PySpecifier& specifier : requirement.specifiers) {
    if (specifier.op != ">=") continue;
    absl::StatusOr<PyVersion> version = PyVersion::Parse(specifier.version);
    if (!version.ok()) {
      return absl::InvalidArgumentError(
          "Invalid \"flwr\" dependency specifier: expected a valid version.");
    }
    if (!lower_bound || *lower_bound < *version) lower_bound = *std::move(version);
  }
  if (!lower_bound) {
    return absl::InvalidArgumentError(
        "Invalid \"flwr\" dependency specifier: an inclusive lower bound declared with \">=\" "
        "is required for fab-format-version = 1.");
  }
  return *std::move(lower_bound);
}

// normalize_and_validate_fab_format: fills the format version and metadata of *info.
absl::Status ValidateFabFormat(const Sections& s, FabInfo* info) {
  const TomlValue* format = s.app->Find("fab-format-version");
  if (format != nullptr && (!format->is_integer() || format->integer < 0)) {
    return absl::InvalidArgumentError(
        "Invalid [tool.flwr.app].fab-format-version: expected a non-negative integer.");
  }
  info->fab_format_version = format == nullptr ? 0 : format->integer;

  if (info->fab_format_version == 0) {
    absl::StatusOr<std::optional<internal::PyRequirement>> requirement = FlwrRequirement(s.project);
    if (!requirement.ok()) return requirement.status();
    if (requirement->has_value()) {
      absl::StatusOr<PyVersion> lower_bound = FlwrVersionMin(**requirement);
      if (lower_bound.ok()) info->flwr_version_min = lower_bound->ToString();
    }
    return absl::OkStatus();
  }
  if (info->fab_format_version != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Unsupported [tool.flwr.app].fab-format-version: ", info->fab_format_version, "."));
  }

  const TomlValue* target_raw = s.app->Find("flwr-version-target");
  if (target_raw != nullptr && !target_raw->is_string()) {
    return absl::InvalidArgumentError(
        "Invalid [tool.flwr.app].flwr-version-target: expected a string.");
  }
  if (target_raw == nullptr) {
    return absl::InvalidArgumentError(
        "Missing [tool.flwr.app].flwr-version-target for fab-format-version >= 1.");
  }
  absl::StatusOr<PyVersion> target = PyVersion::Parse(target_raw->string);
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        "Invalid [tool.flwr.app].flwr-version-target: expected a valid version.");
  }
  if (absl::Status status = RequireLicenseFile(s.project); !status.ok()) return status;
  absl::StatusOr<std::optional<internal::PyRequirement>> requirement = FlwrRequirement(s.project);
  if (!requirement.ok()) return requirement.status();
  if (!requirement->has_value()) {
    return absl::InvalidArgumentError(
        "Missing \"flwr\" dependency in [project].dependencies for fab-format-version >= 1.");
  }
  absl::StatusOr<PyVersion> lower_bound = FlwrVersionMin(**requirement);
  if (!lower_bound.ok()) return lower_bound.status();
  if (*target < *lower_bound) {
    return absl::InvalidArgumentError(
        "Invalid [tool.flwr.app].flwr-version-target: must be greater than or equal to the "
        "declared \"flwr\" dependency lower bound.");
  }
  absl::StatusOr<bool> satisfies =
      internal::SpecifierSetContains((*requirement)->specifiers, *target);
  if (!satisfies.ok()) return absl::InvalidArgumentError(satisfies.status().message());
  if (!*satisfies) {
    return absl::InvalidArgumentError(
        "Invalid [tool.flwr.app].flwr-version-target: must satisfy the declared \"flwr\" "
        "dependency specifier.");
  }
  info->flwr_version_min = lower_bound->ToString();
  info->flwr_version_target = target->ToString();
  return absl::OkStatus();
}

// object_ref.validate(ref, check_module=False) for each component that is present.
absl::Status ValidateComponents(const TomlValue& components) {
  for (absl::string_view key : {"agentapp", "serverapp", "clientapp"}) {
    const TomlValue* ref = components.Find(key);
    if (ref == nullptr) continue;
    if (!ref->is_string()) {
      return Unusable(absl::StrCat("[tool.flwr.app.components] ", key, " must be a string"));
    }
    const size_t colon = ref->string.find(':');
    const bool has_module = colon != 0 && !ref->string.empty();
    const bool has_attribute = colon != std::string::npos && colon + 1 < ref->string.size();
    if (!has_module) {
      return ErrorList({absl::StrCat("Missing module in ", ref->string, kObjectRefHelp)});
    }
    if (!has_attribute) {
      return ErrorList({absl::StrCat("Missing attribute in ", ref->string, kObjectRefHelp)});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequireString(const TomlValue& table, absl::string_view key,
                                          absl::string_view section) {
  const TomlValue* value = table.Find(key);
  if (!value->is_string()) {
    return Unusable(absl::StrCat(section, " ", key, " must be a string"));
  }
  return value->string;
}

}  // namespace

std::string FabHash(absl::string_view content) { return Sha256Hex(content); }

Fab MakeFab(std::string content, OrderedMap<std::string> verifications) {
  Fab fab;
  fab.hash_str = FabHash(content);
  fab.content = std::move(content);
  fab.verifications = std::move(verifications);
  return fab;
}

absl::StatusOr<std::string> ReadFabFile(absl::string_view content, absl::string_view path) {
  absl::StatusOr<ZipArchive> archive = OpenArchive(content);
  if (!archive.ok()) return archive.status();
  zip_t* zip = archive->get();

  // Python's zipfile keeps the last of duplicate names; libzip's lookup finds the first.
  const zip_int64_t entries = zip_get_num_entries(zip, 0);
  zip_int64_t index = -1;
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* name = zip_get_name(zip, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_STRICT);
    if (name != nullptr && absl::string_view(name) == path) index = i;
  }
  if (index < 0) {
    return absl::NotFoundError(
        absl::StrCat("There is no item named ", PythonRepr(path), " in the archive"));
  }
  zip_stat_t stat;
  if (zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &stat) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", PythonRepr(path)));
  }
  ZipFile file(zip_fopen_index(zip, static_cast<zip_uint64_t>(index), 0));
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open ", PythonRepr(path), ": ", zip_strerror(zip)));
  }
  // The entry's size is bounded by OpenArchive; read at most one byte more to notice a lie.
  std::string data(static_cast<size_t>(stat.size) + 1, '\0');
  size_t filled = 0;
  while (filled < data.size()) {
    const zip_int64_t n = zip_fread(file.get(), data.data() + filled, data.size() - filled);
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read ", PythonRepr(path), ": ", zip_file_strerror(file.get())));
    }
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  if (filled != stat.size) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", PythonRepr(path), ": its size does not match the archive"));
  }
  const int close_error = zip_fclose(file.release());
  if (close_error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", PythonRepr(path), ": ", ZipErrorText(close_error)));
  }
  data.resize(filled);
  return data;
}

absl::StatusOr<FabInfo> ParseFabConfig(absl::string_view pyproject) {
  if (absl::Status utf8 = CheckUtf8(pyproject); !utf8.ok()) return utf8;
  absl::StatusOr<TomlValue> root = internal::ParseToml(pyproject);
  if (!root.ok()) return absl::InvalidArgumentError("Invalid TOML content in pyproject.toml");

  Sections sections;
  std::vector<std::string> errors;
  if (absl::Status status = ValidateFields(*root, &sections, &errors); !status.ok()) {
    return status;
  }
  if (!errors.empty()) return ErrorList(errors);

  FabInfo info;
  if (absl::Status status = ValidateFabFormat(sections, &info); !status.ok()) {
    return ErrorList({std::string(status.message())});
  }
  if (absl::Status status = ValidateComponents(*sections.components); !status.ok()) {
    return status;
  }

  // get_metadata_from_config, and the flattened default run config.
  absl::StatusOr<std::string> publisher =
      RequireString(*sections.app, "publisher", "[tool.flwr.app]");
  if (!publisher.ok()) return publisher.status();
  absl::StatusOr<std::string> name = RequireString(*sections.project, "name", "[project]");
  if (!name.ok()) return name.status();
  absl::StatusOr<std::string> version = RequireString(*sections.project, "version", "[project]");
  if (!version.ok()) return version.status();
  info.publisher = *std::move(publisher);
  info.name = *std::move(name);
  info.version = *std::move(version);
  info.fab_id = absl::StrCat(info.publisher, "/", info.name);
  for (size_t i = 0; i < sections.components->keys.size(); ++i) {
    const TomlValue& value = sections.components->items[i];
    if (value.is_string()) info.components.Set(sections.components->keys[i], value.string);
  }
  // [tool.flwr.app.native]: our extension, which native executors an app selects. Non-string
  // values are not names: they are left out, so an executor reports the app as not native.
  if (const TomlValue* native = sections.app->Find("native");
      native != nullptr && native->is_table()) {
    for (size_t i = 0; i < native->keys.size(); ++i) {
      if (native->items[i].is_string()) info.native.Set(native->keys[i], native->items[i].string);
    }
  }
  const auto non_empty_string = [](const TomlValue& table, absl::string_view key) {
    const TomlValue* value = table.Find(key);
    return value != nullptr && value->is_string() ? value->string : std::string();
  };
  info.display_name = non_empty_string(*sections.app, "display-name");
  info.description = non_empty_string(*sections.project, "description");
  info.color = non_empty_string(*sections.app, "color");
  if (sections.config != nullptr) {
    if (absl::Status status = internal::FlattenTomlTable(*sections.config, &info.default_config);
        !status.ok()) {
      return status;
    }
  }
  return info;
}

absl::StatusOr<FabInfo> ParseFab(absl::string_view content) {
  if (content.size() > kFabMaxSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("FAB size exceeds maximum allowed size of ", kFabMaxSize, " bytes."));
  }
  absl::StatusOr<std::string> pyproject = ReadFabFile(content, kFabConfigFile);
  if (!pyproject.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Invalid FAB: ", pyproject.status().message()));
  }
  return ParseFabConfig(*pyproject);
}

}  // namespace flwr::core
