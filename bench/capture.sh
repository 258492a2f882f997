#!/bin/sh
# Capture-mode throughput against softflowd, on the same file, in one run.
#
#   sh bench/capture.sh [PCAP]
#
# Without PCAP, builds /tmp/stateflowd-bench.pcap with examples/capgen.rs
# (1,200,000 conversations, ~11M packets, IPv4+IPv6 TCP/UDP/ICMP, 600 s of
# capture time; kept for later runs). Both tools read it with the same
# max-flows (-m 2000000) and default timeouts, export NetFlow v5 to their
# own nfcapd on loopback, and run under /usr/bin/time -v, RUNS times each
# (default 5, alternating; the best run of each counts). Prints packets/s
# for each, the ratio, peak RSS, and the records each collector stored.
# Takes minutes and wants a quiet machine; scripts/test runs it on a small
# capture (bench/run.sh --quick), where only the record check counts.
set -eu
cd "$(dirname "$0")/.."
PCAP=${1:-/tmp/stateflowd-bench.pcap}
MAXF=2000000
cargo build --release --quiet --example capgen --bin stateflowd
if [ ! -s "$PCAP" ]; then
	echo "generating $PCAP ..."
	./target/release/examples/capgen "$PCAP" > "$PCAP.info"
fi
if [ -s "$PCAP.info" ]; then
	PKTS=$(awk '{print $2}' "$PCAP.info")
else
	# A capture given on the command line: count its packets once.
	PKTS=$(capinfos -M -c "$PCAP" 2>/dev/null | awk '/Number of packets/ {print $NF}')
	echo "packets $PKTS" > "$PCAP.info"
fi
echo "capture: $PCAP, $PKTS packets, $(du -h "$PCAP" | cut -f1)"

RUNS=${RUNS:-5}
WORK=$(mktemp -d /tmp/stateflowd-bench.XXXXXX)
# Both tools send a replay's records as fast as they make them: let each
# collector's socket hold them all (nfcapd -B is capped by rmem_max), so
# the records stored say what was sent. Restored on exit.
RMEM=$(sysctl -n net.core.rmem_max 2>/dev/null || echo "")
[ -n "$RMEM" ] && sysctl -qw net.core.rmem_max=268435456 2>/dev/null || true
NF=
trap '[ -n "$NF" ] && kill $NF 2>/dev/null; rm -rf "$WORK"; [ -n "$RMEM" ] && sysctl -qw net.core.rmem_max="$RMEM" 2>/dev/null || true' EXIT INT TERM
PORT=$((20000 + $$ % 20000))

# One run of a tool: its own nfcapd, the tool under /usr/bin/time, the
# records that nfcapd stored. Sets LAST_PPS, LAST_RSS, LAST_RECORDS.
measure() { # name, run, command...
	name=$1; run=$2; shift 2
	dir="$WORK/$name.$run"
	mkdir "$dir"
	nfcapd -b 127.0.0.1 -p $PORT -w "$dir" -t 86400 -B 268435456 >/dev/null 2>&1 & NF=$!
	sleep 1
	/usr/bin/time -v "$@" > "$dir.out" 2> "$dir.time" || {
		echo "$name failed:"; tail -20 "$dir.time"; exit 1; }
	sleep 1
	kill $NF; wait $NF 2>/dev/null || true; NF=
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$dir.time")
	LAST_RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir.time")
	user=$(awk -F': ' '/User time/ {print $2}' "$dir.time")
	sys=$(awk -F': ' '/System time/ {print $2}' "$dir.time")
	# h:mm:ss or m:ss.cc -> seconds
	secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	LAST_PPS=$(awk -v p="$PKTS" -v s="$secs" 'BEGIN { printf "%.0f", p / s }')
	LAST_RECORDS=$(nfdump -R "$dir" -q -o csv 2>/dev/null | wc -l)
	echo "run $run $name: ${secs}s wall (user ${user}s sys ${sys}s), $LAST_PPS packets/s, peak RSS $LAST_RSS KiB, $LAST_RECORDS records at nfcapd"
}

# Alternate the tools, RUNS times each, and keep each one's best run: on a
# shared virtual machine a run can lose a core to a neighbour, and the
# best of several says what the tool can do.
best_sf=0; best_us=0; rss_sf=0; rss_us=0; rec_sf=; rec_us=
for run in $(seq "$RUNS"); do
	measure softflowd "$run" softflowd -d -r "$PCAP" -c none -v 5 -m $MAXF -n 127.0.0.1:$PORT
	[ "$LAST_PPS" -gt "$best_sf" ] && best_sf=$LAST_PPS
	[ "$LAST_RSS" -gt "$rss_sf" ] && rss_sf=$LAST_RSS
	rec_sf="$rec_sf $LAST_RECORDS"
	measure stateflowd "$run" ./target/release/stateflowd --capture -r "$PCAP" -m $MAXF -n 127.0.0.1:$PORT
	[ "$LAST_PPS" -gt "$best_us" ] && best_us=$LAST_PPS
	[ "$LAST_RSS" -gt "$rss_us" ] && rss_us=$LAST_RSS
	rec_us="$rec_us $LAST_RECORDS"
done
echo "softflowd: best of $RUNS: $best_sf packets/s, peak RSS $rss_sf KiB"
echo "stateflowd: best of $RUNS: $best_us packets/s, peak RSS $rss_us KiB"
echo "records at the collectors (v5, IPv4 only), per run: softflowd$rec_sf; stateflowd$rec_us"
awk -v a="$best_us" -v b="$best_sf" -v ra="$rss_us" -v rb="$rss_sf" \
	'BEGIN { printf "speed ratio stateflowd/softflowd: %.2fx; peak RSS ratio: %.2f\n", a / b, ra / rb }'
# Same flows from both: every run's collector holds the same records.
first=$(echo $rec_sf | cut -d' ' -f1)
for r in $rec_sf $rec_us; do
	[ "$r" = "$first" ] || { echo "the collectors stored different record counts" >&2; exit 1; }
done
