#include "core_cluster/agent/fetcher.h"

#include <fcntl.h>
#include <llhttp.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/core.h>

namespace corral::agent {
namespace fs = std::filesystem;
namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Runs argv (PATH searched) and waits; on failure the error carries the tool's stderr.
Status runTool(const std::vector<std::string>& argv) {
  int pipeFds[2];
  if (pipe2(pipeFds, O_CLOEXEC) != 0)
    return makeError(ErrorKind::kUnavailable, fmt::format("pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipeFds[1], 2);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipeFds[1]);
  if (rc != 0) {
    close(pipeFds[0]);
    return makeError(ErrorKind::kUnavailable,
                     fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
  }
  std::string errText;
  char buf[512];
  for (;;) {
    ssize_t n = read(pipeFds[0], buf, sizeof buf);
    if (n > 0) {
      if (errText.size() < 4096) errText.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(pipeFds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  while (!errText.empty() && (errText.back() == '\n' || errText.back() == '\r')) errText.pop_back();
  std::string how = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                      : fmt::format("killed by signal {}", WTERMSIG(status));
  return makeError(ErrorKind::kUnavailable,
                   fmt::format("{} {}{}{}", argv[0], how, errText.empty() ? "" : ": ", errText));
}

struct Url {
  std::string host;
  std::string port = "80";
  std::string target = "/";  // path + query
};

Result<Url> parseHttpUrl(const std::string& url) {
  constexpr std::string_view kPrefix = "http://";
  if (url.rfind(kPrefix, 0) != 0)
    return makeError(ErrorKind::kInvalid, fmt::format("not an http:// URL: {}", url));
  std::string rest = url.substr(kPrefix.size());
  size_t slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  Url out;
  if (slash != std::string::npos) {
    out.target = rest.substr(slash);
    size_t hash = out.target.find('#');
    if (hash != std::string::npos) out.target.resize(hash);
    if (out.target.empty() || out.target[0] != '/') out.target.insert(out.target.begin(), '/');
  }
  if (authority.find('@') != std::string::npos) {
    return makeError(ErrorKind::kInvalid,
                     fmt::format("credentials in URLs are not supported: {}", url));
  }
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return makeError(ErrorKind::kInvalid, fmt::format("bad IPv6 host in {}", url));
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return makeError(ErrorKind::kInvalid, fmt::format("bad host in {}", url));
      out.port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) out.port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return makeError(ErrorKind::kInvalid, fmt::format("no host in {}", url));
  if (out.port.empty() || out.port.find_first_not_of("0123456789") != std::string::npos) {
    return makeError(ErrorKind::kInvalid, fmt::format("bad port in {}", url));
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

struct ResponseSink {
  FILE* out = nullptr;
  int status = 0;
  bool complete = false;
  bool writeFailed = false;
  std::string field;
  std::string value;
  std::string location;
};

int onHeaderField(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<ResponseSink*>(p->data);
  s->field.append(at, len);
  return 0;
}
int onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<ResponseSink*>(p->data);
  s->value.append(at, len);
  return 0;
}
int onHeaderValueComplete(llhttp_t* p) {
  auto* s = static_cast<ResponseSink*>(p->data);
  if (strcasecmp(s->field.c_str(), "location") == 0) s->location = s->value;
  s->field.clear();
  s->value.clear();
  return 0;
}
int onHeadersComplete(llhttp_t* p) {
  auto* s = static_cast<ResponseSink*>(p->data);
  s->status = p->status_code;
  return s->status == 200 ? 0 : -1;  // anything else: stop, the caller reports it
}
int onBody(llhttp_t* p, const char* at, size_t len) {
  auto* s = static_cast<ResponseSink*>(p->data);
  if (std::fwrite(at, 1, len, s->out) != len) {
    s->writeFailed = true;
    return -1;
  }
  return 0;
}
int onMessageComplete(llhttp_t* p) {
  static_cast<ResponseSink*>(p->data)->complete = true;
  return HPE_PAUSED;  // ignore anything after the response
}

Status httpGetImpl(const std::string& url, const std::string& destFile, double timeoutSeconds) {
  auto parsed = parseHttpUrl(url);
  if (!parsed.ok()) return parsed.error();
  const Url& u = *parsed;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res);
  if (gai != 0)
    return makeError(ErrorKind::kUnavailable,
                     fmt::format("cannot resolve {}: {}", u.host, gai_strerror(gai)));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> resGuard(res, &freeaddrinfo);

  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeoutSeconds);
  tv.tv_usec = static_cast<suseconds_t>((timeoutSeconds - std::floor(timeoutSeconds)) * 1e6);
  Fd sock;
  std::string connectError = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    sock.reset(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (sock.get() < 0) continue;
    // On Linux SO_SNDTIMEO also bounds connect().
    setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(sock.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      connectError.clear();
      break;
    }
    connectError =
        (errno == EINPROGRESS || errno == EAGAIN) ? "connect timed out" : std::strerror(errno);
    sock.reset(-1);
  }
  if (sock.get() < 0) {
    return makeError(ErrorKind::kUnavailable,
                     fmt::format("cannot connect to {}:{}: {}", u.host, u.port, connectError));
  }

  bool v6 = u.host.find(':') != std::string::npos;
  std::string hostHeader = v6 ? "[" + u.host + "]" : u.host;
  if (u.port != "80") hostHeader += ":" + u.port;
  std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corral-fetcher\r\nAccept: */*\r\n"
      "Connection: close\r\n\r\n",
      u.target, hostHeader);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return makeError(ErrorKind::kUnavailable,
                       fmt::format("sending request to {}: {}", url, std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }

  std::unique_ptr<FILE, decltype(&std::fclose)> out(std::fopen(destFile.c_str(), "wb"),
                                                    &std::fclose);
  if (!out)
    return makeError(ErrorKind::kUnavailable,
                     fmt::format("cannot create {}: {}", destFile, std::strerror(errno)));

  llhttp_settings_t settings;
  llhttp_settings_init(&settings);
  settings.on_header_field = onHeaderField;
  settings.on_header_value = onHeaderValue;
  settings.on_header_value_complete = onHeaderValueComplete;
  settings.on_headers_complete = onHeadersComplete;
  settings.on_body = onBody;
  settings.on_message_complete = onMessageComplete;
  llhttp_t parser;
  llhttp_init(&parser, HTTP_RESPONSE, &settings);
  ResponseSink sink;
  sink.out = out.get();
  parser.data = &sink;

  auto httpError = [&]() -> Status {
    if (sink.writeFailed)
      return makeError(ErrorKind::kUnavailable,
                       fmt::format("writing {}: {}", destFile, std::strerror(errno)));
    if (sink.status >= 300 && sink.status < 400) {
      return makeError(ErrorKind::kUnavailable,
                       fmt::format("{} answered {} (redirect to '{}' not followed)", url,
                                   sink.status, sink.location));
    }
    if (sink.status != 0 && sink.status != 200) {
      return makeError(ErrorKind::kUnavailable,
                       fmt::format("{} answered HTTP {}", url, sink.status));
    }
    return makeError(ErrorKind::kUnavailable, fmt::format("bad HTTP response from {}: {}", url,
                                                          llhttp_get_error_reason(&parser)));
  };

  char buf[16384];
  while (!sink.complete) {
    ssize_t n = recv(sock.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      bool timedOut = errno == EAGAIN || errno == EWOULDBLOCK;
      return makeError(
          ErrorKind::kUnavailable,
          fmt::format("reading from {}: {}", url, timedOut ? "timed out" : std::strerror(errno)));
    }
    llhttp_errno_t err =
        n == 0 ? llhttp_finish(&parser) : llhttp_execute(&parser, buf, static_cast<size_t>(n));
    if (err == HPE_PAUSED) break;
    if (err != HPE_OK) return httpError();
    if (n == 0) {
      if (!sink.complete)
        return makeError(ErrorKind::kUnavailable,
                         fmt::format("{} closed the connection mid-response", url));
      break;
    }
  }
  if (sink.status != 200) return httpError();
  if (std::fflush(out.get()) != 0)
    return makeError(ErrorKind::kUnavailable,
                     fmt::format("writing {}: {}", destFile, std::strerror(errno)));
  return Status::Ok();
}

std::string lastSegment(std::string_view path) {
  size_t cut = path.find_first_of("?#");
  if (cut != std::string_view::npos) path = path.substr(0, cut);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

bool isArchive(std::string_view name) {
  for (std::string_view suffix :
       {".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip"}) {
    if (endsWith(name, suffix)) return true;
  }
  return false;
}

bool isSafeRelativePath(std::string_view path) {
  if (path.empty() || path[0] == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return false;
    start = end + 1;
  }
  return path.find('\0') == std::string_view::npos;
}

Status httpGetToFile(const std::string& url, const std::string& destFile, double timeoutSeconds) {
  Status s = httpGetImpl(url, destFile, timeoutSeconds);
  if (!s.ok()) {
    std::error_code ec;
    fs::remove(destFile, ec);
  }
  return s;
}

Status fetchOne(const FetchUri& uri, const std::string& sandbox, double httpTimeoutSeconds,
                const TaskUser* readAs) {
  const std::string& u = uri.uri;
  auto fail = [&](const std::string& why) -> Status {
    return makeError(ErrorKind::kUnavailable, fmt::format("failed to fetch '{}': {}", u, why));
  };
  enum class Kind { kLocal, kHttp } kind;
  std::string source;
  if (u.rfind("file://", 0) == 0) {
    kind = Kind::kLocal;
    source = u.substr(7);
    if (source.rfind("localhost/", 0) == 0) source = source.substr(9);
  } else if (!u.empty() && u[0] == '/') {
    kind = Kind::kLocal;
    source = u;
  } else if (u.rfind("http://", 0) == 0) {
    kind = Kind::kHttp;
  } else if (u.rfind("https://", 0) == 0) {
    return fail(
        "https:// is not supported by the agent's fetcher (no TLS); use http:// or a local path");
  } else if (u.find("://") != std::string::npos) {
    return fail("unsupported URI scheme (supported: absolute paths, file://, http://)");
  } else {
    return fail("relative paths are not supported; give an absolute path or a URI");
  }
  if (kind == Kind::kLocal && (source.empty() || source[0] != '/'))
    return fail("file:// URI without an absolute path");

  std::string name =
      uri.destPath.empty() ? lastSegment(kind == Kind::kHttp ? u.substr(7) : source) : uri.destPath;
  if (kind == Kind::kHttp && uri.destPath.empty() && u.substr(7).find('/') == std::string::npos)
    name.clear();
  if (!isSafeRelativePath(name) || name == ".") {
    return fail(
        uri.destPath.empty()
            ? "cannot derive a file name from the URI; set destPath"
            : fmt::format("destPath '{}' must be a relative path inside the sandbox", name));
  }
  fs::path dest = fs::path(sandbox) / name;
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec)
    return fail(fmt::format("cannot create {}: {}", dest.parent_path().string(), ec.message()));

  if (kind == Kind::kLocal) {
    if (readAs != nullptr) {
      Status may = userMayRead(source, *readAs);
      if (!may.ok()) return fail(may.error().message);
    }
    fs::copy(source, dest, fs::copy_options::overwrite_existing | fs::copy_options::recursive, ec);
    if (ec) return fail(ec.message());
  } else {
    Status s = httpGetToFile(u, dest.string(), httpTimeoutSeconds);
    if (!s.ok()) return fail(s.error().message);
  }

  if (uri.executable) {
    fs::permissions(dest,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    if (ec) return fail(fmt::format("chmod: {}", ec.message()));
  } else if (uri.extract && isArchive(name)) {
    std::string dir = dest.parent_path().string();
    Status s = endsWith(name, ".zip") ? runTool({"unzip", "-o", "-q", dest.string(), "-d", dir})
                                      : runTool({"tar", "-xf", dest.string(), "-C", dir});
    if (!s.ok()) return fail(fmt::format("extracting: {}", s.error().message));
  }
  return Status::Ok();
}

Status fetchAll(const std::vector<FetchUri>& uris, const std::string& sandbox,
                double httpTimeoutSeconds, const TaskUser* readAs) {
  for (const auto& uri : uris) {
    Status s = fetchOne(uri, sandbox, httpTimeoutSeconds, readAs);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace corral::agent
