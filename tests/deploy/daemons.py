"""Helpers for the deploy tests: start tandem-cloud / tandem-edge as real processes on
127.0.0.1, read the lines they print on stderr, make dev certificates, free ports."""
import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77  # ctest SKIP_RETURN_CODE


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def free_port():
    """A port that was free a moment ago (for servers that cannot report port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(directory):
    subprocess.run(["bash", os.path.join(SOURCE_DIR, "deploy/make-dev-certs.sh"), directory],
                   check=True, stdout=subprocess.DEVNULL)
    return {name: os.path.join(directory, name) for name in
            ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"]}


class Process:
    """A daemon with its stderr captured line by line (and stdout, if asked)."""

    def __init__(self, argv, capture_stdout=False):
        self.argv = argv
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        self.stderr = b""
        self.stdout = b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stderr, selectors.EVENT_READ, "stderr")
        if capture_stdout:
            self.selector.register(self.proc.stdout, selectors.EVENT_READ, "stdout")

    def _pump(self, timeout):
        """Reads what is available within `timeout`; False once both streams ended."""
        if not self.selector.get_map():
            return False
        for key, _ in self.selector.select(timeout):
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                self.selector.unregister(key.fileobj)
            elif key.data == "stderr":
                self.stderr += data
            else:
                self.stdout += data
        return True

    def wait_for(self, pattern, timeout=60, stream="stderr"):
        """The first match of `pattern` in the stream; fails the test after `timeout`."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.M)
        while True:
            text = (self.stderr if stream == "stderr" else self.stdout).decode(errors="replace")
            match = regex.search(text)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0 or (not self._pump(min(left, 0.2)) and self.proc.poll() is not None):
                fail("%s: no %r on %s after %.0f s; stderr:\n%s" % (
                    os.path.basename(self.argv[0]), pattern, stream, timeout,
                    self.stderr.decode(errors="replace")))

    def wait(self, timeout):
        """Exit code, or None if still running after `timeout` (output is drained)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                while self._pump(0.05):
                    pass
                return self.proc.returncode
            self._pump(0.05)
        return None

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text(self):
        return self.stderr.decode(errors="replace")


def start_cloud(binary, certs, extra=()):
    """tandem-cloud on 127.0.0.1 with TLS, health and metrics ports; returns (process, ports)."""
    cloud = Process([binary, "--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0",
                     "--metrics", "127.0.0.1:0", "--threads", "1",
                     "--tls-cert", certs["server.pem"], "--tls-key", certs["server.key"]]
                    + list(extra))
    grpc = int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))
    health = int(cloud.wait_for(r"health .* on 127\.0\.0\.1:(\d+)$").group(1))
    metrics = int(cloud.wait_for(r"metrics on 127\.0\.0\.1:(\d+)/metrics$").group(1))
    return cloud, {"grpc": grpc, "health": health, "metrics": metrics}


def load_yaml_module():
    try:
        import yaml  # noqa: F401
        return yaml
    except ImportError:
        fail("python3 has no yaml module (Debian package python3-yaml, deploy/install-deps.sh)")


def cloud_flags(binary):
    """The long flags `tandem-cloud --help` lists."""
    import subprocess as sp
    out = sp.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out))


def run_cloud_args(binary, args, replacements, certs):
    """Starts tandem-cloud with `args` (a container's command) after replacing values
    that point into a container with ones on this machine; returns (process, ports)."""
    argv = [binary]
    for arg in args:
        for old, new in replacements.items():
            arg = arg.replace(old, new)
        argv.append(arg)
    print("running:", " ".join(argv))
    cloud = Process(argv)
    ports = {"grpc": int(cloud.wait_for(r"listening on 127\.0\.0\.1:(\d+)$").group(1))}
    match = re.search(r"health .* on 127\.0\.0\.1:(\d+)$", cloud.text(), re.M)
    if match:
        ports["health"] = int(match.group(1))
    match = re.search(r"metrics on 127\.0\.0\.1:(\d+)/metrics$", cloud.text(), re.M)
    if match:
        ports["metrics"] = int(match.group(1))
    return cloud, ports


@contextlib.contextmanager
def cloud_from_container_args(binary, args, values, source_dir, local_addresses):
    """Runs tandem-cloud with a container's `args` (`values`: flag -> value) on this
    machine: the embedded model for --model, fresh dev certificates for the TLS files,
    and the replacements `local_addresses(certs)` adds (addresses, threads). Yields
    (process, ports) as run_cloud_args; kills it and removes the files afterwards."""
    tmp = tempfile.mkdtemp()
    cloud = None
    try:
        certs = make_certs(tmp)
        replacements = {
            values["--model"]: os.path.join(source_dir, "deploy/models/stories260K.gguf"),
            values["--tls-cert"]: certs["server.pem"], values["--tls-key"]: certs["server.key"],
            values["--tls-client-ca"]: certs["ca.pem"],
        }
        replacements.update(local_addresses(certs))
        cloud, ports = run_cloud_args(binary, args, replacements, certs)
        yield cloud, ports
    finally:
        if cloud is not None:
            cloud.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def health_check(binary, port, service=""):
    """tandem-cloud --health-check: (exit code, stderr)."""
    probe = Process([binary, "--health-check", "127.0.0.1:%d" % port,
                     "--health-service", service])
    return probe.wait(30), probe.text()
