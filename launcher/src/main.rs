// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg`: from camera pictures to live YOLO detection on a Raspberry Pi with a Hailo-8.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hmg_launcher::{
    annotate, batch, bench, calibrate, collect, compile, dataset, demo, deploy, detect, doctor,
    export, hef, monitor, nms, pipeline, quantize, run, serve, train, usage, verify_onnx,
};

/// `hmg --version`: what `hmg deploy` reads on a Pi to tell whether this build runs .hef models.
const VERSION: &str = if cfg!(feature = "hailo") {
    concat!(env!("CARGO_PKG_VERSION"), " (HailoRT backend)")
} else {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (no HailoRT backend: .onnx models only)"
    )
};

#[derive(Parser)]
#[command(name = "hmg", version = VERSION, about = "From camera pictures to real-time YOLO detection on a Raspberry Pi 5 with a Hailo-8", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the default detection graph on the bundled clip: writes out/demo.mp4 and out/demo.jsonl
    Demo(demo::DemoArgs),
    /// Live detection from cameras, video files, image folders or RTSP streams (several at once)
    Detect(detect::DetectArgs),
    /// Label pictures in the browser (the seed's mouse and key controls) into a YOLO dataset
    Annotate(annotate::AnnotateArgs),
    /// Detection over a folder of images: one detections.json plus annotated images
    Batch(batch::BatchArgs),
    /// Decode and NMS of a saved raw model output (.npy/.npz) into detections (.npz)
    Nms(nms::NmsArgs),
    /// YOLO datasets: verify, split into train/val, init with data.yaml
    Dataset(dataset::DatasetArgs),
    /// Train a YOLOv8 detector on a dataset with ultralytics (in a venv hmg creates and keeps)
    Train(train::TrainArgs),
    /// Export trained weights (.pt) to ONNX for our graph and Hailo's compiler (end nodes, sidecar)
    Export(export::ExportArgs),
    /// Check an exported model: a layout we decode, no detections on blank frames, mAP on val
    VerifyOnnx(verify_onnx::VerifyOnnxArgs),
    /// Calibration set for Hailo's quantizer: pictures sampled across classes, letterboxed as live
    Calibrate(calibrate::CalibrateArgs),
    /// An int8 model for the CPU from a float export, calibrated on hmg calibrate's set, checked
    /// against its float parent
    Quantize(quantize::QuantizeArgs),
    /// Compile an ONNX model to a HEF with Hailo's Dataflow Compiler (script, NMS config, versions)
    Compile(compile::CompileArgs),
    /// The whole chain, resumable: verify, split, train, export, verify-onnx, calibrate, (quantize,) compile
    Pipeline(pipeline::PipelineArgs),
    /// Copy a model (and graphs, an aarch64 build, a systemd service) to one or many Pis over SSH keys
    Deploy(deploy::DeployArgs),
    /// Run a graph template from graphs/ (or a .gst file), or print its gst-launch-1.0 line
    Run(run::RunArgs),
    /// Inspect compiled Hailo models (.hef)
    Hef(hef::HefArgs),
    /// Fetch the frames hmg detect --capture kept on the Pis (SSH keys, checksummed), for labelling
    Collect(collect::CollectArgs),
    /// Open the live view of a Pi's detection service here, through SSH (the link it wrote, tunnelled)
    Serve(serve::ServeArgs),
    /// Watch the detections many Pis publish to an MQTT broker: devices, streams, FPS, classes
    Monitor(monitor::MonitorArgs),
    /// Time each stage of one frame (letterbox, inference, decode + NMS, overlay) and the whole graph
    Bench(bench::BenchArgs),
    /// Check this machine: GStreamer, our plugin, cameras, onnxruntime, HailoRT and the Hailo device
    Doctor(doctor::DoctorArgs),
}

/// Output piped into a command that exits early (`hmg hef info | head -1`): stop quietly with
/// the status a shell gives SIGPIPE, as Unix tools do, instead of a panic message and 101.
/// (SIGPIPE itself stays ignored: MQTT and SSH sockets must get EPIPE, not kill hmg.)
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Detect(args) => detect::run(&args),
        Command::Annotate(args) => annotate::run(&args),
        Command::Batch(args) => batch::run(&args),
        Command::Nms(args) => nms::run(&args),
        Command::Dataset(args) => dataset::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Export(args) => export::run(&args),
        Command::VerifyOnnx(args) => verify_onnx::run(&args),
        Command::Quantize(args) => quantize::run(&args),
        Command::Calibrate(args) => calibrate::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Pipeline(args) => pipeline::run(&args),
        Command::Deploy(args) => deploy::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Hef(args) => hef::run(&args),
        Command::Collect(args) => collect::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Doctor(args) => doctor::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(usage::exit_code(&e))
        }
    }
}
