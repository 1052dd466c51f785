// A minimal zip writer for tests (stored entries), enough to craft good and broken archives
// such as FABs.
#ifndef FLWR_TESTS_UNIT_TEST_ZIP_H_
#define FLWR_TESTS_UNIT_TEST_ZIP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace flwr::test_zip {

inline uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void Put16(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v & 0xFF));
  out->push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void Put32(std::string* out, uint32_t v) {
  Put16(out, v & 0xFFFF);
  Put16(out, v >> 16);
}

struct ZipEntry {
  std::string name;
  std::string data;
  std::optional<uint32_t> crc = std::nullopt;          // a wrong CRC for corrupt entries
  std::optional<uint32_t> stated_size = std::nullopt;  // a false size in the directory
};

inline std::string MakeZip(const std::vector<ZipEntry>& entries) {
  std::string out;
  std::string directory;
  for (const ZipEntry& e : entries) {
    const uint32_t crc = e.crc.value_or(Crc32(e.data));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    const uint32_t size = static_cast<uint32_t>(e.data.size());
    Put32(&out, 0x04034b50);
    Put16(&out, 20), Put16(&out, 0x0800), Put16(&out, 0);  // version, UTF-8 flag, stored
    Put16(&out, 0), Put16(&out, 0x5941);                   // time, date
    Put32(&out, crc), Put32(&out, size), Put32(&out, size);
    Put16(&out, static_cast<uint32_t>(e.name.size())), Put16(&out, 0);
    out += e.name + e.data;

    Put32(&directory, 0x02014b50);
    Put16(&directory, 20), Put16(&directory, 20), Put16(&directory, 0x0800);
    Put16(&directory, 0), Put16(&directory, 0), Put16(&directory, 0x5941);
    Put32(&directory, crc), Put32(&directory, size);
    Put32(&directory, e.stated_size.value_or(size));
    Put16(&directory, static_cast<uint32_t>(e.name.size()));
    Put16(&directory, 0), Put16(&directory, 0), Put16(&directory, 0), Put16(&directory, 0);
    Put32(&directory, 0), Put32(&directory, offset);
    directory += e.name;
  }
  const uint32_t directory_offset = static_cast<uint32_t>(out.size());
  out += directory;
  Put32(&out, 0x06054b50);
  Put16(&out, 0), Put16(&out, 0);
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put16(&out, static_cast<uint32_t>(entries.size()));
  Put32(&out, static_cast<uint32_t>(directory.size())), Put32(&out, directory_offset);
  Put16(&out, 0);
  return out;
}

}  // namespace flwr::test_zip

#endif  // FLWR_TESTS_UNIT_TEST_ZIP_H_
