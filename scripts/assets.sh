#!/bin/sh
# Fills assets/ from datasets/assets.tsv: copies each file from $ASSETS_MIRROR (a directory laid out
# like assets/) or downloads it from its upstream URL, then checks its sha256. Files already present
# with the right hash are left alone. Exit status is non-zero if any file is missing or corrupt.
set -u
manifest=datasets/assets.tsv
dest=assets
mirror=${ASSETS_MIRROR:-}
if [ -z "$mirror" ] && [ -d ../shared/assets ]; then mirror=../shared/assets; fi
fail=0; fetched=0
while IFS="$(printf '\t')" read -r path sha url; do
  case "$path" in ''|'#'*) continue;; esac
  out="$dest/$path"
  if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -c1-64)" = "$sha" ]; then continue; fi
  mkdir -p "$(dirname "$out")"
  rm -f "$out.part"
  case "$url" in
  bunzip2:*) # derived: the decompressed form of an earlier entry (listed above it)
    bzip2 -dc "$dest/${url#bunzip2:}" > "$out.part" 2>/dev/null || echo "assets: $path: cannot decompress ${url#bunzip2:}" >&2;;
  *)
  if [ -n "$mirror" ] && [ -f "$mirror/$path" ]; then
    cp "$mirror/$path" "$out.part"
  elif [ "$url" != "-" ] && command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$out.part" "$url" || { echo "assets: download failed: $url" >&2; }
  else
    echo "assets: $path: not in the mirror (ASSETS_MIRROR=${mirror:-unset}) and no upstream URL" >&2
  fi;;
  esac
  if [ -f "$out.part" ] && [ "$(sha256sum "$out.part" | cut -c1-64)" = "$sha" ]; then
    chmod 644 "$out.part"; mv "$out.part" "$out"; fetched=$((fetched+1))
  else
    [ -f "$out.part" ] && echo "assets: $path: sha256 mismatch (expected $sha)" >&2
    rm -f "$out.part"; fail=1
  fi
done < "$manifest"
[ $fetched -gt 0 ] && echo "assets: fetched $fetched file(s) into $dest/"
exit $fail
