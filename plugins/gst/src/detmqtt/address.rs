// SPDX-License-Identifier: MIT OR Apache-2.0
//! `mqtt://host[:port]/topic` and `mqtts://…` locations, with `{device}` and `{stream}` in the
//! topic. Credentials never come from here: a location shows up in process lists and logs.

/// A broker and the topic to publish to.
#[derive(Debug, Clone, PartialEq)]
pub struct Address {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub topic: String,
}

impl Address {
    /// Parses `location`, filling `{device}` and `{stream}` in the topic.
    pub fn parse(location: &str, device: &str, stream: &str) -> Result<Self, String> {
        let mut address = Self::parse_template(location)?;
        address.topic = address
            .topic
            .replace("{device}", device)
            .replace("{stream}", stream);
        if address.topic.is_empty() || address.topic.contains(['+', '#']) {
            return Err(format!(
                "topic '{}' cannot be published to: give a topic without + or #, e.g. mqtt://{}/hmg/{{device}}/{{stream}}/detections",
                address.topic, address.host
            ));
        }
        Ok(address)
    }

    /// Parses `location` with its topic as written (`{device}`, `{stream}` kept): what a
    /// subscriber to many devices needs.
    pub fn parse_template(location: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = location.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = location.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(format!(
                "location '{location}' is not an MQTT address: write mqtt://host[:port]/topic or mqtts://host[:port]/topic"
            ));
        };
        let (authority, topic) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(
                "put no user name or password in the location (it shows in process lists): use credentials-file, or HMG_MQTT_USERNAME and HMG_MQTT_PASSWORD".into(),
            );
        }
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("'{p}' in '{location}' is not a port number"))?,
            ),
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("location '{location}' names no broker host"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
            tls,
            topic: topic.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_fills_the_topic() {
        let a = Address::parse(
            "mqtt://broker:1884/hmg/{device}/{stream}/detections",
            "pi1",
            "cam0",
        )
        .unwrap();
        assert_eq!(
            a,
            Address {
                host: "broker".into(),
                port: 1884,
                tls: false,
                topic: "hmg/pi1/cam0/detections".into()
            }
        );
        let a = Address::parse("mqtts://10.0.0.5/x", "d", "s").unwrap();
        assert_eq!((a.port, a.tls), (8883, true));
        let a = Address::parse("mqtt://[::1]:1883/x", "d", "s").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 1883));
    }

    #[test]
    fn refuses_credentials_wildcards_and_other_schemes() {
        for bad in [
            "mqtt://user:secret@broker/x",
            "http://broker/x",
            "mqtt://broker/a/#",
            "mqtt://broker",
            "mqtt://broker:port/x",
            "mqtt:///x",
        ] {
            assert!(Address::parse(bad, "d", "s").is_err(), "{bad}");
        }
    }
}
