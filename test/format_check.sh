#!/usr/bin/env bash
# Fails when a C++ or proto file differs from what .clang-format makes of it.
set -euo pipefail
cd "$1"
files=$(git ls-files '*.cc' '*.h' '*.cpp' '*.proto' 2>/dev/null || find . -name '*.cc' -o -name '*.h')
clang-format --dry-run -Werror $files
echo "formatted: $(echo "$files" | wc -w) files"
