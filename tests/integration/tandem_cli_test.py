"""The `tandem` command on bad input, as a user meets it: each case exits non-zero with
one clear message on stderr and prints nothing on stdout. Inputs are derived from the
embedded model (truncated, architecture renamed, a tensor's type changed) or missing.

Usage: tandem_cli_test.py TANDEM
"""
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import daemons  # noqa: E402
from daemons import fail  # noqa: E402

GGML_TYPE_Q4_K = 12  # a K-quant: 256-value super-blocks, which 64-value rows cannot hold


def with_tensor_type(data, name, new_type):
    """`data` with the type of tensor `name` in its tensor info set to `new_type`."""
    key = struct.pack("<Q", len(name)) + name
    at = data.find(key)
    if at < 0:
        fail("tensor %r not found" % name)
    pos = at + len(key)
    (n_dims,) = struct.unpack_from("<I", data, pos)
    type_at = pos + 4 + 8 * n_dims
    return data[:type_at] + struct.pack("<I", new_type) + data[type_at + 4:]


def main():
    tandem = sys.argv[1]
    model = os.path.join(daemons.SOURCE_DIR, "deploy/models/stories260K.gguf")
    tmp = tempfile.mkdtemp(prefix="tandem-cli-")
    data = open(model, "rb").read()

    def write(name, content):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    arch_at = data.find(b"llama", data.find(b"general.architecture"))
    cases = [
        ("missing file", ["generate", "-m", os.path.join(tmp, "nope.gguf"), "-p", "Hi"],
         "nope.gguf"),
        ("truncated file", ["generate", "-m", write("cut.gguf", data[:len(data) // 2]),
                            "-p", "Hi"], "truncated|past the end|beyond|exceeds"),
        ("not a GGUF file", ["info", write("text.gguf", b"hello, world\n" * 100)],
         "magic|not a GGUF"),
        ("unsupported architecture",
         ["generate", "-m", write("gpt2.gguf", data[:arch_at] + b"gpt2x" + data[arch_at + 5:]),
          "-p", "Hi"], "architecture"),
        ("K-quant tensor whose rows are not whole super-blocks",
         ["generate", "-m", write("q4k.gguf", with_tensor_type(data, b"blk.0.attn_q.weight",
                                                               GGML_TYPE_Q4_K)), "-p", "Hi"],
         "blk.0.attn_q.weight.*q4_K block size 256"),
        ("prompt longer than the context",
         ["generate", "-m", model, "-c", "8", "-p", "Once upon a time " * 10], "context"),
        ("bad quantize type", ["quantize", model, os.path.join(tmp, "o.gguf"), "--type", "q3"],
         "q3|type"),
    ]
    import re
    for what, args, pattern in cases:
        out = subprocess.run([tandem] + args, capture_output=True, text=True, timeout=60)
        if out.returncode == 0:
            fail("%s: exit 0" % what)
        if out.stdout.strip():
            fail("%s: printed on stdout: %r" % (what, out.stdout))
        if not re.search(pattern, out.stderr, re.I):
            fail("%s: expected /%s/ in stderr: %r" % (what, pattern, out.stderr))
        print("%s: exit %d: %s" % (what, out.returncode, out.stderr.strip().splitlines()[-1]))
    print("PASS")


if __name__ == "__main__":
    main()
