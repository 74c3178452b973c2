#!/usr/bin/env bash
# The tree stays formatted: every tracked C++ file as clang-format (.clang-format) has it.
# Usage: format_test.sh SOURCE_DIR. Exit 77 (skipped) without git or clang-format.
set -euo pipefail
cd "$1"
command -v clang-format >/dev/null && command -v git >/dev/null || exit 77
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 77  # .git is a file in worktrees
files=$(git ls-files '*.cc' '*.h' '*.proto')
bad=$(echo "$files" | xargs clang-format --dry-run 2>&1 | grep -oE '^[^:]+:[0-9]+:[0-9]+: (warning|error)' |
  cut -d: -f1 | sort -u || true)
if [ -n "$bad" ]; then
  echo "not formatted (run clang-format -i on them):"
  echo "$bad"
  exit 1
fi
echo "$(echo "$files" | wc -l) files formatted"
