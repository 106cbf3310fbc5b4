//! Vectorised loops at the CPU's width, chosen at run time.
//!
//! The crate is built for the baseline x86-64 CPU (SSE2: 4 floats per
//! vector), so that one binary runs anywhere. [`simd_dispatch!`] compiles a
//! loop a second time with AVX2 (8 floats) and runs that copy where the CPU
//! has it. Neither copy uses fused multiply-adds (Rust never contracts
//! `a * b + c`), so both give the same numbers, bit for bit; the tests of
//! each loop run both copies ([`on_baseline`]) and compare.

/// Whether [`simd_dispatch!`] may run the AVX2 copy: the CPU has AVX2 and,
/// in tests, the thread is not held to the baseline by [`on_baseline`].
#[inline]
pub(crate) fn avx2_allowed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && !baseline_forced()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
thread_local! {
    static BASELINE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn baseline_forced() -> bool {
    BASELINE_ONLY.with(|only| only.get())
}

#[cfg(not(test))]
#[inline(always)]
fn baseline_forced() -> bool {
    false
}

/// Runs `f` with every [`simd_dispatch!`] on this thread taking the
/// baseline copy, so that a test can compare it with the AVX2 copy.
#[cfg(test)]
pub(crate) fn on_baseline<R>(f: impl FnOnce() -> R) -> R {
    BASELINE_ONLY.with(|only| only.set(true));
    let result = f();
    BASELINE_ONLY.with(|only| only.set(false));
    result
}

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
            if $crate::nn::kernels::simd::avx2_allowed() {
                // SAFETY: the CPU has AVX2 (`avx2_allowed` checked it).
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
