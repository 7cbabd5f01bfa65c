// A test certificate authority made at test time with the `openssl` command
// in a fresh temporary directory: a CA, and server certificates it signs for
// an IP address (subjectAltName IP:…), each as cert + key files. A second CA
// made the same way stands for "some other CA" in verification tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace corral::test {

class TestCa {
 public:
  TestCa() {
    char tmpl[] = "/tmp/corral-ca-XXXXXX";
    char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr);
    dir_ = made ? made : "";
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj '/CN=corral test CA' -keyout " +
        dir_ + "/ca.key -out " + caFile() +
        " -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign");
  }
  ~TestCa() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& dir() const { return dir_; }
  std::string caFile() const { return dir_ + "/ca.pem"; }

  struct Server {
    std::string certFile;
    std::string keyFile;
  };
  // A server certificate for `ip` signed by this CA.
  Server issue(const std::string& name, const std::string& ip) {
    Server s{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
    std::string csr = dir_ + "/" + name + ".csr";
    std::string ext = dir_ + "/" + name + ".ext";
    std::ofstream(ext) << "subjectAltName=IP:" << ip << "\nextendedKeyUsage=serverAuth\n";
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" + ip +
        "' -keyout " + s.keyFile + " -out " + csr);
    run("openssl x509 -req -in " + csr + " -CA " + caFile() + " -CAkey " + dir_ +
        "/ca.key -CAcreateserial -days 2 -out " + s.certFile + " -extfile " + ext);
    return s;
  }

 private:
  static void run(const std::string& cmd) {
    std::string quiet = cmd + " >/dev/null 2>&1";
    EXPECT_EQ(std::system(quiet.c_str()), 0) << cmd;
  }
  std::string dir_;
};

}  // namespace corral::test
