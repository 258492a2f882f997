//! Collectors that fail: one refusing (its port closed, ICMP port
//! unreachable), then coming back, while another keeps working. Flows to
//! the healthy collector continue; every error is counted per collector;
//! once the other is back it receives what is sent from then on.

use stateflowd::export::udp::UdpSink;
use stateflowd::export::{CollectorSpec, EncoderConfig, Exporter, Format};
use stateflowd::flow::Flow;
use stateflowd::netflow::v5;
use stateflowd::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

fn flow(i: u32) -> Flow {
    let mut f = Flow::new(
        IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)),
        IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        17,
    );
    f.src_port = 1000 + i as u16;
    f.dst_port = 53;
    f.packets = 1;
    f.octets = 80;
    f.first = Timestamp::from_secs(1_700_000_000);
    f.last = f.first;
    f
}

/// Receives every waiting datagram; returns the number of v5 records.
fn drain(s: &UdpSocket) -> usize {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while let Ok(len) = s.recv(&mut buf) {
        let (h, _) = v5::parse(&buf[..len]).unwrap();
        n += usize::from(h.count);
    }
    n
}

#[test]
fn a_refusing_collector_is_counted_retried_and_does_not_stop_the_other() {
    let good = UdpSocket::bind("127.0.0.1:0").unwrap();
    good.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // A port with nobody on it: take one and free it.
    let down_addr: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addrs = [good.local_addr().unwrap(), down_addr];
    let specs: Vec<_> = addrs
        .iter()
        .map(|&addr| CollectorSpec {
            addr,
            format: Format::V5,
        })
        .collect();
    let mut exp = Exporter::new(&specs, EncoderConfig::default());
    let mut sink = UdpSink::open(&addrs, None).unwrap();
    let now = Timestamp::from_secs(1_700_000_010);
    let mut out = vec![];

    // 300 flows = 10 datagrams per collector while the second is down
    for i in 0..300 {
        exp.push(&flow(i), now, &mut out);
    }
    for d in out.drain(..) {
        sink.send(&d);
        std::thread::sleep(Duration::from_millis(2)); // let ICMP come back
    }
    assert_eq!(drain(&good), 300, "the healthy collector got every flow");
    let down = sink.collectors()[1].stats;
    assert!(down.refused >= 1, "refusals counted: {down:?}");
    assert_eq!(down.errors, down.refused);
    assert!(down.retries >= 1);
    // each datagram was either sent or counted as dropped
    assert_eq!(down.datagrams + down.dropped, 10, "{down:?}");
    assert_eq!(sink.collectors()[0].stats.errors, 0);

    // The collector comes back on the same port.
    let back = UdpSocket::bind(down_addr).unwrap();
    for i in 300..600 {
        exp.push(&flow(i), now, &mut out);
    }
    for d in out.drain(..) {
        sink.send(&d);
    }
    assert_eq!(drain(&good), 300);
    assert_eq!(drain(&back), 300, "every flow after its return arrived");
    let st = sink.collectors()[1].stats;
    assert_eq!(st.datagrams + st.dropped, 20, "{st:?}");
}
