// SPDX-License-Identifier: MIT OR Apache-2.0
//! The thread that empties the spool into the broker: QoS 1, oldest first, a window of messages
//! in flight, each removed from the spool only when the broker acknowledged it. A lost
//! connection is retried with back-off; what was not acknowledged is sent again (at least once,
//! in order). The streaming thread never waits on any of this.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::tokio_native_tls::native_tls;
use rumqttc::{
    Client, Connection, Event, Incoming, MqttOptions, Outgoing, QoS, RecvTimeoutError,
    TlsConfiguration, Transport,
};

use super::address::Address;
use super::retained::Retained;
use super::spool::Spool;

/// Messages published and not yet acknowledged, at most.
const WINDOW: usize = 32;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stopping element keeps sending what is queued before leaving it for next time.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The end of that grace only waits for acknowledgements: a message the broker acknowledged
/// but whose PUBACK was never read would be sent again by the next run.
const ACK_WAIT: Duration = Duration::from_millis(500);
/// The largest message this client sends (its packet limit, less the topic and header).
const MAX_PACKET: usize = 1 << 20;
/// After a lost connection messages go one at a time (the window reopens with each
/// acknowledgement), so that the one in flight when the broker hangs up is known. Lost this many
/// times in a row while alone in flight, the broker refuses that message (larger than its limit,
/// say): it is set aside.
const STRIKES: u32 = 3;

/// What the sender needs to connect.
#[derive(Clone)]
pub struct Config {
    pub address: Address,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    /// PEM bytes: the CA to trust, and the client certificate and key for mutual TLS.
    pub ca: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Counters the element reports.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub connected: AtomicBool,
    pub reconnects: AtomicU64,
}

/// Builds the TLS connector once, so bad certificate files fail at start, not at connect.
pub fn tls_transport(config: &Config) -> Result<Option<Transport>, String> {
    if !config.address.tls {
        return Ok(None);
    }
    let identity = config
        .identity
        .as_ref()
        .map(|(cert, key)| (cert.as_slice(), key.as_slice()));
    native_tls_transport(config.ca.as_deref(), identity).map(Some)
}

/// An OpenSSL TLS transport trusting `ca` (PEM; else the system's CAs), with the client
/// certificate and PKCS#8 key `identity` (PEM) when given.
pub fn native_tls_transport(
    ca: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> Result<Transport, String> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(ca) = ca {
        let cert = native_tls::Certificate::from_pem(ca)
            .map_err(|e| format!("the CA file is not a PEM certificate: {e}"))?;
        builder.add_root_certificate(cert);
    }
    if let Some((cert, key)) = identity {
        let identity = native_tls::Identity::from_pkcs8(cert, key)
            .map_err(|e| format!("the client certificate and key are not PEM and PKCS#8: {e}"))?;
        builder.identity(identity);
    }
    let connector = builder
        .build()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(Transport::Tls(TlsConfiguration::NativeConnector(connector)))
}

fn connect(config: &Config, transport: &Option<Transport>) -> (Client, Connection) {
    let a = &config.address;
    let mut options = MqttOptions::new(&config.client_id, &a.host, a.port);
    options
        .set_keep_alive(Duration::from_secs(15))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some((user, password)) = &config.credentials {
        options.set_credentials(user, password);
    }
    if let Some(t) = transport {
        options.set_transport(t.clone());
    }
    let (client, mut connection) = Client::new(options, WINDOW * 2);
    // A stopping element waits for this at most once; rumqttc's default is 5 s.
    let mut network = connection.eventloop.network_options();
    network.set_connection_timeout(3);
    network.set_tcp_nodelay(true);
    connection.eventloop.set_network_options(network);
    (client, connection)
}

/// Runs until the spool is closed (and, within a short grace, emptied). `report` gets each
/// connection failure once per outage.
pub fn run(
    config: Config,
    transport: Option<Transport>,
    spool: Arc<Spool>,
    retained: Arc<Retained>,
    stats: Arc<Stats>,
    report: impl Fn(String),
) {
    let mut backoff = FIRST_BACKOFF;
    let mut reported = false;
    let mut attempted = false;
    // The oldest message in flight at the last lost connections, and how many in a row.
    let mut suspect: Option<(u64, u32)> = None;
    loop {
        // Stopping: what is queued stays on disk for the next run once an attempt to reach the
        // broker has failed (a stopping graph does not wait for a broker that is away).
        if spool.is_closed()
            && ((spool.is_empty() && !retained.pending())
                || (attempted && !stats.connected.load(Ordering::SeqCst))
                || spool.closed_for().is_some_and(|t| t > STOP_GRACE))
        {
            break;
        }
        attempted = true;
        let (client, mut connection) = connect(&config, &transport);
        let mut oldest_in_flight = None;
        let careful = suspect.is_some();
        let mut acked = 0;
        let outcome = session(
            &config,
            &client,
            &mut connection,
            &spool,
            &retained,
            &stats,
            Flight {
                careful,
                oldest: &mut oldest_in_flight,
                acked: &mut acked,
            },
            &report,
        );
        if matches!(outcome, Err(Failure::Lost(_))) {
            // A strike only when that message was alone in flight.
            let alone = careful && acked == 0;
            suspect = match (suspect, oldest_in_flight) {
                (Some((seq, n)), Some(now)) if alone && seq == now => Some((seq, n + 1)),
                (_, Some(now)) => Some((now, u32::from(alone))),
                (_, None) => None,
            };
            if let Some((seq, STRIKES)) = suspect {
                spool.set_aside(seq);
                report(format!(
                    "MQTT broker {}:{} closed the connection {STRIKES} times while message {seq} was in flight (larger than the broker accepts?); set aside in the spool's undeliverable/ folder",
                    config.address.host, config.address.port
                ));
                suspect = None;
            }
        }
        match outcome {
            Ok(()) => break,
            Err(Failure::Connect(e)) => {
                stats.connected.store(false, Ordering::SeqCst);
                if !reported {
                    reported = true;
                    report(format!(
                        "MQTT broker {}:{} unreachable ({e}); spooling detections and retrying",
                        config.address.host, config.address.port
                    ));
                }
            }
            Err(Failure::Lost(e)) => {
                stats.connected.store(false, Ordering::SeqCst);
                stats.reconnects.fetch_add(1, Ordering::SeqCst);
                report(format!(
                    "MQTT connection lost ({e}); spooling and reconnecting"
                ));
                backoff = FIRST_BACKOFF;
                reported = true;
            }
        }
        drop(client);
        drop(connection);
        spool.wait_closed(backoff);
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    // A graph that stopped before any attempt could tell (a starved sender thread, a stop
    // within the grace): the user still learns where the messages are.
    if !reported && !stats.connected.load(Ordering::SeqCst) && !spool.is_empty() {
        report(format!(
            "MQTT broker {}:{} unreachable before the graph stopped; {} messages kept in the \
             spool for the next run",
            config.address.host,
            config.address.port,
            spool.len()
        ));
    }
}

/// What one session sends at once, and what it tells the next.
struct Flight<'a> {
    /// One message at a time at first (after a lost connection).
    careful: bool,
    /// The oldest message in flight when the session ended.
    oldest: &'a mut Option<u64>,
    /// Messages acknowledged in the session.
    acked: &'a mut u64,
}

enum Failure {
    /// Never got connected.
    Connect(String),
    /// Was connected, then lost it.
    Lost(String),
}

/// One connection: sends until it fails or the spool is closed and done.
#[allow(clippy::too_many_arguments)] // the connection, the two queues it empties, and its counters
fn session(
    config: &Config,
    client: &Client,
    connection: &mut Connection,
    spool: &Spool,
    retained: &Retained,
    stats: &Stats,
    flight: Flight,
    report: &impl Fn(String),
) -> Result<(), Failure> {
    // Wait for the broker's CONNACK.
    loop {
        match connection.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(Event::Incoming(Incoming::ConnAck(ack)))) => {
                if ack.code != rumqttc::ConnectReturnCode::Success {
                    return Err(Failure::Connect(format!("broker refused: {:?}", ack.code)));
                }
                break;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(Failure::Connect(e.to_string())),
            Err(RecvTimeoutError::Timeout) => {
                return Err(Failure::Connect("no answer within 5 s".into()));
            }
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
    stats.connected.store(true, Ordering::SeqCst);
    // A new connection may follow one that lost retained values on the way.
    retained.mark_all_unsent();
    // (spool sequence, or None for a retained value; packet id once rumqttc assigned it)
    let mut inflight: VecDeque<(Option<u64>, Option<u16>)> = VecDeque::new();
    let mut last_sent: Option<u64> = None;
    loop {
        let publishing = spool
            .closed_for()
            .is_none_or(|t| t < STOP_GRACE.saturating_sub(ACK_WAIT));
        let window = if flight.careful {
            (*flight.acked as usize + 1).min(WINDOW)
        } else {
            WINDOW
        };
        if publishing && inflight.len() < window {
            let room = window - inflight.len();
            let next = match last_sent {
                None => spool.oldest(room, Duration::ZERO),
                Some(after) => spool.after(after, room),
            };
            for (seq, payload) in next {
                last_sent = Some(seq);
                if payload.len() + config.address.topic.len() + 16 > MAX_PACKET {
                    // Never deliverable by this client: set aside instead of jamming the queue.
                    spool.set_aside(seq);
                    report(format!(
                        "MQTT message {seq} is {} bytes, over the {MAX_PACKET}-byte packet limit; set aside in the spool's undeliverable/ folder",
                        payload.len()
                    ));
                    continue;
                }
                client
                    .publish(&config.address.topic, QoS::AtLeastOnce, false, payload)
                    .map_err(|e| Failure::Lost(e.to_string()))?;
                inflight.push_back((Some(seq), None));
            }
        }
        if publishing && inflight.len() < window {
            for (topic, payload) in retained.take_unsent(window - inflight.len()) {
                client
                    .publish(topic, QoS::AtLeastOnce, true, payload)
                    .map_err(|e| Failure::Lost(e.to_string()))?;
                inflight.push_back((None, None));
            }
        }
        *flight.oldest = inflight.iter().find_map(|(seq, _)| *seq);
        let done =
            inflight.is_empty() && spool.is_closed() && spool.is_empty() && !retained.pending();
        if done || spool.closed_for().is_some_and(|t| t > STOP_GRACE) {
            // What is still queued stays in the spool for the next run.
            let _ = client.disconnect();
            return Ok(());
        }
        match connection.recv_timeout(Duration::from_millis(20)) {
            Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => {
                if let Some(slot) = inflight.iter_mut().find(|(_, p)| p.is_none()) {
                    slot.1 = Some(pkid);
                }
            }
            Ok(Ok(Event::Incoming(Incoming::PubAck(ack)))) => {
                if let Some(i) = inflight.iter().position(|(_, p)| *p == Some(ack.pkid))
                    && let (Some(seq), _) = inflight.remove(i).expect("position is valid")
                {
                    spool.remove(seq);
                    stats.sent.fetch_add(1, Ordering::SeqCst);
                    *flight.acked += 1;
                }
            }
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => return Err(Failure::Lost(e.to_string())),
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}
