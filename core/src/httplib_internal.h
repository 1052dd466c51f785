// The one way core/src includes cpp-httplib. Debian ships httplib 0.11.4 split into a header
// of declarations and libcpp-httplib.so, built with OpenSSL, zlib and Brotli support; those
// macros change the layout of httplib's classes (Request, ClientImpl), so every includer must
// define them exactly as the library was built (pkg-config cpp-httplib --cflags) or break the
// ABI. The pkg-config target, when linked, defines them already.
#ifndef FLWR_CORE_SRC_HTTPLIB_INTERNAL_H_
#define FLWR_CORE_SRC_HTTPLIB_INTERNAL_H_

#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif

#include <httplib.h>

#endif  // FLWR_CORE_SRC_HTTPLIB_INTERNAL_H_
