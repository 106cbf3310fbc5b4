//! The compute backends, listed in one place: this is the only file that
//! names them.
//!
//! Every generic function of the library is instantiated only for the
//! backends named here: `NdArray` and `Flex` (CPU) and `Wgpu` (GPU, or
//! Mesa's software Vulkan device), each with and without `Autodiff`, and
//! [`F64Backend`] for the one computation that needs `f64`. Keeping the list short
//! keeps compile times down. Activations and layer types are type-erased
//! here too ([`AnyActivation`], [`AnyLayer`]): a trait object carries their
//! tensor forms for each backend of the list. Adding a backend means adding
//! it to [`BackendKind`], [`run_on`], the list in `type_erased!`, and one
//! [`SupportedBackend`] and one [`FastTanh`], [`FastAffine`] and
//! [`FastMoments`] impl per backend, all below.
//!
//! The library's own unit tests are compiled without `Wgpu` (every `cfg`
//! here reads `all(feature = "wgpu", not(test))`): none of them runs on it,
//! and its instantiation is about half of the library's code, which the
//! edit-and-test loop would otherwise compile a second time for the test
//! harness. The integration tests in `tests/` run the binary, built with
//! the feature, on wgpu.

use std::fmt;

use burn::backend::flex::FlexDevice;
use burn::backend::ndarray::NdArrayDevice;
#[cfg(all(feature = "wgpu", not(test)))]
use burn::backend::wgpu::WgpuDevice;
#[cfg(all(feature = "wgpu", not(test)))]
use burn::backend::Wgpu;
use burn::backend::{Autodiff, Flex, NdArray};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use burn::tensor::ops::FloatTensor;

use super::activation::{Activation, TensorActivation};
use super::kernels::{affine, moments, tanh, AffineGradients, FastAffine, FastMoments, FastTanh};
use super::layer::{Layer, LayerForward};

/// Where a computation needs `f64` rather than the backends' `f32`
/// (SynFlow's products of |θ| over depth overflow `f32` for deep, wide
/// networks): ndarray in `f64` on the CPU, with autodiff.
pub type F64Backend = Autodiff<NdArray<f64>>;

/// The device of [`F64Backend`].
pub fn f64_device() -> NdArrayDevice {
    NdArrayDevice::Cpu
}

/// Declares a type-erased trait: `$base` and its tensor form `$form<B>` on
/// every backend of this file, implemented for every `$base`. The backend
/// list lives here only, in two versions, with and without `Wgpu`: a
/// supertrait list cannot carry a `cfg`.
macro_rules! type_erased {
    ($(#[$doc:meta])* $name:ident: $base:ident + $form:ident) => {
        $(#[$doc])*
        #[cfg(all(feature = "wgpu", not(test)))]
        pub trait $name:
            $base
            + $form<NdArray>
            + $form<Autodiff<NdArray>>
            + $form<Flex>
            + $form<Autodiff<Flex>>
            + $form<F64Backend>
            + $form<Wgpu>
            + $form<Autodiff<Wgpu>>
        {
        }

        $(#[$doc])*
        #[cfg(any(not(feature = "wgpu"), test))]
        pub trait $name:
            $base
            + $form<NdArray>
            + $form<Autodiff<NdArray>>
            + $form<Flex>
            + $form<Autodiff<Flex>>
            + $form<F64Backend>
        {
        }

        impl<T: $base> $name for T {}
    };
}

type_erased!(
    /// A type-erased activation usable on every backend of this file.
    AnyActivation: Activation + TensorActivation
);

type_erased!(
    /// A type-erased layer type usable on every backend of this file.
    AnyLayer: Layer + LayerForward
);

/// A backend the library can run on: it finds, for a type-erased activation
/// or layer type, the tensor form that works on this backend, and says how large a chunk of
/// an ensemble it handles well.
pub trait SupportedBackend: FastTanh + FastAffine + FastMoments {
    /// Largest `members × points × width` of one ensemble chunk. On the CPU,
    /// intermediates above a few MB page-fault on every fresh allocation and
    /// an ensemble gets slower than a loop; a GPU wants them large.
    const CHUNK_ELEMENTS: usize;

    /// `members × points × width` of one chunk of the landscape grid as it
    /// streams through a network: small enough to stay in cache on a CPU.
    const STREAM_ELEMENTS: usize;

    /// Whether the networks of a point run as ensembles (batched matrix
    /// products) or one at a time, side by side on the worker threads.
    const ENSEMBLES: bool;

    /// Whether dense networks train and are measured through their passes
    /// on host vectors (`nn/stack.rs`: without autodiff or tensor ops)
    /// rather than through Burn's ops on this backend.
    const HOST_PASSES: bool;

    /// Networks per ensemble so that one `[members, points, width]`
    /// intermediate stays within `chunk_elements` (at least one network;
    /// exactly one where this backend runs networks one at a time).
    fn members_per_ensemble(chunk_elements: usize, points: usize, width: usize) -> usize {
        if Self::ENSEMBLES {
            (chunk_elements / (points * width).max(1)).max(1)
        } else {
            1
        }
    }

    /// The tensor forms of a type-erased activation on this backend. A
    /// trait object of [`AnyActivation`] carries one per backend of this
    /// file; this picks the one for `Self` (generic code cannot name it).
    fn tensor_activation(activation: &dyn AnyActivation) -> &dyn TensorActivation<Self>;

    /// The forward pass of a type-erased layer type on this backend (as
    /// [`SupportedBackend::tensor_activation`]).
    fn layer_forward(layer: &dyn AnyLayer) -> &dyn LayerForward<Self>;
}

const CPU_CHUNK_ELEMENTS: usize = 1 << 21;
/// 2^17 floats = 512 KB: a grid chunk that stays in a core's cache (the
/// sizes tried, and their timings, are in CHANGELOG.md).
const CPU_STREAM_ELEMENTS: usize = 1 << 17;
/// 2^24 floats = 64 MB per intermediate: under the storage-buffer limit of
/// Mesa's software Vulkan device (2^26 failed there with 265 MB buffers).
#[cfg(all(feature = "wgpu", not(test)))]
const GPU_CHUNK_ELEMENTS: usize = 1 << 24;

/// Every backend here finds the tensor forms the same way: the type-erased
/// traits above carry them.
macro_rules! supported_backend {
    ($backend:ty, $chunk_elements:expr, $stream_elements:expr, $ensembles:expr) => {
        supported_backend!(
            $backend,
            $chunk_elements,
            $stream_elements,
            $ensembles,
            false
        );
    };
    ($backend:ty, $chunk_elements:expr, $stream_elements:expr, $ensembles:expr, $host_passes:expr) => {
        impl SupportedBackend for $backend {
            const CHUNK_ELEMENTS: usize = $chunk_elements;
            const STREAM_ELEMENTS: usize = $stream_elements;
            const ENSEMBLES: bool = $ensembles;
            const HOST_PASSES: bool = $host_passes;
            fn tensor_activation(activation: &dyn AnyActivation) -> &dyn TensorActivation<Self> {
                activation
            }
            fn layer_forward(layer: &dyn AnyLayer) -> &dyn LayerForward<Self> {
                layer
            }
        }
    };
}

supported_backend!(NdArray, CPU_CHUNK_ELEMENTS, CPU_STREAM_ELEMENTS, true);
supported_backend!(
    Autodiff<NdArray>,
    CPU_CHUNK_ELEMENTS,
    CPU_STREAM_ELEMENTS,
    true
);
// Flex's batched matrix product is slower than a loop of 2-D ones for these
// shapes (docs/backends.md): its networks run one at a time. Its dense
// networks train and are measured on host vectors (`nn/stack.rs`), with
// the kernels of its autodiff path.
supported_backend!(Flex, CPU_CHUNK_ELEMENTS, CPU_STREAM_ELEMENTS, false);
supported_backend!(
    Autodiff<Flex>,
    CPU_CHUNK_ELEMENTS,
    CPU_STREAM_ELEMENTS,
    false,
    true
);
supported_backend!(F64Backend, CPU_CHUNK_ELEMENTS, CPU_STREAM_ELEMENTS, true);
#[cfg(all(feature = "wgpu", not(test)))]
supported_backend!(Wgpu, GPU_CHUNK_ELEMENTS, GPU_CHUNK_ELEMENTS, true);
#[cfg(all(feature = "wgpu", not(test)))]
supported_backend!(Autodiff<Wgpu>, GPU_CHUNK_ELEMENTS, GPU_CHUNK_ELEMENTS, true);

// tanh: Flex runs the vectorised kernel of `nn/kernels/tanh.rs`; the others keep
// Burn's op (ndarray as Burn ships it; a GPU's tanh is already fast).
impl FastTanh for NdArray {}
impl FastTanh for NdArray<f64> {}
#[cfg(all(feature = "wgpu", not(test)))]
impl FastTanh for Wgpu {}
impl FastTanh for Flex {
    fn fast_tanh(z: FloatTensor<Self>) -> FloatTensor<Self> {
        tanh::flex_tanh(z)
    }
    fn tanh_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        tanh::flex_tanh_backward(output, grad)
    }
}

// The measures' per-unit sums and active counts: Flex runs the one-pass
// kernels of `nn/kernels/moments.rs`; the others Burn's ops.
impl FastMoments for NdArray {}
impl FastMoments for NdArray<f64> {}
#[cfg(all(feature = "wgpu", not(test)))]
impl FastMoments for Wgpu {}
impl FastMoments for Flex {
    fn centred_sums(
        representation: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        moments::flex_centred_sums(representation, shift)
    }
    fn active_counts(slope: FloatTensor<Self>, threshold: f64) -> FloatTensor<Self> {
        moments::flex_active_counts(slope, threshold)
    }
}
impl<B: FastMoments, C: burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy>
    FastMoments for Autodiff<B, C>
{
}

// The affine map of a dense layer: Flex runs the `gemm` kernels of
// `nn/kernels/affine.rs`; the others Burn's ops.
impl FastAffine for NdArray {}
impl FastAffine for NdArray<f64> {}
#[cfg(all(feature = "wgpu", not(test)))]
impl FastAffine for Wgpu {}
impl FastAffine for Flex {
    fn affine(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        affine::flex_affine(input, weight, bias)
    }
    fn affine_backward(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        needed: [bool; 3],
    ) -> AffineGradients<Self> {
        affine::flex_affine_backward(input, weight, grad, needed)
    }
}

/// An autodiff backend whose inner backend is supported too: what measuring
/// (gradient profile) and training run on.
pub trait ComputeBackend:
    AutodiffBackend<InnerBackend: SupportedBackend> + SupportedBackend
{
}

impl<B> ComputeBackend for B where
    B: AutodiffBackend<InnerBackend: SupportedBackend> + SupportedBackend
{
}

/// The backend chosen by `--backend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// CPU: Burn's ndarray backend.
    Ndarray,
    /// CPU: Burn's Flex backend (SIMD element-wise kernels, `gemm` matrix
    /// products) with this crate's kernels; the default (the CPU speed per
    /// shape is in docs/backends.md).
    #[default]
    Flex,
    /// GPU through wgpu (Vulkan, Metal, DX12), or a software Vulkan device.
    Wgpu,
}

impl BackendKind {
    /// The name on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ndarray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Whether the backend computes on the CPU (its matrix products and
    /// loops run on the CPU's vector units).
    pub fn on_cpu(self) -> bool {
        match self {
            BackendKind::Ndarray | BackendKind::Flex => true,
            BackendKind::Wgpu => false,
        }
    }

    /// Worker threads by default: one per core on the CPU, where each
    /// network runs on one thread; one on a GPU, which is busy with one.
    pub fn default_threads(self) -> usize {
        match self.on_cpu() {
            true => std::thread::available_parallelism().map_or(1, |n| n.get()),
            false => 1,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Work that runs on whichever backend the user chose. Implement `run` once,
/// generically; [`run_on`] instantiates it for each backend.
pub trait BackendJob {
    /// What the job returns.
    type Output;
    /// Runs the job on backend `B`'s `device`.
    fn run<B: ComputeBackend>(self, device: &B::Device) -> Self::Output;
}

/// The chosen backend cannot start on this machine.
#[derive(Debug, thiserror::Error)]
#[error("--backend {backend}: {reason}")]
pub struct BackendUnavailable {
    /// The backend asked for.
    pub backend: BackendKind,
    /// Why it cannot start.
    pub reason: String,
}

/// Runs `job` on the chosen backend's default device.
pub fn run_on<J: BackendJob>(kind: BackendKind, job: J) -> Result<J::Output, BackendUnavailable> {
    run_on_device(kind, None, job)
}

/// [`run_on`] on GPU adapter `gpu` (the `gpu`-th discrete GPU wgpu finds;
/// `None`: wgpu's default adapter). Only the wgpu backend has adapters.
pub fn run_on_device<J: BackendJob>(
    kind: BackendKind,
    gpu: Option<usize>,
    job: J,
) -> Result<J::Output, BackendUnavailable> {
    if gpu.is_some() && kind != BackendKind::Wgpu {
        return Err(BackendUnavailable {
            backend: kind,
            reason: "--device picks a GPU adapter: it needs --backend wgpu".into(),
        });
    }
    match kind {
        BackendKind::Ndarray => Ok(job.run::<Autodiff<NdArray>>(&NdArrayDevice::Cpu)),
        BackendKind::Flex => Ok(job.run::<Autodiff<Flex>>(&FlexDevice)),
        #[cfg(all(feature = "wgpu", not(test)))]
        BackendKind::Wgpu => {
            let device = gpu.map_or_else(WgpuDevice::default, WgpuDevice::DiscreteGpu);
            check_wgpu(&device)?;
            Ok(job.run::<Autodiff<Wgpu>>(&device))
        }
        #[cfg(any(not(feature = "wgpu"), test))]
        BackendKind::Wgpu => Err(BackendUnavailable {
            backend: kind,
            reason: "this binary was built without the `wgpu` cargo feature (rebuild with default features)".into(),
        }),
    }
}

#[cfg(all(feature = "wgpu", not(test)))]
/// Starts the wgpu device with one tiny operation. Without an adapter, wgpu
/// panics (on its own thread too); that panic becomes an error here, with
/// the panic messages kept off the terminal.
fn check_wgpu(device: &WgpuDevice) -> Result<(), BackendUnavailable> {
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let started = std::panic::catch_unwind(|| {
        burn::tensor::Tensor::<Wgpu, 1>::zeros([1], device).into_data();
    });
    std::panic::set_hook(previous_hook);
    started.map_err(|_| BackendUnavailable {
        backend: BackendKind::Wgpu,
        reason: "no GPU adapter found (without a GPU, install a software Vulkan driver, e.g. Debian's mesa-vulkan-drivers)".into(),
    })
}
