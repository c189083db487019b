#!/usr/bin/env bash
# Coverage-guided fuzzing of tern's fuzz entry points with cargo-afl, on the stable toolchain.
#
#   benches/afl/run.sh [all | NAME...]        # default: all, one after the other
#
# For each entry point: build the instrumented harness (once), fuzz it from its committed corpus
# until EXECS executions or SECS seconds, whichever comes first, minimise the queue with
# AFL++'s afl-cmin back into the committed corpus directory (files over 64 KiB dropped), and
# print executions, wall time, edges covered, corpus sizes, crashes and hangs.
#
# Environment: SECS (default 3600), EXECS (default 10000000), CARGO_TARGET_DIR (default
# benches/afl/target), OUT (afl-fuzz output, default $CARGO_TARGET_DIR/afl-out), NO_BUILD=1 to
# use the binaries already built. Needs cargo-afl (`cargo install cargo-afl --locked`: a C
# compiler and make). One afl-fuzz process at a time: it takes one core.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${SECS:-3600}
execs=${EXECS:-10000000}
target_dir=${CARGO_TARGET_DIR:-$here/target}
out_root=${OUT:-$target_dir/afl-out}

# Entry point -> its committed corpus (the cargo-fuzz corpus of the crate that owns it).
declare -A corpus=(
    [control_message]=relay/moq/fuzz/corpus/control_message
    [data_stream]=relay/moq/fuzz/corpus/data_stream
    [datagram]=relay/moq/fuzz/corpus/datagram
    [setup]=relay/moq/fuzz/corpus/setup
    [demux]=origin/cmaf/fuzz/corpus/demux
    [ts]=gateway/fuzz/corpus/ts
    [hops]=relay/fuzz/corpus/hops
    [dns]=relay/fuzz/corpus/dns
    [framing]=clients/fuzz/corpus/framing
)
order=(control_message data_stream datagram setup demux ts hops dns framing)

names=("$@")
if [[ ${#names[@]} -eq 0 || ${names[0]} == all ]]; then
    names=("${order[@]}")
fi
for n in "${names[@]}"; do
    [[ -n ${corpus[$n]:-} ]] || { echo "unknown entry point: $n (one of: ${order[*]})" >&2; exit 2; }
done

if [[ -z ${NO_BUILD:-} ]]; then
    (cd "$here" && CARGO_TARGET_DIR=$target_dir cargo afl build --release --locked)
fi

# AFL++ as cargo-afl built it (override with AFL_BIN).
afl_bin=${AFL_BIN:-$(dirname "$(find "${XDG_DATA_HOME:-$HOME/.local/share}/afl.rs" -path '*/afl/bin/afl-cmin.awk' | sort | tail -1)")}
[[ -x $afl_bin/afl-cmin.awk ]] || { echo "AFL++ not found: install cargo-afl or set AFL_BIN" >&2; exit 2; }

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1

field() { sed -n "s/^$1 *: *//p" "$2"; }

for n in "${names[@]}"; do
    bin=$target_dir/release/$n
    dir=$root/${corpus[$n]}
    out=$out_root/$n
    rm -rf "$out"
    mkdir -p "$out"
    before=$(find "$dir" -type f | wc -l)
    start=$(date +%s)
    cargo afl fuzz -i "$dir" -o "$out" -E "$execs" -V "$secs" "$bin" > "$out/afl-fuzz.log" 2>&1 || {
        echo "$n: afl-fuzz failed, see $out/afl-fuzz.log" >&2
        tail -20 "$out/afl-fuzz.log" >&2
        exit 1
    }
    wall=$(($(date +%s) - start))
    stats=$out/default/fuzzer_stats
    queue=$(find "$out/default/queue" -maxdepth 1 -type f | wc -l)

    # Minimise the queue (seeds included) into the corpus directory. The hand-made seeds (any
    # name but 16 hex digits) stay; the other files are replaced by the minimised queue, each
    # named by its content. (`cargo afl cmin` runs AFL++'s Python afl-cmin, which sees no
    # coverage from these harnesses; the awk one does, and takes seconds where the bash one
    # takes minutes. It is given the queue's files only, not its `.state`.)
    min=$out/cmin
    mkdir -p "$out/queue-files"
    find "$out/default/queue" -maxdepth 1 -type f -exec cp -t "$out/queue-files" {} +
    AFL_PATH=$afl_bin PATH=$afl_bin:$PATH "$afl_bin/afl-cmin.awk" -i "$out/queue-files" \
        -o "$min" -- "$bin" > "$out/cmin.log" 2>&1
    if ! compgen -G "$min/*" > /dev/null; then
        echo "$n: cmin kept nothing, corpus left as it was; see $out/cmin.log" >&2
        exit 1
    fi
    find "$dir" -type f -regextype posix-extended -regex '.*/[0-9a-f]{16}' -delete
    for f in "$min"/*; do
        [[ -f $f && $(wc -c < "$f") -le 65536 ]] || continue
        [[ $f == *orig:* && -e $dir/${f##*orig:} ]] && continue
        install -m 644 "$f" "$dir/$(sha1sum "$f" | cut -c1-16)"
    done
    after=$(find "$dir" -type f | wc -l)

    crashes=$(find "$out/default/crashes" -type f -name 'id:*' | wc -l)
    hangs=$(find "$out/default/hangs" -type f -name 'id:*' | wc -l)
    done_execs=$(field execs_done "$stats")
    printf '%s: execs %s, wall %ss, %s execs/s, edges %s/%s (%s), corpus %s -> queue %s -> cmin %s, crashes %s, hangs %s\n' \
        "$n" "$done_execs" "$wall" "$((done_execs / (wall > 0 ? wall : 1)))" \
        "$(field edges_found "$stats")" "$(field total_edges "$stats")" "$(field bitmap_cvg "$stats")" \
        "$before" "$queue" "$after" "$crashes" "$hangs"
    if ((crashes + hangs > 0)); then
        echo "  inputs in $out/default/crashes and $out/default/hangs" >&2
    fi
done
