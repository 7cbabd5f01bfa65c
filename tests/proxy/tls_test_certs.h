// Test certificates made at test time with the `openssl` command into a
// fresh temporary directory: self-signed P-256 leaf + key in one PEM file.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace corral::proxy::test {

class CertDir {
 public:
  CertDir() {
    char tmpl[] = "/tmp/corral-tls-XXXXXX";
    char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    path_ = made ? made : "";
  }
  ~CertDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

  // Writes <name>.pem (certificate then key) for the given DNS SANs
  // (comma-separated, e.g. "a.test,*.b.test"); returns its path.
  std::string make(const std::string& name, const std::string& sans,
                   const std::string& cn = "corral test") {
    std::string key = path_ + "/" + name + ".key";
    std::string crt = path_ + "/" + name + ".crt";
    std::string ext;
    if (!sans.empty()) {
      ext = " -addext 'subjectAltName=";
      size_t start = 0;
      for (;;) {
        size_t comma = sans.find(',', start);
        if (start > 0) ext += ",";
        ext += "DNS:" + sans.substr(start, comma - start);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      ext += "'";
    }
    std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -days 2 -subj '/CN=" +
        cn + "' -keyout " + key + " -out " + crt + ext + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::string pem = path_ + "/" + name + ".pem";
    std::ofstream out(pem, std::ios::binary);
    out << slurp(crt) << slurp(key);
    std::filesystem::remove(key);
    std::filesystem::remove(crt);
    return pem;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string path_;
};

}  // namespace corral::proxy::test
