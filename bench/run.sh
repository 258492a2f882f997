#!/bin/sh
# Every published benchmark in one run, with one summary table.
#
#   sh bench/run.sh [--quick] [--churn [MINUTES]] [--flood]
#
# Runs, in order (release builds, one core each):
#   1. cargo bench --bench state_table   pfsync decode + track messages/s on a
#                                        mixed OpenBSD v6 stream at 1,000,000
#                                        live states; bytes per tracked state
#   2. cargo bench --bench export        flows/s encoded per format; loopback
#                                        datagrams/s with sendmmsg+GSO and send
#   3. end to end                        stateflowd -A -r CAPTURE -v ipfix into
#                                        a real nfcapd: flows/s; fails unless
#                                        nfcapd stored exactly the flows (and
#                                        packet and byte totals) the capture
#                                        generator says the states produce
#   4. sh bench/capture.sh               capture mode packets/s against
#                                        softflowd on the same file, same run
#   5. with --churn: examples/churn      steady memory with a full, evicting
#                                        1,000,000-state table (default 3 min)
#   6. with --flood: sh bench/flood.sh   1,000,000 state deletions at link
#                                        speed over a namespace sync link
#                                        (root): deletions/s sent, flows at
#                                        nfcapd, drops counted, with a 4 MiB
#                                        and a 256 MiB receive buffer
# then prints the machine and a summary table, also written to
# bench/results-latest.txt (the raw output goes to bench/results-latest.log).
#
# --quick: the same steps at small sizes (about a minute with the builds);
# checks that everything works, the figures mean little.
#
# Captures are generated once and kept in /tmp (E2E_STATES pfsync states,
# default 1,000,000: ~540 MB; capture mode's ~11M packets: ~1 GB).
# Wants a quiet machine: other load shows up in every figure.
set -eu
cd "$(dirname "$0")/.."
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"

QUICK=0
CHURN_MIN=0
FLOOD=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--churn)
		CHURN_MIN=3
		case ${2:-} in [0-9]*) CHURN_MIN=$2; shift ;; esac ;;
	--flood) FLOOD=1 ;;
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) echo "usage: sh bench/run.sh [--quick] [--churn [MINUTES]] [--flood]" >&2; exit 64 ;;
	esac
	shift
done

if [ $QUICK = 1 ]; then
	TABLE_ARGS="100000 400000"
	EXPORT_ARGS="--quick"
	E2E_STATES=${E2E_STATES:-20000}
	CHURN_ARGS="--max-states 50000 --phases 12"
else
	TABLE_ARGS=""
	EXPORT_ARGS=""
	E2E_STATES=${E2E_STATES:-1000000}
	CHURN_ARGS="--minutes $CHURN_MIN"
fi

OUT=bench/results-latest.txt
LOG=bench/results-latest.log
[ $QUICK = 1 ] && OUT=bench/results-quick.txt && LOG=bench/results-quick.log
WORK=$(mktemp -d /tmp/stateflowd-run.XXXXXX)
NF=
trap '[ -n "$NF" ] && kill $NF 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM
: > "$LOG"

say() { echo "$@" | tee -a "$LOG"; }
# result NAME FILE: the value of a `result NAME VALUE` line.
result() { awk -v k="$1" '$1 == "result" && $2 == k { print $3 }' "$2"; }
fail() { say "bench/run.sh: FAILED: $*"; exit 1; }
now() { date +%s.%N; }

# ---- machine ----------------------------------------------------------
{
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
	echo "cpu:      $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores ($(lscpu | awk -F': +' '/^Thread\(s\) per core/ { print $2 }') thread/core)"
	echo "memory:   $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "os:       $(. /etc/os-release && echo "$PRETTY_NAME"), kernel $(uname -r)"
	echo "rustc:    $(rustc --version)"
	echo "tools:    $(nfcapd -V 2>&1 | head -1 | sed 's/.*Version: */nfcapd /'), $(softflowd -h 2>&1 | sed -n 's/.*softflowd version \([^.]*\.[^.]*\.[^.]*\)\..*/softflowd \1/p' | head -1)"
	echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
} > "$WORK/machine"
tee -a "$LOG" < "$WORK/machine"

say "== building (release)"
cargo build --release --quiet --bin stateflowd --example pfsync_gen --example churn
cargo bench --no-run --quiet --bench state_table --bench export 2>&1 | tail -5

# ---- 1. decode + track ------------------------------------------------
say "== cargo bench --bench state_table -- $TABLE_ARGS"
# shellcheck disable=SC2086
cargo bench --quiet --bench state_table -- $TABLE_ARGS > "$WORK/table" 2>&1 || { cat "$WORK/table"; fail "state_table bench"; }
tee -a "$LOG" < "$WORK/table"
MSGS=$(result decode_track_msgs_per_s "$WORK/table")
BPS=$(result table_bytes_per_state "$WORK/table")
TSTATES=$(result table_states "$WORK/table")

# ---- 2. export --------------------------------------------------------
say "== cargo bench --bench export -- $EXPORT_ARGS"
# shellcheck disable=SC2086
cargo bench --quiet --bench export -- $EXPORT_ARGS > "$WORK/export" 2>&1 || { cat "$WORK/export"; fail "export bench"; }
tee -a "$LOG" < "$WORK/export"

# ---- 3. end to end: -r capture -> nfcapd ------------------------------
CAP=/tmp/stateflowd-e2e-$E2E_STATES.pcap
CSV=/tmp/stateflowd-e2e-$E2E_STATES.expected.csv
if [ ! -s "$CAP" ] || [ ! -s "$CSV" ]; then
	say "== generating $CAP ($E2E_STATES states)"
	./target/release/examples/pfsync_gen --seed 8 --states "$E2E_STATES" --span 600 "$CAP" 2>&1 | tee -a "$LOG"
fi
# Expected flows and their packet and byte totals, from the generator.
awk -F, 'NR > 1 { n++; p += $6; b += $7 } END { printf "%d %.0f %.0f\n", n, p, b }' "$CSV" > "$WORK/expected"
read -r EXP_FLOWS EXP_PKTS EXP_BYTES < "$WORK/expected"
say "== end to end: stateflowd -A -r $CAP ($(du -h "$CAP" | cut -f1)) -v ipfix -> nfcapd, $EXP_FLOWS flows expected"
mkdir "$WORK/nf"
PORT=$((30000 + $$ % 20000))
nfcapd -b 127.0.0.1 -p $PORT -w "$WORK/nf" -t 86400 -B 16777216 > "$WORK/nfcapd.log" 2>&1 &
NF=$!
# wait until it listens
i=0
while ! grep -qi ":$(printf '%04X' $PORT) " /proc/net/udp; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "nfcapd did not start"; sleep 0.1
done
T0=$(now)
/usr/bin/time -v ./target/release/stateflowd -A -r "$CAP" -n 127.0.0.1:$PORT -v ipfix \
	--ifindex em0=1,em1=2 > "$WORK/e2e.out" 2> "$WORK/e2e.err" || { cat "$WORK/e2e.err"; fail "stateflowd -r"; }
T1=$(now)
grep '^stateflowd' "$WORK/e2e.err" | tee -a "$LOG"
SENT_FLOWS=$(sed -n 's/.* \([0-9]*\) flows, \([0-9]*\) datagrams sent, \([0-9]*\) dropped.*/\1/p' "$WORK/e2e.err")
DROPPED=$(sed -n 's/.* \([0-9]*\) flows, \([0-9]*\) datagrams sent, \([0-9]*\) dropped.*/\3/p' "$WORK/e2e.err")
E2E_RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORK/e2e.err")
# CPU seconds of the stateflowd process: on a shared machine a steadier
# figure than wall time.
E2E_CPU=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$WORK/e2e.err")
sleep 1
kill $NF; wait $NF 2>/dev/null || true; NF=
nfdump -R "$WORK/nf" -I > "$WORK/nfdump" 2>&1 || { cat "$WORK/nfdump"; fail "nfdump"; }
GOT_FLOWS=$(awk '$1 == "Flows:" { print $2 }' "$WORK/nfdump")
GOT_PKTS=$(awk '$1 == "Packets:" { print $2 }' "$WORK/nfdump")
GOT_BYTES=$(awk '$1 == "Bytes:" { print $2 }' "$WORK/nfdump")
say "nfcapd stored $GOT_FLOWS flows, $GOT_PKTS packets, $GOT_BYTES bytes; stateflowd exported $SENT_FLOWS flows ($DROPPED datagrams dropped); generator expects $EXP_FLOWS flows, $EXP_PKTS packets, $EXP_BYTES bytes"
[ -n "$SENT_FLOWS" ] || fail "no summary line from stateflowd"
[ "$DROPPED" = 0 ] || fail "stateflowd dropped $DROPPED datagrams"
[ "$SENT_FLOWS" = "$EXP_FLOWS" ] || fail "stateflowd exported $SENT_FLOWS flows, the generator expects $EXP_FLOWS"
[ "$GOT_FLOWS" = "$SENT_FLOWS" ] || fail "nfcapd stored $GOT_FLOWS flows, stateflowd exported $SENT_FLOWS"
[ "$GOT_PKTS" = "$EXP_PKTS" ] || fail "nfcapd stored $GOT_PKTS packets, expected $EXP_PKTS"
[ "$GOT_BYTES" = "$EXP_BYTES" ] || fail "nfcapd stored $GOT_BYTES bytes, expected $EXP_BYTES"
E2E_SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.3f", b - a }')
E2E_RATE=$(awk -v n="$SENT_FLOWS" -v s="$E2E_SECS" 'BEGIN { printf "%.0f", n / s }')
E2E_MSGS=$(grep -o '[0-9]* pfsync frames' "$WORK/e2e.err" | cut -d' ' -f1)
E2E_CPU_RATE=$(awk -v n="$SENT_FLOWS" -v s="$E2E_CPU" 'BEGIN { printf "%.0f", n / s }')
say "end to end: $SENT_FLOWS flows in $E2E_SECS s = $E2E_RATE flows/s ($E2E_CPU s CPU = $E2E_CPU_RATE flows per CPU second), peak RSS $E2E_RSS KiB (all stored by nfcapd)"

# ---- 4. capture mode vs softflowd -------------------------------------
if [ $QUICK = 1 ]; then
	CPCAP=/tmp/stateflowd-bench-quick.pcap
	if [ ! -s "$CPCAP" ]; then
		cargo build --release --quiet --example capgen
		./target/release/examples/capgen "$CPCAP" 20000 60 > "$CPCAP.info"
	fi
	say "== RUNS=2 sh bench/capture.sh $CPCAP"
	RUNS=2 sh bench/capture.sh "$CPCAP" > "$WORK/capture" 2>&1 || { cat "$WORK/capture"; fail "bench/capture.sh"; }
else
	say "== sh bench/capture.sh"
	sh bench/capture.sh > "$WORK/capture" 2>&1 || { cat "$WORK/capture"; fail "bench/capture.sh"; }
fi
tee -a "$LOG" < "$WORK/capture"
pps() { awk -v w="$1:" '$1 == w { for (i = 2; i < NF; i++) if ($(i + 1) == "packets/s,") print $i }' "$WORK/capture"; }
rss() { awk -v w="$1:" '$1 == w { for (i = 1; i < NF; i++) if ($i == "RSS") print $(i + 1) }' "$WORK/capture"; }
CAP_US=$(pps stateflowd)
CAP_SF=$(pps softflowd)
RSS_US=$(rss stateflowd)
RSS_SF=$(rss softflowd)
CAP_DESC=$(sed -n 's/^capture: [^,]*, \([0-9]*\) packets.*/\1 packets/p' "$WORK/capture")
[ -n "$CAP_US" ] && [ -n "$CAP_SF" ] || fail "could not read packets/s from bench/capture.sh"
RATIO=$(awk -v a="$CAP_US" -v b="$CAP_SF" 'BEGIN { printf "%.2f", a / b }')

# ---- 5. churn ---------------------------------------------------------
CHURN=
if [ "$CHURN_MIN" != 0 ] || [ $QUICK = 1 ]; then
	say "== ./target/release/examples/churn $CHURN_ARGS"
	# shellcheck disable=SC2086
	./target/release/examples/churn $CHURN_ARGS > "$WORK/churn" 2>&1 || { cat "$WORK/churn"; fail "churn"; }
	tee -a "$LOG" < "$WORK/churn"
	CHURN=1
fi

# ---- 6. flood ---------------------------------------------------------
if [ $FLOOD = 1 ]; then
	FLOOD_N=1000000
	[ $QUICK = 1 ] && FLOOD_N=100000
	say "== sh bench/flood.sh $FLOOD_N"
	sh bench/flood.sh $FLOOD_N > "$WORK/flood" 2>&1 || { cat "$WORK/flood"; fail "bench/flood.sh"; }
	tee -a "$LOG" < "$WORK/flood"
fi

# ---- summary ----------------------------------------------------------
m() { awk -v x="$1" 'BEGIN { printf "%.2f M", x / 1e6 }'; }
{
	cat "$WORK/machine"
	echo
	echo "| Figure | Result | Measured with |"
	echo "|---|---|---|"
	echo "| pfsync decode + track, OpenBSD v6 mix (12.5 % INS, 75 % UPD_C, 12.5 % DEL_C), $TSTATES live states | $(m "$MSGS") messages/s | \`cargo bench --bench state_table\` |"
	echo "| memory per tracked state at $TSTATES states | $BPS bytes | \`cargo bench --bench state_table\` |"
	for f in v5_ipv4 v9_ipv4 v9_ipv6 ipfix_ipv4 ipfix_ipv6; do
		echo "| export encode $(echo $f | sed 's/_ipv/ IPv/; s/ipfix/IPFIX/; s/v5/NetFlow v5/; s/^v9/NetFlow v9/') | $(m "$(result encode_${f}_flows_per_s "$WORK/export")") flows/s | \`cargo bench --bench export\` |"
	done
	echo "| loopback send, sendmmsg with UDP GSO / one send each | $(result send_sendmmsg_datagrams_per_s "$WORK/export" | awk '{ printf "%.0f k", $1 / 1e3 }') / $(result send_send_datagrams_per_s "$WORK/export" | awk '{ printf "%.0f k", $1 / 1e3 }') datagrams/s | \`cargo bench --bench export\` |"
	echo "| end to end: \`stateflowd -A -r\` $E2E_STATES-state capture ($E2E_MSGS frames) → IPFIX → nfcapd | $(m "$E2E_RATE") flows/s ($SENT_FLOWS flows in $E2E_SECS s, $E2E_CPU s CPU; all stored; peak RSS $((E2E_RSS / 1024)) MiB) | \`bench/run.sh\` |"
	echo "| capture mode, stateflowd ($CAP_DESC) | $(m "$CAP_US") packets/s (peak RSS $((RSS_US / 1024)) MiB) | \`bench/capture.sh\` |"
	echo "| capture mode, softflowd, same file, same run | $(m "$CAP_SF") packets/s (peak RSS $((RSS_SF / 1024)) MiB) | \`bench/capture.sh\` |"
	echo "| capture mode ratio stateflowd / softflowd | ${RATIO}× | \`bench/capture.sh\` |"
	if [ -n "$CHURN" ]; then
		W=$WORK/churn
		echo "| churn: $(result churn_inserted "$W") states through a $(result churn_bound "$W")-state table, $(result churn_phases "$W") phases | max table $(result churn_max_table_len "$W"), $(result churn_evicted "$W") evicted; heap after warm-up $(awk -v x="$(result churn_heap_baseline_bytes "$W")" 'BEGIN { printf "%.1f MB", x / 1e6 }'), growth $(awk -v x="$(result churn_heap_growth_bytes "$W")" 'BEGIN { printf "%+.2f MB", x / 1e6 }') (limit $(awk -v x="$(result churn_heap_tolerance_bytes "$W")" 'BEGIN { printf "%.2f MB", x / 1e6 }')) | \`examples/churn $CHURN_ARGS\` |"
	fi
	if [ $FLOOD = 1 ]; then
		W=$WORK/flood
		for b in 4194304 268435456; do
			echo "| deletion flood, $FLOOD_N DEL_C over a namespace sync link, receive buffer $((b / 1048576)) MiB | sent at $(m "$(result flood_rate_$b "$W")")/s; $(result flood_stored_$b "$W") flows at nfcapd, $(result flood_overflow_$b "$W") frames dropped and counted | \`bench/flood.sh\` |"
		done
	fi
} > "$WORK/summary"
echo | tee -a "$LOG"
tee -a "$LOG" < "$WORK/summary"
cp "$WORK/summary" "$OUT"
echo
echo "written to $OUT (raw output: $LOG)"
