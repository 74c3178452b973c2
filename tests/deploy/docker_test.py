#!/usr/bin/env python3
"""deploy/docker/Dockerfile, as far as this machine allows (no Docker engine here): the
build stage runs deploy/install-deps.sh (as CI does) and builds only tandem-cloud; the
runtime stage installs every Debian package whose shared libraries tandem-cloud links
(from ldd + dpkg), runs as a non-root user, exposes the ports its command serves, and
mounts /models. Then the image's CMD runs for real (paths swapped for this machine)
and its HEALTHCHECK command is run against it, before and after the worker stops.
Usage: docker_test.py SOURCE_DIR CLOUD_BINARY"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemons import Process, fail, cloud_from_container_args, cloud_flags  # noqa: E402

source_dir, cloud_binary = sys.argv[1:3]
dockerfile = os.path.join(source_dir, "deploy/docker/Dockerfile")

# Instructions, continuation lines joined, comments dropped; split into stages.
lines = []
for line in open(dockerfile).read().replace("\\\n", " ").splitlines():
    if line.strip() and not line.lstrip().startswith("#"):
        lines.append(line.strip())
stages = []
for line in lines:
    op, _, rest = line.partition(" ")
    if op == "FROM":
        stages.append([])
    stages[-1].append((op, rest.strip()))
if len(stages) != 2:
    fail("expected a build and a runtime stage, found %d" % len(stages))
build, runtime = stages


def only(stage, op):
    found = [rest for o, rest in stage if o == op]
    if len(found) != 1:
        fail("expected one %s in a stage, found %d" % (op, len(found)))
    return found[0]


build_from = only(build, "FROM")
# buildx: the build stage may run on the build machine's platform and cross-compile.
if not re.fullmatch(r"(--platform=\$BUILDPLATFORM )?debian:bookworm(-slim)? AS \w+", build_from):
    fail("build stage FROM %s" % build_from)
build_runs = " ".join(rest for o, rest in build if o == "RUN")
if "deploy/install-deps.sh" not in build_runs:
    fail("the build stage must run deploy/install-deps.sh, as CI does")
if "--target tandem-cloud" not in build_runs:
    fail("the build stage must build only the tandem-cloud target")
if not only(runtime, "FROM").startswith("debian:bookworm"):
    fail("runtime stage is not Debian bookworm")

user = only(runtime, "USER").split(":")[0]
if user in ("0", "root"):
    fail("the runtime stage runs as root")
if "/models" not in json.loads(only(runtime, "VOLUME")):
    fail("no /models volume")

# Runtime packages cover every shared library of the binary (libc6 and libgcc-s1 are
# part of every Debian image).
runtime_runs = " ".join(rest for o, rest in runtime if o == "RUN")
match = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", runtime_runs)
if not match:
    fail("no apt-get install in the runtime stage")
installed = set(match.group(1).split())
with open(cloud_binary, "rb") as f:
    elf_machine = int.from_bytes(f.read(20)[18:20], "little")  # e_machine
host_machine = {"x86_64": 0x3E, "aarch64": 0xB7}.get(os.uname().machine)
if elf_machine != host_machine:
    # The host's ldd cannot load a cross-built (arm64) binary; the native build checks
    # the same package list.
    print("tandem-cloud is built for another architecture: runtime package check skipped")
elif shutil.which("dpkg") and shutil.which("ldd"):
    needed = set()
    for line in subprocess.run(["ldd", cloud_binary], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        m = re.search(r"=> (/\S+)", line)
        if not m:
            continue
        path = m.group(1)
        for candidate in (os.path.realpath(path), path, re.sub(r"^/usr", "", path)):
            owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if owner.returncode == 0:
                needed.add(owner.stdout.split(":")[0])
                break
        else:
            fail("no Debian package owns %s" % path)
    missing = needed - installed - {"libc6", "libgcc-s1"}
    if missing:
        fail("the runtime stage lacks packages for tandem-cloud's libraries: %s" % sorted(missing))
    print("runtime packages cover ldd:", " ".join(sorted(needed)))
else:
    print("no dpkg/ldd: runtime package check skipped")

entrypoint = json.loads(only(runtime, "ENTRYPOINT"))
cmd = json.loads(only(runtime, "CMD"))
if entrypoint != ["/usr/local/bin/tandem-cloud"]:
    fail("ENTRYPOINT %s" % entrypoint)
if "/out/usr/local/bin/tandem-cloud" not in build_runs:
    fail("the build stage does not install the binary where ENTRYPOINT expects it")
flags = cloud_flags(cloud_binary)
values = dict(zip(cmd[::2], cmd[1::2]))
for flag in values:
    if flag not in flags:
        fail("CMD flag %s: tandem-cloud has no such flag" % flag)
exposed = {int(p) for p in only(runtime, "EXPOSE").split()}
served = {int(values[f].rsplit(":", 1)[1]) for f in ("--listen", "--health-listen", "--metrics")}
if exposed != served:
    fail("EXPOSE %s, the command serves %s" % (sorted(exposed), sorted(served)))
health = json.loads(re.sub(r"^(--\S+\s+)*CMD\s+", "", only(runtime, "HEALTHCHECK")))
if health[:2] != ["/usr/local/bin/tandem-cloud", "--health-check"] or \
        not health[2].endswith(":" + values["--health-listen"].rsplit(":", 1)[1]):
    fail("HEALTHCHECK %s does not probe the --health-listen port" % health)

# The image's command and health check, run here.
addresses = {values[flag]: "127.0.0.1:0" for flag in ("--listen", "--health-listen", "--metrics")}
with cloud_from_container_args(cloud_binary, cmd + ["--threads", "1"], values, source_dir,
                               lambda certs: addresses) as (cloud, ports):
    check = [cloud_binary] + health[1:]
    check[2] = "127.0.0.1:%d" % ports["health"]
    probe = Process(check)
    if probe.wait(30) != 0:
        fail("HEALTHCHECK failed on a serving worker: %s" % probe.text())
    cloud.signal(signal.SIGTERM)
    if cloud.wait(30) != 0:
        fail("the worker did not exit 0 on SIGTERM: %s" % cloud.text())
    probe = Process(check)
    if probe.wait(30) != 1:
        fail("HEALTHCHECK passed on a stopped worker")
    print("CMD serves; HEALTHCHECK passes while it serves and fails once it stopped")
print("Dockerfile: OK")
