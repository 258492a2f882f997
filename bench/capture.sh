#!/bin/sh
# Capture-mode throughput against softflowd, on the same file, in one run.
#
#   sh bench/capture.sh [PCAP]
#
# Without PCAP, builds /tmp/stateflowd-bench.pcap with examples/capgen.rs
# (1,200,000 conversations, ~11M packets, IPv4+IPv6 TCP/UDP/ICMP, 600 s of
# capture time; kept for later runs). Both tools read it with the same
# max-flows (-m 2000000) and default timeouts, export NetFlow v5 to their
# own nfcapd on loopback, and run under /usr/bin/time -v. Prints packets/s
# for each, the ratio, peak RSS, and the records each collector stored.
# Not part of scripts/test: it takes minutes and wants a quiet machine.
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

WORK=$(mktemp -d /tmp/stateflowd-bench.XXXXXX)
# Both tools send a replay's records as fast as they make them: let each
# collector's socket hold them all (nfcapd -B is capped by rmem_max), so
# the records stored say what was sent. Restored on exit.
RMEM=$(sysctl -n net.core.rmem_max 2>/dev/null || echo "")
[ -n "$RMEM" ] && sysctl -qw net.core.rmem_max=268435456 2>/dev/null || true
trap 'kill $NF1 $NF2 2>/dev/null || true; rm -rf "$WORK"; [ -n "$RMEM" ] && sysctl -qw net.core.rmem_max="$RMEM" 2>/dev/null || true' EXIT INT TERM
mkdir "$WORK/sf" "$WORK/us"
P1=$((20000 + $$ % 20000)); P2=$((P1 + 1))
nfcapd -b 127.0.0.1 -p $P1 -w "$WORK/sf" -t 86400 -B 268435456 >/dev/null 2>&1 & NF1=$!
nfcapd -b 127.0.0.1 -p $P2 -w "$WORK/us" -t 86400 -B 268435456 >/dev/null 2>&1 & NF2=$!
sleep 1

measure() { # name, command...
	name=$1; shift
	/usr/bin/time -v "$@" > "$WORK/$name.out" 2> "$WORK/$name.time" || {
		echo "$name failed:"; tail -20 "$WORK/$name.time"; exit 1; }
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/$name.time")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.time")
	user=$(awk -F': ' '/User time/ {print $2}' "$WORK/$name.time")
	sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/$name.time")
	# h:mm:ss or m:ss.cc -> seconds
	secs=$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
	pps=$(awk -v p="$PKTS" -v s="$secs" 'BEGIN { printf "%.0f", p / s }')
	echo "$name: ${secs}s wall (user ${user}s sys ${sys}s), $pps packets/s, peak RSS ${rss} KiB"
	eval "${name}_pps=$pps; ${name}_rss=$rss"
}

measure softflowd softflowd -d -r "$PCAP" -c none -v 5 -m $MAXF -n 127.0.0.1:$P1
measure stateflowd ./target/release/stateflowd --capture -r "$PCAP" -m $MAXF -n 127.0.0.1:$P2
sleep 2
kill $NF1 $NF2; wait $NF1 $NF2 2>/dev/null || true
r1=$(nfdump -R "$WORK/sf" -q -o csv 2>/dev/null | wc -l)
r2=$(nfdump -R "$WORK/us" -q -o csv 2>/dev/null | wc -l)
echo "records at the collectors (v5, IPv4 only): softflowd $r1, stateflowd $r2"
awk -v a="$stateflowd_pps" -v b="$softflowd_pps" -v ra="$stateflowd_rss" -v rb="$softflowd_rss" \
	'BEGIN { printf "speed ratio stateflowd/softflowd: %.2fx; peak RSS ratio: %.2f\n", a / b, ra / rb }'
