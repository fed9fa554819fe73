// SPDX-License-Identifier: MIT OR Apache-2.0

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use hmg_detect::draw::{
    DrawOptions, Rect, blend_plane, class_color, layout_detections, layout_polygon_fill,
    layout_polyline, layout_text, paint_plane,
};
use hmg_detect::zones::ZoneState;

use crate::{frame, meta, roi};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detoverlay",
        gst::DebugColorFlags::empty(),
        Some("hmg detection overlay"),
    )
});

const DEFAULT_LINE_WIDTH: u32 = 2;
const DEFAULT_FONT_SIZE: u32 = 16;
const DEFAULT_SHOW_CONF: bool = true;
const DEFAULT_SHOW_LABEL: bool = true;
const DEFAULT_SHOW_TRACK_ID: bool = true;
const DEFAULT_SHOW_ZONES: bool = true;
const DEFAULT_ZONE_OPACITY: f64 = 0.25;
const DEFAULT_TRAIL_LENGTH: u32 = 0;

#[derive(Debug, Clone, Copy)]
struct Settings {
    line_width: u32,
    font_size: u32,
    show_conf: bool,
    show_label: bool,
    show_track_id: bool,
    show_zones: bool,
    zone_opacity: f64,
    trail_length: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            line_width: DEFAULT_LINE_WIDTH,
            font_size: DEFAULT_FONT_SIZE,
            show_conf: DEFAULT_SHOW_CONF,
            show_label: DEFAULT_SHOW_LABEL,
            show_track_id: DEFAULT_SHOW_TRACK_ID,
            show_zones: DEFAULT_SHOW_ZONES,
            zone_opacity: DEFAULT_ZONE_OPACITY,
            trail_length: DEFAULT_TRAIL_LENGTH,
        }
    }
}

/// Where one track has been: its last centres, oldest first.
struct Trail {
    points: VecDeque<[f32; 2]>,
    class_id: u32,
    last_frame: u64,
}

#[derive(Default)]
struct State {
    rects: Vec<Rect>,
    fills: Vec<Rect>,
    /// The last `HmgZones` seen, and what it says (parsed again only when it changes).
    zones_json: String,
    zones: ZoneState,
    trails: HashMap<u64, Trail>,
    frame: u64,
}

#[derive(Default)]
pub struct DetOverlay {
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetOverlay {
    const NAME: &'static str = "GstHmgDetOverlay";
    type Type = super::DetOverlay;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for DetOverlay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("line-width")
                    .nick("Line width")
                    .blurb("Box outline width in pixels")
                    .minimum(1)
                    .maximum(64)
                    .default_value(DEFAULT_LINE_WIDTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("font-size")
                    .nick("Font size")
                    .blurb("Label glyph height in pixels (8x8 bitmap font scaled by whole steps: 8, 16, 24, ...)")
                    .minimum(8)
                    .maximum(128)
                    .default_value(DEFAULT_FONT_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-conf")
                    .nick("Show confidence")
                    .blurb("Write the confidence (0.00-1.00) next to the label")
                    .default_value(DEFAULT_SHOW_CONF)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-label")
                    .nick("Show label")
                    .blurb("Write the class name above each box")
                    .default_value(DEFAULT_SHOW_LABEL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-track-id")
                    .nick("Show track id")
                    .blurb("Write the track id (\"#12\") after the class name of a tracked detection (dettrack)")
                    .default_value(DEFAULT_SHOW_TRACK_ID)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("show-zones")
                    .nick("Show lines and zones")
                    .blurb("Draw detzone's counting lines (with in/out counts) and zones (translucent, with how many are inside), from the frame's HmgZones meta")
                    .default_value(DEFAULT_SHOW_ZONES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("zone-opacity")
                    .nick("Zone opacity")
                    .blurb("Opacity of a zone's fill: 0 draws its outline only, 1 hides what is behind it")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_ZONE_OPACITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("trail-length")
                    .nick("Trail length")
                    .blurb("Draw each track's path over its last N frames (dettrack); 0 draws none")
                    .maximum(1000)
                    .default_value(DEFAULT_TRAIL_LENGTH)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => s.line_width = value.get().expect("type checked upstream"),
            "font-size" => s.font_size = value.get().expect("type checked upstream"),
            "show-conf" => s.show_conf = value.get().expect("type checked upstream"),
            "show-label" => s.show_label = value.get().expect("type checked upstream"),
            "show-track-id" => s.show_track_id = value.get().expect("type checked upstream"),
            "show-zones" => s.show_zones = value.get().expect("type checked upstream"),
            "zone-opacity" => s.zone_opacity = value.get().expect("type checked upstream"),
            "trail-length" => s.trail_length = value.get().expect("type checked upstream"),
            _ => unimplemented!(),
        }
        gst::info!(CAT, imp = self, "{} changed: {:?}", pspec.name(), *s);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "line-width" => s.line_width.to_value(),
            "font-size" => s.font_size.to_value(),
            "show-conf" => s.show_conf.to_value(),
            "show-label" => s.show_label.to_value(),
            "show-track-id" => s.show_track_id.to_value(),
            "show-zones" => s.show_zones.to_value(),
            "zone-opacity" => s.zone_opacity.to_value(),
            "trail-length" => s.trail_length.to_value(),
            _ => unimplemented!(),
        }
    }
}

impl GstObjectImpl for DetOverlay {}

impl ElementImpl for DetOverlay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg detection overlay",
                "Filter/Effect/Video",
                "Draws detection boxes, labels and confidences (GstVideoRegionOfInterestMeta) on the frame, and optionally track ids and trails (dettrack) and counting lines and zones with their counts (detzone)",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::pixel_pad_templates()
    }
}

impl BaseTransformImpl for DetOverlay {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Trails and zones belong to one run.
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }
}

impl VideoFilterImpl for DetOverlay {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        _outcaps: &gst::Caps,
        _out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        frame::pixel_format(in_info)
            .ok_or_else(|| gst::loggable_error!(CAT, "detoverlay does not handle {incaps}"))?;
        Ok(())
    }

    fn transform_frame_ip(
        &self,
        vframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let s = *self.settings.lock().unwrap();
        let mut dets = roi::detections_from_buffer(vframe.buffer());
        let tracks = if s.show_track_id || s.trail_length > 0 {
            roi::tracks_from_buffer(vframe.buffer())
        } else {
            Vec::new()
        };
        let zones_json = if s.show_zones {
            meta::zones_state_json(vframe.buffer())
        } else {
            None
        };
        let mut guard = self.state.lock().unwrap();
        let state = &mut *guard;
        state.frame += 1;
        if s.trail_length > 0 {
            state.remember_trails(&dets, &tracks, s.trail_length);
        } else {
            state.trails.clear();
        }
        let drawn_zones = match zones_json {
            Some(json) => state.zones_changed(json),
            None => false,
        };
        if dets.is_empty() && !drawn_zones && state.trails.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        if s.show_track_id {
            for (d, t) in dets.iter_mut().zip(&tracks) {
                if let Some(t) = t {
                    d.label = format!("{} #{}", d.label, t.track_id).into();
                }
            }
        }
        let format = frame::pixel_format(vframe.info()).ok_or(gst::FlowError::NotNegotiated)?;
        let yuv = frame::yuv_matrix(vframe.info());
        let (w, h) = (vframe.width(), vframe.height());
        let opts = DrawOptions {
            line_width: s.line_width,
            font_size: s.font_size,
            show_label: s.show_label,
            show_conf: s.show_conf,
        };
        let State {
            rects,
            fills,
            zones,
            trails,
            ..
        } = state;
        rects.clear();
        fills.clear();
        if drawn_zones {
            layout_zones(zones, w, h, &opts, fills, rects);
        }
        for t in trails.values() {
            let points: Vec<[f32; 2]> = t.points.iter().copied().collect();
            layout_polyline(&points, false, s.line_width, class_color(t.class_id), rects);
        }
        layout_detections(&dets, w, h, &opts, rects);
        let alpha = (s.zone_opacity * 255.0).round() as u8;
        let strides: Vec<i32> = vframe.plane_stride().to_vec();
        for (plane, &stride) in strides.iter().enumerate().take(format.num_planes()) {
            let stride = usize::try_from(stride).map_err(|_| gst::FlowError::NotSupported)?;
            let data = vframe
                .plane_data_mut(plane as u32)
                .map_err(|_| gst::FlowError::Error)?;
            let (pw, ph) = (w as usize, h as usize);
            if alpha > 0 && !fills.is_empty() {
                blend_plane(format, yuv, plane, data, stride, pw, ph, fills, alpha);
            }
            paint_plane(format, yuv, plane, data, stride, pw, ph, rects);
        }
        gst::trace!(CAT, imp = self, "drew {} detections", dets.len());
        Ok(gst::FlowSuccess::Ok)
    }
}

impl State {
    /// Adds this frame's centres to the tracks' trails; forgets tracks gone for `length` frames.
    fn remember_trails(
        &mut self,
        dets: &[hmg_detect::Detection],
        tracks: &[Option<roi::TrackInfo>],
        length: u32,
    ) {
        let frame = self.frame;
        for (d, t) in dets.iter().zip(tracks) {
            let Some(t) = t else { continue };
            let trail = self.trails.entry(t.track_id).or_insert_with(|| Trail {
                points: VecDeque::new(),
                class_id: d.class_id,
                last_frame: frame,
            });
            trail.class_id = d.class_id;
            trail.last_frame = frame;
            trail
                .points
                .push_back([(d.x1 + d.x2) / 2.0, (d.y1 + d.y2) / 2.0]);
            while trail.points.len() > length as usize {
                trail.points.pop_front();
            }
        }
        self.trails
            .retain(|_, t| frame - t.last_frame < u64::from(length));
    }

    /// Takes the frame's `HmgZones`; says whether there is anything to draw.
    fn zones_changed(&mut self, json: String) -> bool {
        if json != self.zones_json {
            self.zones = serde_json::from_str(&json).unwrap_or_default();
            self.zones_json = json;
        }
        !(self.zones.lines.is_empty() && self.zones.zones.is_empty())
    }
}

/// A line's or zone's colour: its own, apart from the classes' (which follow 0, 1, 2...).
fn zone_color(index: usize) -> [u8; 3] {
    class_color(1000 + index as u32)
}

/// Zones (fill and outline) and lines, each with its name and counts.
fn layout_zones(
    zones: &ZoneState,
    w: u32,
    h: u32,
    opts: &DrawOptions,
    fills: &mut Vec<Rect>,
    rects: &mut Vec<Rect>,
) {
    let to_px = |p: &[f64; 2]| [(p[0] * f64::from(w)) as f32, (p[1] * f64::from(h)) as f32];
    for (i, z) in zones.zones.iter().enumerate() {
        let rgb = zone_color(zones.lines.len() + i);
        let polygon: Vec<[f32; 2]> = z.polygon.iter().map(to_px).collect();
        layout_polygon_fill(&polygon, w, h, rgb, fills);
        layout_polyline(&polygon, true, opts.line_width, rgb, rects);
        let inside: u64 = zones
            .counts
            .zones
            .get(&z.name)
            .map_or(0, |by_label| by_label.values().map(|c| c.inside).sum());
        let [x, y] = polygon[0];
        let text = format!("{} {inside}", z.name);
        layout_text(&text, x as i32, y as i32, w, h, rgb, opts.font_size, rects);
    }
    for (i, l) in zones.lines.iter().enumerate() {
        let rgb = zone_color(i);
        let [a, b] = [to_px(&l.points[0]), to_px(&l.points[1])];
        layout_polyline(&[a, b], false, opts.line_width + 1, rgb, rects);
        let (ins, outs) = zones.counts.lines.get(&l.name).map_or((0, 0), |by_label| {
            by_label
                .values()
                .fold((0, 0), |(i, o), c| (i + c.in_, o + c.out))
        });
        let text = format!("{} in {ins} out {outs}", l.name);
        layout_text(
            &text,
            a[0] as i32,
            a[1] as i32,
            w,
            h,
            rgb,
            opts.font_size,
            rects,
        );
    }
}
