// A minimal FAB (zip) and an instruction message for the native ClientApp tests.
#ifndef FLWR_TESTS_APPS_NATIVE_FAB_FOR_TEST_H_
#define FLWR_TESTS_APPS_NATIVE_FAB_FOR_TEST_H_

#include <zip.h>

#include <string>
#include <utility>

#include "flwr/core/message.h"

namespace flwr::clientapp {

// An instruction of `type` from the SuperLink (node 1) to node 9 in run 1, with `content`.
inline core::Message TestInstruction(const std::string& type, core::RecordDict content = {}) {
  core::Message m;
  m.metadata.run_id = 1;
  m.metadata.message_id = "abc";
  m.metadata.src_node_id = 1;
  m.metadata.dst_node_id = 9;
  m.metadata.message_type = type;
  m.metadata.created_at = 100.0;
  m.content = std::move(content);
  return m;
}

// A FAB (zip) holding only a pyproject.toml with `native_table` appended.
inline std::string MakeFab(const std::string& native_table) {
  const std::string pyproject =
      "[project]\nname = \"app\"\nversion = \"1.0.0\"\n\n[tool.flwr.app]\npublisher = \"p\"\n\n"
      "[tool.flwr.app.components]\nserverapp = \"a.s:app\"\nclientapp = \"a.c:app\"\n\n" +
      native_table;
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  zip_t* zip = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  zip_source_keep(buffer);
  zip_source_t* file = zip_source_buffer(zip, pyproject.data(), pyproject.size(), 0);
  zip_file_add(zip, "pyproject.toml", file, 0);
  zip_close(zip);
  zip_source_open(buffer);
  zip_source_seek(buffer, 0, SEEK_END);
  const zip_int64_t size = zip_source_tell(buffer);
  zip_source_seek(buffer, 0, SEEK_SET);
  std::string bytes(static_cast<size_t>(size), '\0');
  zip_source_read(buffer, bytes.data(), static_cast<zip_uint64_t>(size));
  zip_source_close(buffer);
  zip_source_free(buffer);
  return bytes;
}

}  // namespace flwr::clientapp

#endif  // FLWR_TESTS_APPS_NATIVE_FAB_FOR_TEST_H_
