// SPDX-License-Identifier: MIT OR Apache-2.0
//! HailoRT status codes (4.21–4.23 numbering) as sentences a user can act on.

use crate::hef::HefHeader;

/// The statuses hmg names, as `hailort.h` numbers them. 0–90 are the same in 4.20 … 4.23
/// (`layout_probe.c` checks them against the header); 91–93 were added in 4.21.
pub const STATUSES: &[(i32, &str)] = &[
    (0, "HAILO_SUCCESS"),
    (1, "HAILO_UNINITIALIZED"),
    (2, "HAILO_INVALID_ARGUMENT"),
    (3, "HAILO_OUT_OF_HOST_MEMORY"),
    (4, "HAILO_TIMEOUT"),
    (5, "HAILO_INSUFFICIENT_BUFFER"),
    (6, "HAILO_INVALID_OPERATION"),
    (8, "HAILO_INTERNAL_FAILURE"),
    (13, "HAILO_OPEN_FILE_FAILURE"),
    (26, "HAILO_INVALID_HEF"),
    (36, "HAILO_DRIVER_OPERATION_FAILED"),
    (63, "HAILO_STREAM_ABORT"),
    (64, "HAILO_DRIVER_NOT_INSTALLED"),
    (69, "HAILO_NETWORK_GROUP_NOT_ACTIVATED"),
    (73, "HAILO_DEVICE_IN_USE"),
    (74, "HAILO_OUT_OF_PHYSICAL_DEVICES"),
    (75, "HAILO_INVALID_DEVICE_ARCHITECTURE"),
    (76, "HAILO_INVALID_DRIVER_VERSION"),
    (77, "HAILO_RPC_FAILED"),
    (78, "HAILO_INVALID_SERVICE_VERSION"),
    (85, "HAILO_DRIVER_INVALID_RESPONSE"),
    (86, "HAILO_DRIVER_INVALID_IOCTL"),
    (87, "HAILO_DRIVER_TIMEOUT"),
    (88, "HAILO_DRIVER_INTERRUPTED"),
    (89, "HAILO_CONNECTION_REFUSED"),
    (90, "HAILO_DRIVER_WAIT_CANCELED"),
    (91, "HAILO_HEF_FILE_CORRUPTED"),
    (92, "HAILO_HEF_NOT_SUPPORTED"),
    (93, "HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE"),
];

/// The last status number HailoRT 4.20 defines (later ones exist from 4.21).
pub const LAST_STATUS_IN_4_20: i32 = 90;

/// Status name, as HailoRT prints it.
pub fn status_name(status: i32) -> &'static str {
    STATUSES
        .iter()
        .find(|(v, _)| *v == status)
        .map_or("HAILO_UNKNOWN_STATUS", |(_, name)| name)
}

const REINSTALL: &str =
    "install matching Hailo packages with `sudo apt install hailo-all` and reboot";

/// What happened and what fixes it, for `status` returned by HailoRT `function` while working
/// on the HEF whose header is `hef` (when known). `library` is HailoRT's version.
pub fn explain(function: &str, status: i32, hef: Option<&HefHeader>, library: &str) -> String {
    let what = match status {
        64 => format!("no Hailo driver: /dev/hailo0 is missing. Check that the board is seen (`lspci | grep -i hailo`), then {REINSTALL}"),
        74 | 73 => "the Hailo device is in use: another process holds it (`sudo lsof /dev/hailo*` shows which; stop it), \
                    or several hailoinfer elements in this process each asked for their own device: give them the same \
                    vdevice-group=<name> so they share it through the HailoRT scheduler"
            .to_string(),
        76 => format!("the Hailo PCIe driver and libhailort {library} are different versions (they must match exactly): {REINSTALL}"),
        85..=87 => format!("the Hailo driver did not understand libhailort {library} (a version mismatch or a stuck device): {REINSTALL}"),
        36 => "a driver call failed (see `dmesg | grep -i hailo`); reboot, and if it persists reinstall the driver with `sudo apt install hailo-all`".to_string(),
        77 | 78 => "the HailoRT multi-process service did not answer: start it with `sudo systemctl restart hailort`".to_string(),
        // Before 4.21, 26 also means a checksum or size mismatch when the file is read.
        26 if function == "hailo_create_hef_file" => format!(
            "libhailort {library} cannot read this HEF: its checksum or size does not match (damaged while copying), or \
             a newer Dataflow Compiler made it: copy it again, or update HailoRT with `sudo apt install hailo-all`"
        ),
        26 | 93 | 75 => match hef {
            Some(h) => format!(
                "this device cannot run a HEF compiled for {}{}: compile the model for your chip (`hmg compile --hw-arch hailo8` for a \
                 Hailo-8, `--hw-arch hailo8l` for a Hailo-8L; `hailortcli fw-control identify` tells which you have)",
                h.hw_arch,
                h.sdk_version.as_deref().map(|v| format!(" (Dataflow Compiler {v})")).unwrap_or_default()
            ),
            None => "the HEF does not fit this device or HailoRT version: recompile it for your chip".to_string(),
        },
        91 => "the HEF is damaged (its size or checksum is wrong): copy it again or recompile it".to_string(),
        92 => format!(
            "libhailort {library} does not support this HEF{}: update HailoRT (`sudo apt install hailo-all`) or compile with the \
             Dataflow Compiler that matches it",
            hef.and_then(|h| h.sdk_version.as_deref()).map(|v| format!(" (made by Dataflow Compiler {v})")).unwrap_or_default()
        ),
        13 => "the HEF cannot be opened: check the path and its permissions".to_string(),
        4 => "the device did not answer in time (10 s): check `dmesg | grep -i hailo`; reboot if the device is stuck".to_string(),
        _ => "see HailoRT's log (hailort.log in the working directory) for details".to_string(),
    };
    format!(
        "{what} [HailoRT {function} returned {} ({status})]",
        status_name(status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_statuses_say_what_to_do() {
        assert!(explain("hailo_create_vdevice", 74, None, "4.23.0").contains("vdevice-group"));
        assert!(explain("hailo_create_vdevice", 76, None, "4.23.0").contains("hailo-all"));
        assert!(explain("hailo_create_vdevice", 64, None, "4.23.0").contains("/dev/hailo0"));
        let hef = crate::hef::parse(&crate::hef::tests_support::hef(3, 0)).unwrap();
        let arch = explain("hailo_configure_vdevice", 93, Some(&hef), "4.23.0");
        assert!(
            arch.contains("Hailo-8L") && arch.contains("--hw-arch"),
            "{arch}"
        );
        assert!(arch.ends_with("returned HAILO_HEF_NOT_COMPATIBLE_WITH_DEVICE (93)]"));
    }
}
