# Every third-party dependency comes from a Debian 12 package (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
find_package(nlohmann_json REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_package(Threads REQUIRED)

# llhttp 8.1 ships as C sources (node-llhttp); compile them in.
add_library(llhttp STATIC
  /usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c)
target_include_directories(llhttp SYSTEM PUBLIC /usr/share/include/llhttp)
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)

# BoringSSL from android-libboringssl-dev.
add_library(boringssl INTERFACE)
target_include_directories(boringssl SYSTEM INTERFACE /usr/include/android)
target_link_libraries(boringssl INTERFACE
  /usr/lib/x86_64-linux-gnu/android/libssl.so /usr/lib/x86_64-linux-gnu/android/libcrypto.so)
target_link_options(boringssl INTERFACE -Wl,-rpath,/usr/lib/x86_64-linux-gnu/android)

# ZooKeeper C client (multi-threaded flavour).
add_library(zookeeper INTERFACE)
target_include_directories(zookeeper SYSTEM INTERFACE /usr/include/zookeeper)
target_link_libraries(zookeeper INTERFACE zookeeper_mt)
