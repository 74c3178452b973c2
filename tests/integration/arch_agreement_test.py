"""Each architecture against llama.cpp by teacher forcing: for every small synthetic model
(`tandem synth --shape tiny|tiny-llama3|tiny-qwen2|tiny-qwen3`: llama, llama with Llama 3
rope scaling and a tied head, qwen2 with Q/K/V biases and NEOX rope, qwen3 with per-head
q/k norms and a head dim unlike dim / heads) and every weight type listed, tandem's greedy
continuation (`tandem generate --json`) of each prompt must be llama.cpp's top token (or a
near tie, p >= 0.9 p_top) at every generated position (teacher.mjs, tests/anchors/llama_cpp).
Random weights give flat logits, hence teacher forcing rather than comparing greedy strings.

Usage: arch_agreement_test.py TANDEM WORK_DIR [SHAPE...] [--types t1,t2] [--quantize p1,p2]
                               [--vocab FILE] [--model FILE.gguf]... [--no-synth]
--types: weight types `tandem synth` writes directly; --quantize: `tandem quantize` presets
applied to a synthetic F32 model of each shape (the files tandem quantized itself; on rows
that are not whole 256-value super-blocks the K presets fall back to Q4_1/Q5_0/Q5_1/Q8_0
as llama.cpp's do).
(tests/bench/arch_agreement.sh runs it on real-shape models.)
WORK_DIR holds the llama.cpp anchor's npm install (kept between runs), unless
TANDEM_LLAMA_CPP_ANCHOR (or /tmp/llama-cpp-anchor) already holds node-llama-cpp 3.22.1.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ANCHOR_SRC = os.path.join(HERE, "..", "anchors", "llama_cpp")
PROMPTS = ["Once upon a time", "The quick brown fox jumps over", "1, 2, 3, 4, 5,"]
N_PREDICT = 32


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def installed_version(node_modules):
    try:
        with open(os.path.join(node_modules, "node-llama-cpp", "package.json")) as f:
            return json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_anchor(work_dir):
    """A directory with teacher.mjs next to a node_modules holding node-llama-cpp."""
    anchor = os.path.join(work_dir, "llama_cpp_anchor")
    os.makedirs(anchor, exist_ok=True)
    for name in ["package.json", "package-lock.json", "teacher.mjs"]:
        shutil.copy(os.path.join(ANCHOR_SRC, name), anchor)
    modules = os.path.join(anchor, "node_modules")
    want = json.load(open(os.path.join(ANCHOR_SRC, "package.json")))["dependencies"]
    if installed_version(modules) == want["node-llama-cpp"]:
        return anchor
    shared = os.environ.get("TANDEM_LLAMA_CPP_ANCHOR", "/tmp/llama-cpp-anchor")
    if installed_version(os.path.join(shared, "node_modules")) == want["node-llama-cpp"]:
        if os.path.islink(modules) or not os.path.exists(modules):
            if os.path.islink(modules):
                os.unlink(modules)
            os.symlink(os.path.join(shared, "node_modules"), modules)
            return anchor
    # npm install, not npm ci: the lock pins every version, but node-llama-cpp's optional
    # per-platform packages that the registry does not serve here are absent from it, which
    # npm ci refuses ("Missing: @node-llama-cpp/linux-riscv64@ from lock file"). Only the
    # CPU build (a direct dependency) is needed: the GPU and other-platform builds stay out.
    npm = subprocess.run(["npm", "install", "--omit=optional", "--ignore-scripts", "--no-audit",
                          "--no-fund"],
                         cwd=anchor, capture_output=True, text=True, timeout=900)
    if npm.returncode != 0:
        fail("npm install (node-llama-cpp from the npm registry): " + npm.stderr[-2000:])
    return anchor


def run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    if out.returncode != 0:
        fail("%s: %s" % (" ".join(cmd), out.stderr.strip()[-2000:]))
    return out.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tandem")
    p.add_argument("work_dir")
    p.add_argument("shapes", nargs="*", default=["tiny", "tiny-llama3", "tiny-qwen2", "tiny-qwen3"])
    p.add_argument("--types", default="f32,q8_0")
    p.add_argument("--quantize", default="")
    p.add_argument("--vocab", default="")
    p.add_argument("--model", action="append", default=[],
                   help="an existing GGUF to check as well (e.g. a real model)")
    p.add_argument("--threads", default="2")
    p.add_argument("--no-synth", action="store_true", help="check only the --model files")
    args = p.parse_args()
    anchor = install_anchor(args.work_dir)
    tmp = tempfile.mkdtemp(prefix="tandem-arch-")
    models = [(m, os.path.basename(m).rsplit("-", 1)[0], os.path.basename(m).rsplit("-", 1)[1][:-5])
              if m.count("-") else (m, os.path.basename(m), "?") for m in args.model]
    def synth(shape, t):
        path = os.path.join(tmp, "%s-%s.gguf" % (shape, t))
        cmd = [args.tandem, "synth", "--shape", shape, "--type", t, "-o", path]
        if args.vocab:
            cmd += ["--vocab", args.vocab]
        run(cmd)
        return path

    for shape in [] if args.no_synth else args.shapes:
        for t in filter(None, args.types.split(",")):
            models.append((synth(shape, t), shape, t))
        presets = list(filter(None, args.quantize.split(",")))
        if presets:
            base = synth(shape, "f32")
            for preset in presets:
                path = os.path.join(tmp, "%s-%s.gguf" % (shape, preset))
                run([args.tandem, "quantize", base, path, "--type", preset])
                models.append((path, shape, preset))

    rows, failures = [], []
    for path, shape, t in models:
        arch = run([args.tandem, "info", path]).split("architecture:")[1].split()[0]
        agree = positions = 0
        worst = 1.0
        for prompt in PROMPTS:
            gen = json.loads(run([args.tandem, "generate", "-m", path, "-p", prompt, "-n",
                                  str(N_PREDICT), "--temp", "0", "--json", "-t", args.threads]))
            ids = gen["prompt_ids"] + gen["ids"]
            res = json.loads(run(["node", os.path.join(anchor, "teacher.mjs"), path, "--ids",
                                  json.dumps(ids), "--from", str(len(gen["prompt_ids"])),
                                  "--threads", args.threads], cwd=anchor).strip().splitlines()[-1])
            agree += res["agree"]
            positions += res["positions"]
            worst = min(worst, res["worst_ratio"])
            if len(gen["ids"]) != N_PREDICT or res["positions"] != len(gen["ids"]):
                failures.append("%s %s %r: %d ids, %d positions checked" %
                                (shape, t, prompt, len(gen["ids"]), res["positions"]))
            if res["agree"] != res["positions"]:
                failures.append("%s %s %r: first disagreement %s" %
                                (shape, t, prompt, res["first_disagreement"]))
        rows.append((shape, arch, t, agree, positions, worst))

    print("%-14s %-6s %-5s %-10s %s" % ("shape", "arch", "type", "agree", "worst p/p_top"))
    for shape, arch, t, agree, positions, worst in rows:
        print("%-14s %-6s %-5s %3d / %-4d %.3f" % (shape, arch, t, agree, positions, worst))
    if failures:
        fail("; ".join(failures))
    print("OK: every generated token agrees with llama.cpp")


if __name__ == "__main__":
    main()
