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
use super::spool::Spool;

/// Messages published and not yet acknowledged, at most.
const WINDOW: usize = 32;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a stopping element keeps sending what is queued before leaving it for next time.
const STOP_GRACE: Duration = Duration::from_secs(2);

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
        .set_max_packet_size(1 << 20, 1 << 20);
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
    stats: Arc<Stats>,
    report: impl Fn(String),
) {
    let mut backoff = FIRST_BACKOFF;
    let mut reported = false;
    let mut attempted = false;
    loop {
        // Stopping: what is queued stays on disk for the next run once an attempt to reach the
        // broker has failed (a stopping graph does not wait for a broker that is away).
        if spool.is_closed()
            && (spool.len() == 0
                || (attempted && !stats.connected.load(Ordering::SeqCst))
                || spool.closed_for().is_some_and(|t| t > STOP_GRACE))
        {
            return;
        }
        attempted = true;
        let (client, mut connection) = connect(&config, &transport);
        match session(&config, &client, &mut connection, &spool, &stats) {
            Ok(()) => return,
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
}

enum Failure {
    /// Never got connected.
    Connect(String),
    /// Was connected, then lost it.
    Lost(String),
}

/// One connection: sends until it fails or the spool is closed and done.
fn session(
    config: &Config,
    client: &Client,
    connection: &mut Connection,
    spool: &Spool,
    stats: &Stats,
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
    // (spool sequence, packet id once rumqttc assigned it)
    let mut inflight: VecDeque<(u64, Option<u16>)> = VecDeque::new();
    let mut last_sent: Option<u64> = None;
    loop {
        if inflight.len() < WINDOW {
            let room = WINDOW - inflight.len();
            let next = match last_sent {
                None => spool.oldest(room, Duration::ZERO),
                Some(after) => spool.after(after, room),
            };
            for (seq, payload) in next {
                client
                    .publish(&config.address.topic, QoS::AtLeastOnce, false, payload)
                    .map_err(|e| Failure::Lost(e.to_string()))?;
                inflight.push_back((seq, None));
                last_sent = Some(seq);
            }
        }
        let done = inflight.is_empty() && spool.is_closed() && spool.len() == 0;
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
                if let Some(i) = inflight.iter().position(|(_, p)| *p == Some(ack.pkid)) {
                    let (seq, _) = inflight.remove(i).expect("position is valid");
                    spool.remove(seq);
                    stats.sent.fetch_add(1, Ordering::SeqCst);
                }
            }
            Ok(Ok(_)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Err(e)) => return Err(Failure::Lost(e.to_string())),
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}
