#!/usr/bin/env bash
# Installs the foreign MoQ peers used by the interop tests (Cloudflare's moq-rs binaries, draft-18)
# into $TERN_CACHE/peers/bin, sharing one cargo target dir so the common crates build once.
# Idempotent: a binary already present at the pinned version is kept.
set -euo pipefail
cache="${TERN_CACHE:-$HOME/.cache/tern}"
root="$cache/peers"
export CARGO_TARGET_DIR="$cache/peer-target"
mkdir -p "$root"

install() { # crate version binary [extra cargo args]
  local crate=$1 version=$2 bin=$3; shift 3
  local stamp="$root/.$crate-$version"
  if [[ -x "$root/bin/$bin" && -f "$stamp" ]]; then
    echo "peer $bin $version: cached"
    return
  fi
  echo "peer $bin $version: installing"
  cargo install --quiet --locked --root "$root" "$crate@$version" "$@"
  touch "$stamp"
}

install moq-clock-ietf 0.6.25 moq-clock-ietf
install moq-pub 0.10.0 moq-pub
install moq-sub 0.5.0 moq-sub
install moq-test-client 0.2.0 moq-test-client
install moq-relay-ietf 0.8.0 moq-relay-ietf --features auth-cat,metrics-prometheus
echo "peers in $root/bin"
