#!/usr/bin/env bash
# Installs the foreign MoQ peers used by the interop tests, sharing one cargo target dir
# ($TERN_CACHE/peer-target) so the common crates build once:
# - $TERN_CACHE/peers/bin: Cloudflare's moq-rs binaries for draft-18 (moq-clock-ietf 0.6.25,
#   moq-pub 0.10.0, moq-sub 0.5.0, moq-test-client, moq-relay-ietf) and moq-dev's `moq` CLI
#   (drafts 14-22);
# - $TERN_CACHE/peers-16/bin: the same three Cloudflare clients at their previous minors, the last
#   ones for draft-16 (moq-clock-ietf 0.6.24, moq-pub 0.9.7, moq-sub 0.4.18, on moq-transport
#   0.16.5 and moq-native-ietf 0.10.0). A `moqt://` URL is raw QUIC with ALPN `moqt-16` only; an
#   `https://` URL is WebTransport (ALPN `h3`) offering `moqt-16` in WT-Available-Protocols; no
#   `moq-00`, and CLIENT_SETUP carries no version list. They keep their binary names, so they get
#   a root (and cargo install metadata) of their own rather than renamed copies: nothing clashes
#   and the stamps work as is. Building them adds ~1.5 min once the draft-18 peers are built
#   (~4 min alone, in an empty target dir) on 2 cores.
# Idempotent: a binary already present at the pinned version (and lockfile) is kept.
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

# Draft-16 clients: `install` with its own root (`root` is dynamically scoped, so `install` sees
# this local). Their published lockfiles resolve as they are, so plain `--locked` installs.
install_in() { # root crate version binary [extra cargo args]
  local root=$1; shift
  mkdir -p "$root"
  install "$@"
}
install_in "$cache/peers-16" moq-clock-ietf 0.6.24 moq-clock-ietf
install_in "$cache/peers-16" moq-pub 0.9.7 moq-pub
install_in "$cache/peers-16" moq-sub 0.4.18 moq-sub

# moq-dev's `moq` CLI. `cargo install --locked moq-cli@0.14.10` fails: its published lockfile names
# webpki-roots 1.0.11, which the registry lacks. So it is built from the published .crate (checked
# against its sha256) with a lockfile of ours, .ci/locks/moq-cli-0.14.10.Cargo.lock: the published
# one with only webpki-roots moved to 1.0.10 (`cargo update -p webpki-roots`). The stamp names the
# lockfile's hash, so a changed lock reinstalls. Without default features (they pull iroh and
# WebRTC capture); noq is its QUIC stack.
install_locked() { # crate version sha256 binary [extra cargo args]
  local crate=$1 version=$2 sum=$3 bin=$4; shift 4
  local lock lock_sum stamp src crate_file
  lock="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/locks/$crate-$version.Cargo.lock"
  lock_sum=$(sha256sum "$lock" | cut -c1-16)
  stamp="$root/.$crate-$version-lock-$lock_sum"
  if [[ -x "$root/bin/$bin" && -f "$stamp" ]]; then
    echo "peer $bin $version: cached"
    return
  fi
  echo "peer $bin $version: installing (lockfile $lock_sum)"
  src="$cache/peer-src/$crate-$version"
  crate_file="$cache/peer-src/$crate-$version.crate"
  mkdir -p "$cache/peer-src"
  if ! echo "$sum  $crate_file" | sha256sum --check --status 2>/dev/null; then
    local cached
    cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$crate-$version.crate" 2>/dev/null |
      head -n 1 || true)
    if [[ -n "$cached" ]]; then
      cp "$cached" "$crate_file"
    else
      curl -sSfL --retry 3 -o "$crate_file" "https://static.crates.io/crates/$crate/$crate-$version.crate"
    fi
    echo "$sum  $crate_file" | sha256sum --check --quiet
  fi
  # A fixed source path: the crate's own fingerprint in the shared target dir stays valid.
  rm -rf "$src"
  tar -xzf "$crate_file" -C "$cache/peer-src"
  cp "$lock" "$src/Cargo.lock"
  cargo install --quiet --locked --force --root "$root" --path "$src" "$@"
  rm -f "$root/.$crate-$version"-lock-*
  touch "$stamp"
}

install_locked moq-cli 0.14.10 b68cecb9090290260ee936640eaeca220b980281331bb9155fe459613b40c0d8 moq \
  --no-default-features --features noq
echo "peers in $root/bin, draft-16 clients in $cache/peers-16/bin"
