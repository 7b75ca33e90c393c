#!/bin/sh
# Exit 0 when every dependency qbench needs is present, 1 (listing what is missing) otherwise.
missing=""
for p in openblas lapacke sqlite3 cmocka libcjson yaml-0.1 libutf8proc; do
  pkg-config --exists "$p" 2>/dev/null || missing="$missing $p"
done
[ -f /usr/include/libstemmer.h ] || missing="$missing libstemmer"
[ -f /usr/share/wordnet/data.noun ] || missing="$missing wordnet-base"
command -v gnuplot >/dev/null 2>&1 || missing="$missing gnuplot"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then echo "missing:$missing" >&2; exit 1; fi
exit 0
