// SPDX-License-Identifier: MIT OR Apache-2.0
//! Model output tensors as they travel between engine, metadata and decoder.
//!
//! ```
//! use hmg_detect::{Tensor, TensorData, TensorSlice};
//! let float = Tensor::f32("output0", vec![1, 2], vec![0.5, 1.5]);
//! assert_eq!((float.data.dtype(), float.shape_len(), float.view().get(1)), ("float32", 2, 1.5));
//! // A quantized Hailo output: real = (q - zero_point) * scale.
//! let q = Tensor { name: "conv41".into(), shape: vec![2], data: TensorData::U8(vec![10, 30]), zero_point: 10.0, scale: 0.5 };
//! let mut scratch = Vec::new();
//! assert_eq!(q.as_f32(&mut scratch), &[0.0, 10.0]);
//! let view = q.view();
//! assert!(matches!(view.data, TensorSlice::U8(b) if b.len() == 2));
//! assert_eq!(view.to_f32(&mut scratch), &[0.0, 10.0]);
//! ```

/// Element data of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// Quantized bytes (see the tensor's zero point and scale).
    U8(Vec<u8>),
}

impl TensorData {
    /// `float32` or `uint8`.
    pub fn dtype(&self) -> &'static str {
        match self {
            Self::F32(_) => "float32",
            Self::U8(_) => "uint8",
        }
    }

    /// Borrowed view of the elements.
    pub fn as_slice(&self) -> TensorSlice<'_> {
        match self {
            Self::F32(v) => TensorSlice::F32(v),
            Self::U8(v) => TensorSlice::U8(v),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One named output with its shape and, for quantized outputs, `real = (q - zero_point) * scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Output name.
    pub name: String,
    /// Dimensions, row-major.
    pub shape: Vec<usize>,
    /// The values.
    pub data: TensorData,
    /// Quantization zero point (0 for float data).
    pub zero_point: f32,
    /// Quantization scale (1 for float data).
    pub scale: f32,
}

impl Tensor {
    /// A float tensor without quantization.
    pub fn f32(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self {
            name: name.into(),
            shape,
            data: TensorData::F32(data),
            zero_point: 0.0,
            scale: 1.0,
        }
    }

    /// Element count implied by the shape.
    pub fn shape_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Float view: borrowed for `F32`, dequantized into `scratch` for `U8`.
    pub fn as_f32<'a>(&'a self, scratch: &'a mut Vec<f32>) -> &'a [f32] {
        match &self.data {
            TensorData::F32(v) => v,
            TensorData::U8(q) => {
                scratch.clear();
                scratch.extend(q.iter().map(|&q| (q as f32 - self.zero_point) * self.scale));
                scratch
            }
        }
    }
}

/// Borrowed element data: what decoders read, wherever the tensor lives (engine, buffer meta).
#[derive(Debug, Clone, Copy)]
pub enum TensorSlice<'a> {
    /// 32-bit floats.
    F32(&'a [f32]),
    /// Quantized bytes.
    U8(&'a [u8]),
}

impl TensorSlice<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::U8(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A borrowed tensor: name, shape, data and quantization.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// Output name.
    pub name: &'a str,
    /// Dimensions, row-major.
    pub shape: &'a [usize],
    /// The values.
    pub data: TensorSlice<'a>,
    /// Quantization zero point.
    pub zero_point: f32,
    /// Quantization scale.
    pub scale: f32,
}

impl<'a> TensorRef<'a> {
    /// Value `i`, dequantized.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        match self.data {
            TensorSlice::F32(v) => v[i],
            TensorSlice::U8(q) => (q[i] as f32 - self.zero_point) * self.scale,
        }
    }

    /// Float view: borrowed for `F32`, dequantized into `scratch` for `U8`.
    pub fn to_f32<'s>(&self, scratch: &'s mut Vec<f32>) -> &'s [f32]
    where
        'a: 's,
    {
        match self.data {
            TensorSlice::F32(v) => v,
            TensorSlice::U8(q) => {
                scratch.clear();
                scratch.extend(q.iter().map(|&q| (q as f32 - self.zero_point) * self.scale));
                scratch
            }
        }
    }
}

impl Tensor {
    /// A borrowed view of this tensor.
    pub fn view(&self) -> TensorRef<'_> {
        TensorRef {
            name: &self.name,
            shape: &self.shape,
            data: self.data.as_slice(),
            zero_point: self.zero_point,
            scale: self.scale,
        }
    }
}
