// The takeover codec (socket-free: round trips and bad input) and the fd
// channel over a socketpair (descriptors really arrive and are the sockets sent).
#include "reload/takeover_protocol.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "reload/fd_channel.h"

namespace corral::reload::takeover {
namespace {

std::string frame(const Message& m) {
  auto f = encode(m);
  EXPECT_TRUE(f.ok());
  return f.ok() ? *f : std::string();
}

Message roundTrip(const Message& m) {
  Decoder d;
  d.feed(frame(m));
  auto out = d.next();
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  EXPECT_TRUE(out.ok() && out->has_value());
  EXPECT_EQ(d.buffered(), 0u);
  return out.ok() && *out ? **out : Message{};
}

// The error of decoding `bytes`, or "" when it decodes or needs more.
std::string decodeError(const std::string& bytes) {
  Decoder d;
  d.feed(bytes);
  auto out = d.next();
  return out.ok() ? std::string() : out.error().message;
}

// A frame with the given type byte and raw body.
std::string rawFrame(uint8_t type, const std::string& body) {
  std::string f = "CT";
  f.push_back(static_cast<char>(type));
  uint32_t n = static_cast<uint32_t>(body.size());
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>(n >> shift));
  return f + body;
}

TEST(TakeoverProtocol, EveryMessageRoundTrips) {
  auto hello = std::get<Hello>(roundTrip(Hello{kProtocolVersion, 4242}));
  EXPECT_EQ(hello.version, kProtocolVersion);
  EXPECT_EQ(hello.pid, 4242);
  EXPECT_EQ(std::get<Wait>(roundTrip(Wait{77})).drainingPid, 77);
  EXPECT_EQ(std::get<Finish>(roundTrip(Finish{78})).waitingPid, 78);
  Sockets s;
  s.last = false;
  s.entries = {{SocketKind::kTcp, "127.0.0.1", 8080, 0},
               {SocketKind::kUdp, "::1", 53, 1 << 20},
               {SocketKind::kControl, "10.0.0.1", 9090, 0},
               {SocketKind::kTakeover, "/run/corral/proxy.sock", 0, 0}};
  auto back = std::get<Sockets>(roundTrip(s));
  EXPECT_FALSE(back.last);
  EXPECT_EQ(back.entries, s.entries);
  EXPECT_EQ(std::get<Ready>(roundTrip(Ready{9})).pid, 9);
  auto d = std::get<Draining>(roundTrip(Draining{5, 17}));
  EXPECT_EQ(d.pid, 5);
  EXPECT_EQ(d.openConnections, 17u);
  auto r = std::get<Refused>(roundTrip(Refused{RefusedReason::kVersion, "want 1"}));
  EXPECT_EQ(r.reason, RefusedReason::kVersion);
  EXPECT_EQ(r.detail, "want 1");
}

TEST(TakeoverProtocol, FramesSplitAnywhereAndBackToBackDecodeInOrder) {
  std::string bytes = frame(Hello{kProtocolVersion, 1}) + frame(Ready{2}) + frame(Wait{3});
  Decoder d;
  std::vector<MessageType> got;
  for (char c : bytes) {
    d.feed(std::string_view(&c, 1));
    for (;;) {
      auto m = d.next();
      ASSERT_TRUE(m.ok()) << m.error().message;
      if (!*m) break;
      got.push_back(typeOf(**m));
    }
  }
  EXPECT_EQ(got, (std::vector<MessageType>{MessageType::kHello, MessageType::kReady,
                                           MessageType::kWait}));
}

TEST(TakeoverProtocol, BadInputIsAPreciseError) {
  EXPECT_NE(decodeError("GET / HTTP/1.1\r\n").find("bad magic"), std::string::npos);
  EXPECT_NE(decodeError("X").find("bad magic"), std::string::npos);  // known from one byte
  EXPECT_NE(decodeError(rawFrame(0, "")).find("unknown message type 0"), std::string::npos);
  EXPECT_NE(decodeError(rawFrame(8, "")).find("unknown message type 8"), std::string::npos);
  std::string huge = "CT";
  huge += '\x01';
  huge += std::string("\x7f\xff\xff\xff", 4);
  EXPECT_NE(decodeError(huge).find("at most"), std::string::npos);
  // A Hello with 3 of its 8 bytes.
  EXPECT_NE(decodeError(rawFrame(1, std::string("\0\0\0", 3))).find("hello.version"),
            std::string::npos);
  // A Ready with a byte too many.
  EXPECT_NE(decodeError(rawFrame(4, std::string(5, '\0'))).find("unexpected byte"),
            std::string::npos);
  // Sockets: last flag 2, an unknown kind, a count over the limit, a host
  // longer than the body.
  EXPECT_NE(decodeError(rawFrame(3, std::string("\x02\0\0", 3))).find("sockets.last"),
            std::string::npos);
  EXPECT_NE(
      decodeError(rawFrame(3, std::string("\x01\0\x01\x09", 4))).find("unknown socket kind 9"),
      std::string::npos);
  EXPECT_NE(decodeError(rawFrame(3, std::string("\x01\x01\x00", 3))).find("at most 64"),
            std::string::npos);
  EXPECT_NE(decodeError(rawFrame(3, std::string("\x01\0\x01\x01\0\x20"
                                                "abc",
                                                9)))
                .find("sockets.entry.host: the message ends early"),
            std::string::npos);
  EXPECT_NE(decodeError(rawFrame(6, std::string("\x05\0\0", 3))).find("unknown reason 5"),
            std::string::npos);
  // A Finish with 2 of its 4 bytes.
  EXPECT_NE(decodeError(rawFrame(7, std::string("\0\0", 2))).find("finish.pid"), std::string::npos);
  // An incomplete but well-formed start is not an error yet.
  EXPECT_EQ(decodeError(frame(Hello{}).substr(0, 9)), "");
}

TEST(TakeoverProtocol, AStreamStaysFailedAfterAnError) {
  Decoder d;
  d.feed("XX");
  EXPECT_FALSE(d.next().ok());
  d.feed(frame(Ready{1}));
  EXPECT_FALSE(d.next().ok());
}

TEST(TakeoverProtocol, EncodeRefusesWhatCannotBeDecoded) {
  Sockets s;
  s.entries.resize(kMaxSocketsPerMessage + 1);
  EXPECT_FALSE(encode(s).ok());
  EXPECT_FALSE(encode(Refused{RefusedReason::kBusy, std::string(5000, 'x')}).ok());
}

uint16_t localPort(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

int socketType(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  return type;
}

TEST(TakeoverChannel, PassesListeningSocketsOverASocketpair) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Channel a{UniqueFd(sv[0])}, b{UniqueFd(sv[1])};
  auto tcp = bindSocket(Endpoint{"127.0.0.1", 0, Transport::kTcp}, true);
  auto udp = bindSocket(Endpoint{"127.0.0.1", 0, Transport::kUdp}, true);
  ASSERT_TRUE(tcp.ok() && udp.ok());
  uint16_t tcpPort = localPort(tcp->get()), udpPort = localPort(udp->get());

  Sockets first{false, {{SocketKind::kTcp, "127.0.0.1", tcpPort, 0}}};
  Sockets second{true, {{SocketKind::kUdp, "127.0.0.1", udpPort, 0}}};
  ASSERT_TRUE(a.send(first, {tcp->get()}).ok());
  ASSERT_TRUE(a.send(second, {udp->get()}).ok());
  ASSERT_TRUE(a.send(Ready{3}).ok());

  auto r1 = b.receive(2000);
  ASSERT_TRUE(r1.ok()) << r1.error().message;
  auto r2 = b.receive(2000);
  ASSERT_TRUE(r2.ok()) << r2.error().message;
  auto r3 = b.receive(2000);
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  ASSERT_EQ(r1->fds.size(), 1u);
  ASSERT_EQ(r2->fds.size(), 1u);
  EXPECT_TRUE(r3->fds.empty());
  // New descriptors for the same sockets.
  EXPECT_NE(r1->fds[0].get(), tcp->get());
  EXPECT_EQ(localPort(r1->fds[0].get()), tcpPort);
  EXPECT_EQ(socketType(r1->fds[0].get()), SOCK_STREAM);
  EXPECT_EQ(localPort(r2->fds[0].get()), udpPort);
  EXPECT_EQ(socketType(r2->fds[0].get()), SOCK_DGRAM);
  EXPECT_EQ(std::get<Sockets>(r2->message).entries, second.entries);

  // The received TCP socket is the listening one: a connection to the port
  // can be accepted from it after the sender's copy is gone.
  tcp->reset();
  int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(tcpPort);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  int accepted = ::accept4(r1->fds[0].get(), nullptr, nullptr, 0);
  EXPECT_GE(accepted, 0);
  if (accepted >= 0) ::close(accepted);
  ::close(c);
}

TEST(TakeoverChannel, MissingDescriptorsAndEofAreErrors) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Channel b{UniqueFd(sv[1])};
  // A Sockets frame written without its descriptor.
  std::string f = frame(Sockets{true, {{SocketKind::kTcp, "127.0.0.1", 1, 0}}});
  ASSERT_EQ(::write(sv[0], f.data(), f.size()), static_cast<ssize_t>(f.size()));
  auto r = b.receive(2000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("expected 1"), std::string::npos) << r.error().message;
  ::close(sv[0]);

  int sv2[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2), 0);
  Channel c{UniqueFd(sv2[1])};
  ::close(sv2[0]);
  auto eof = c.receive(2000);
  ASSERT_FALSE(eof.ok());
  EXPECT_NE(eof.error().message.find("closed"), std::string::npos);
  // The sender checks its descriptors match the entries.
  int sv3[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv3), 0);
  Channel d{UniqueFd(sv3[0])};
  ::close(sv3[1]);
  EXPECT_FALSE(d.send(Sockets{true, {{SocketKind::kTcp, "h", 1, 0}}}, {}).ok());
}

TEST(TakeoverChannel, UnixListenerRefusesALivePathAndReplacesAStaleOne) {
  std::string path = "/tmp/corral-takeover-test-" + std::to_string(::getpid()) + ".sock";
  ::unlink(path.c_str());
  auto none = connectUnix(path);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::kNotFound);
  {
    auto l = listenUnix(path);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_FALSE(listenUnix(path).ok());  // someone answers there
    auto c = connectUnix(path);
    ASSERT_TRUE(c.ok());
    EXPECT_GE(acceptUnix(l->get()).get(), 0);
  }
  // The file stays behind with nobody listening: it is replaced.
  auto again = listenUnix(path);
  EXPECT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(listenUnix(std::string(200, 'x')).ok());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace corral::reload::takeover
