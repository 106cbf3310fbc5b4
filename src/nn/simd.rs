//! Vectorised loops at the CPU's width, chosen at run time.
//!
//! The crate is built for the baseline x86-64 CPU (SSE2: 4 floats per
//! vector), so that one binary runs anywhere. [`simd_dispatch!`] compiles a
//! loop a second time with AVX2 (8 floats) and runs that copy where the CPU
//! has it. Neither copy uses fused multiply-adds (Rust never contracts
//! `a * b + c`), so both give the same numbers, bit for bit.

/// Runs `$call` compiled for AVX2 where the CPU has it, else for the
/// baseline. What it calls must be `#[inline(always)]` (or a loop written
/// in place), so that it is compiled into the AVX2 copy too.
macro_rules! simd_dispatch {
    ($call:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            fn avx2<R>(kernel: impl FnOnce() -> R) -> R {
                kernel()
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2 (checked just above).
                unsafe { avx2(|| $call) }
            } else {
                $call
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $call
        }
    }};
}
pub(crate) use simd_dispatch;
