// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `hmg` command line as a library: each sub-command's arguments and `run`, and the dataset,
//! label and raw-output readers (also used by the fuzz targets).

pub mod annotate;
pub mod appsrc;
pub mod assets;
pub mod atomic;
pub mod batch;
pub mod bench;
pub mod calibrate;
pub mod clips;
pub mod collect;
pub mod compile;
pub mod dataset;
pub mod demo;
pub mod deploy;
pub mod detect;
pub mod doctor;
pub mod export;
pub mod fleet_page;
pub mod graph;
pub mod hef;
pub mod images;
pub mod live;
pub mod monitor;
pub mod nms;
pub mod parent_check;
pub mod picture_feed;
pub mod pipeline;
pub mod pydriver;
pub mod quantize;
pub mod run;
pub mod serve;
pub mod sources;
pub mod stamp;
pub mod stats;
pub mod template;
pub mod train;
pub mod ultralytics;
pub mod usage;
pub mod venvs;
pub mod verify_onnx;
pub mod web;
pub mod weights;
