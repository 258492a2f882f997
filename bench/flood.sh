#!/bin/sh
# Deletion flood on a real sync link: a simulated firewall
# (examples/pfsync_peer.rs) in one network namespace inserts N states, then
# deletes them all as fast as it can send (DEL_C frames to 224.0.0.240,
# TTL 255, over a veth pair); stateflowd --syncdev in the other namespace
# exports each deletion to nfcapd. Run once with the default receive
# buffer (4 MiB) and once with 256 MiB. For each it prints the deletions/s
# the peer sent, what stateflowd counted (states deleted, frames the kernel
# dropped as socket overflow) and the flows nfcapd stored, and checks that
# every flow stateflowd sent is at nfcapd, and that every deletion is seen
# or explained by the drops: with no frame dropped all N are deleted; with
# D frames dropped at most 121 x D are missing at nfcapd (the peer packs
# 121 DEL_C in a frame, 5 INS before that, so no dropped frame hides more).
#
#   sh bench/flood.sh [N]        (default N = 1000000; needs root)
#   RCVBUFS="65536 4194304" sh bench/flood.sh 100000   (other buffers)
#
# A reduced version (100,000 deletions) runs in the test suite
# (tests/it/netns.rs, deletion_flood_is_exported_whole_or_its_losses_counted).
set -eu
cd "$(dirname "$0")/.."
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" = 0 ] || { echo "flood.sh: run as root (it creates network namespaces)" >&2; exit 1; }
N=${1:-1000000}
RCVBUFS=${RCVBUFS:-"4194304 268435456"}
# DEL_C messages per frame in examples/pfsync_peer.rs's flood (its
# `.chunks(121)`); its insert frames carry 5.
PER_FRAME=121
cargo build --release --quiet --bin stateflowd --bin stateflowctl --example pfsync_peer

FW=sfd-flood-fw-$$ MON=sfd-flood-mon-$$
work=$(mktemp -d /tmp/stateflowd-flood.XXXXXX)
cleanup() {
	[ -n "${sfd:-}" ] && kill "$sfd" 2>/dev/null || true
	[ -n "${nfpid:-}" ] && kill "$nfpid" 2>/dev/null || true
	ip netns del $FW 2>/dev/null || true
	ip netns del $MON 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
ip netns add $FW
ip netns add $MON
ip link add sync0 netns $FW type veth peer name sync0 netns $MON
ip -n $FW addr add 169.254.240.1/24 dev sync0
ip -n $MON addr add 169.254.240.2/24 dev sync0
for ns in $FW $MON; do ip -n $ns link set sync0 up; ip -n $ns link set lo up; done
sleep 1

stat() { awk -v k="$1:" '$1 == k { print $2 }' "$work/stats"; }
fail=0
for rcvbuf in $RCVBUFS; do
	rm -rf "$work/flows" "$work/ctl.sock"
	mkdir -p "$work/flows"
	ip netns exec $MON nfcapd -b 127.0.0.1 -p 2055 -w "$work/flows" -t 3600 -B 16777216 >/dev/null 2>&1 &
	nfpid=$!
	ip netns exec $MON ./target/release/stateflowd --syncdev sync0 -n 127.0.0.1:2055 -A \
		-d -u nobody --chroot "$work/empty" -p none -c "$work/ctl.sock" \
		--rcvbuf $rcvbuf 2>"$work/sfd.log" &
	sfd=$!
	while [ ! -S "$work/ctl.sock" ]; do sleep 0.1; done
	ip netns exec $FW ./target/release/examples/pfsync_peer --iface sync0 \
		--flood "$N" --wait-ms 1000 >/dev/null 2>"$work/peer.log"
	rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' "$work/peer.log")
	# wait until the daemon has read everything (frames stop moving)
	prev=-1
	while :; do
		sleep 0.5
		ip netns exec $MON ./target/release/stateflowctl -c "$work/ctl.sock" statistics >"$work/stats"
		cur=$(stat frames)
		[ "$cur" = "$prev" ] && break
		prev=$cur
	done
	kill -TERM $sfd; wait $sfd || true; sfd=
	sleep 0.5
	kill $nfpid; wait $nfpid 2>/dev/null || true; nfpid=
	stored=$(nfdump -R "$work/flows" -I 2>/dev/null | awk '$1 == "Flows:" { print $2 }')
	deleted=$(stat states.deleted)
	overflow=$(stat dropped.socket_overflow)
	flows=$(stat flows)
	printf 'rcvbuf %9d: peer sent %s deletions at %.0f/s; stateflowd: %s deleted, %s frames dropped (socket overflow), %s flows; nfcapd stored %s\n' \
		"$rcvbuf" "$N" "$rate" "$deleted" "$overflow" "$flows" "$stored"
	echo "result flood_rate_${rcvbuf} $rate"
	echo "result flood_stored_${rcvbuf} $stored"
	echo "result flood_overflow_${rcvbuf} $overflow"
	if [ "$stored" != "$flows" ]; then
		echo "flood.sh: FAILED: nfcapd stored $stored flows, stateflowd sent $flows" >&2
		fail=1
	fi
	# Deletions that did not reach nfcapd (one flow each): a dropped DEL_C
	# frame hides up to PER_FRAME, a dropped insert frame up to 5 (their
	# deletions find no state).
	missing=$((N - stored))
	bound=$((PER_FRAME * overflow))
	if [ "$overflow" = 0 ]; then
		if [ "$deleted" != "$N" ]; then
			echo "flood.sh: FAILED: $deleted of $N deletions seen and no drop counted" >&2
			fail=1
		else
			echo "rcvbuf $rcvbuf: all $N deletions seen, no frame dropped"
		fi
	elif [ "$missing" -lt 0 ] || [ "$missing" -gt "$bound" ]; then
		echo "flood.sh: FAILED: $missing deletions missing at nfcapd, more than $PER_FRAME x $overflow dropped frames = $bound" >&2
		fail=1
	else
		echo "rcvbuf $rcvbuf: $missing deletions missing at nfcapd <= $PER_FRAME x $overflow dropped frames = $bound: explained by the drops"
	fi
	echo "result flood_missing_${rcvbuf} $missing"
done
exit $fail
