// Noticing that an HTTP client went away while its request is still being served.
// cpp-httplib (0.11) does not hand handlers their socket, so the connection is found by
// its address pair, once per request, among this process's sockets.
#pragma once

#include <string>

namespace tandem::edge {

// The connected socket with local port `local_port` and peer `remote_addr`:`remote_port`
// (as httplib::Request reports them), or -1 if none is found.
int FindPeerSocket(int local_port, const std::string& remote_addr, int remote_port);

// True once the peer closed its side or the connection failed (a client that gave up).
// Never blocks. False for fd < 0.
bool PeerHungUp(int fd);

}  // namespace tandem::edge
