//! The in-process DNS cache, end to end: a real DNS server on loopback (UDP, a high port, built
//! here on hickory-proto's wire format) answers `hostN.test` with 127.0.0.1 and `private.test`
//! with 10.0.0.7, and counts the queries it gets; `wit fetch --dns-server` downloads 1,000 images
//! on 10 host names through it. One query per name: the cache keeps answers for their TTL and
//! concurrent requests for a name wait for one lookup. The private-network rule still applies to
//! every resolved address: `private.test` is refused without `--allow-private-networks`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use wit_contract::Manifest;
use wit_tests::loopback::{jpeg, LoopbackServer, Reply};
use wit_tests::wit;

/// Queries received, by (name, record type).
type QueryLog = Arc<Mutex<HashMap<(String, RecordType), usize>>>;

/// A loopback DNS server: names in `zone` get an A record (TTL 300 s), others NXDOMAIN, AAAA
/// questions an empty answer. Runs until the test process ends.
fn start_dns(zone: HashMap<String, Ipv4Addr>) -> (SocketAddr, QueryLog) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let log: QueryLog = Arc::default();
    let seen = log.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buffer) {
            let Ok(query) = Message::from_vec(&buffer[..n]) else { continue };
            let mut reply = Message::new();
            reply.set_id(query.id()).set_message_type(MessageType::Response).set_op_code(query.op_code());
            reply.set_recursion_desired(query.recursion_desired()).set_recursion_available(true);
            reply.set_authoritative(true);
            for question in query.queries() {
                let name = question.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
                *seen.lock().unwrap().entry((name.clone(), question.query_type())).or_default() += 1;
                reply.add_query(question.clone());
                match zone.get(&name) {
                    Some(ip) if question.query_type() == RecordType::A => {
                        reply.add_answer(Record::from_rdata(question.name().clone(), 300, RData::A(A(*ip))));
                    }
                    Some(_) => {}
                    None => {
                        reply.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer);
        }
    });
    (addr, log)
}

#[test]
fn thousand_urls_on_ten_hosts_cost_ten_queries_and_private_answers_stay_refused() {
    let hosts: Vec<String> = (0..10).map(|i| format!("host{i}.test")).collect();
    let mut zone: HashMap<String, Ipv4Addr> = hosts.iter().map(|h| (h.clone(), Ipv4Addr::LOCALHOST)).collect();
    zone.insert("private.test".into(), Ipv4Addr::new(10, 0, 0, 7));
    let (dns, queries) = start_dns(zone);

    // 1,000 different images (sizes differ), or fetch would keep one and drop the rest as duplicates.
    let server = LoopbackServer::start(
        (0..1000u32)
            .map(|i| (format!("/img/{i}.jpg"), Reply::ok("image/jpeg", jpeg(16 + i % 50, 16 + i / 50, i as u8)))),
    );
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.csv");
    let mut csv = String::from("url,caption\n");
    for i in 0..1000 {
        csv.push_str(&format!("{},image {i}\n", server.url_with_host(&hosts[i % 10], &format!("/img/{i}.jpg"))));
    }
    for i in 0..5 {
        csv.push_str(&format!("http://private.test:{}/img/{i}.jpg,private {i}\n", dns.port()));
    }
    std::fs::write(&list, csv).unwrap();
    let out = dir.path().join("corpus");
    let (list, out_s, dns_s) = (list.to_str().unwrap(), out.to_str().unwrap(), dns.to_string());
    let run = wit(&[
        "fetch",
        list,
        "-o",
        out_s,
        "--dns-server",
        &dns_s,
        // 127.0.0.1 (the image server) is allowed; 10.0.0.7 stays in the forbidden ranges.
        "--allow-address",
        "127.0.0.1",
        "--per-host-concurrency",
        "8",
        "--per-host-delay-ms",
        "0",
        "--retries",
        "0",
        "--image-size",
        "16",
        "--disallowed-header-directives",
        "",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let manifest = Manifest::load(&out).unwrap();
    assert_eq!(manifest.stats["by_status"]["success"], 1000, "{}", manifest.stats);
    assert_eq!(manifest.stats["by_status"]["refused_private"], 5, "{}", manifest.stats);
    let log = queries.lock().unwrap().clone();
    for host in &hosts {
        assert_eq!(log.get(&(host.clone(), RecordType::A)), Some(&1), "one A query for {host}: {log:?}");
    }
    assert_eq!(log.get(&("private.test".into(), RecordType::A)), Some(&1), "{log:?}");
    let total: usize = log.values().sum();
    assert_eq!(total, 11, "10 image hosts + private.test, nothing else (no AAAA, no search domains): {log:?}");
}
